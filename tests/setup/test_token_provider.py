"""ScaiKeyTokenProvider against a real OAuth2 token endpoint on loopback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from scaigrid_client import InferenceClient, ScaiKeyTokenProvider, errors
from scaigrid_client.testing import FakeScaiGrid
from tests.support.scaikey_stub import SECRET, ScaiKeyStub


def provider(stub: ScaiKeyStub, secret: str = SECRET, **kwargs: float) -> ScaiKeyTokenProvider:
    return ScaiKeyTokenProvider(
        stub.url, client_id="svc-analytics", client_secret=secret, scopes=["scaiinfer"], **kwargs
    )


@pytest.mark.asyncio
async def test_single_flight_and_cache(fake: FakeScaiGrid, scaikey: ScaiKeyStub) -> None:
    scaikey.fake, scaikey.delay = fake, 0.2
    tokens = provider(scaikey)
    got = await asyncio.gather(*(tokens.get_token() for _ in range(10)))
    assert len(set(got)) == 1
    assert len(scaikey.requests) == 1
    assert await tokens.get_token() == got[0]
    assert len(scaikey.requests) == 1
    assert scaikey.requests[0]["scope"] == "scaiinfer"


@pytest.mark.asyncio
async def test_refreshes_before_expiry(fake: FakeScaiGrid, scaikey: ScaiKeyStub) -> None:
    scaikey.fake, scaikey.expires_in = fake, 1.0
    tokens = provider(scaikey, refresh_margin=0.8)
    first = await tokens.get_token()
    await asyncio.sleep(0.3)
    second = await tokens.get_token()
    assert first != second
    assert len(scaikey.requests) == 2


@pytest.mark.asyncio
async def test_used_by_a_client_and_refetched_when_expired(
    fake: FakeScaiGrid, scaikey: ScaiKeyStub
) -> None:
    scaikey.fake, scaikey.expires_in = fake, 0.2
    # A margin of 0 trusts the token to the end; the gateway's clock decides.
    async with InferenceClient(
        fake.target, token=provider(scaikey, refresh_margin=0), tls=False
    ) as client:
        await client.list_models()
        await asyncio.sleep(0.25)
        await client.list_models()
    calls = fake.calls("InferenceService.ListModels")
    sent = [c.metadata["authorization"] for c in calls]
    assert sent[0] == f"Bearer {scaikey.issued[0]}"
    assert sent[-1] == f"Bearer {scaikey.issued[-1]}"
    assert len(scaikey.issued) == 2


@pytest.mark.asyncio
async def test_failures_are_typed_and_secret_free(
    scaikey: ScaiKeyStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = provider(scaikey, secret="wrong-" + SECRET)
    with pytest.raises(errors.TokenProviderError) as info:
        await tokens.get_token()
    assert "401" in str(info.value)
    unreachable = ScaiKeyTokenProvider(
        "http://127.0.0.1:9/token", client_id="svc", client_secret=SECRET, timeout=2
    )
    with pytest.raises(errors.TokenProviderError):
        await unreachable.get_token()
    for text in (str(info.value), repr(info.value), repr(tokens), repr(unreachable), caplog.text):
        assert SECRET not in text


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="token_url"):
        ScaiKeyTokenProvider("ftp://x", client_id="a", client_secret="b")
    with pytest.raises(ValueError, match="client_secret"):
        ScaiKeyTokenProvider("https://scaikey.example/token", client_id="a", client_secret="")

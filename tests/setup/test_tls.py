"""TLS and mTLS: TLSConfig's checks (Hypothesis), the SDK over TLS and mTLS in
both flavours, and verification that fails closed and says why."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from scaigrid_client import InferenceClient, RetryPolicy, TLSConfig, errors
from scaigrid_client.testing import FakeScaiGrid
from tests.support import flavours


@given(
    ca=st.one_of(st.none(), st.binary(max_size=30), st.text(max_size=30)),
    cert=st.one_of(st.none(), st.binary(max_size=30)),
    key=st.one_of(st.none(), st.binary(max_size=30)),
    name=st.one_of(st.none(), st.text(max_size=20)),
)
@settings(max_examples=300, deadline=None)
def test_tls_config_raises_only_documented_errors(
    ca: object, cert: object, key: object, name: object
) -> None:
    try:
        config = TLSConfig(ca_cert=ca, client_cert=cert, client_key=key, server_name=name)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return
    assert "PRIVATE" not in repr(config)


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
@pytest.mark.parametrize("mtls", [False, True])
async def test_sdk_over_tls(mtls: bool, flavour: str) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=mtls) as fake:
        tls = fake.client_tls()
        async with flavours.client(
            flavour, "InferenceClient", fake.target, token=fake.token, tls=tls
        ) as client:
            assert len(await client.list_models()) == 3
        # Verification is on by default: the system roots do not know the fake's CA.
        async with flavours.client(
            flavour, "InferenceClient", fake.target, token=fake.token, timeout=5
        ) as client:
            with pytest.raises(errors.TLSVerificationError) as info:
                await client.list_models()
            assert info.value.reason == "unknown_ca"
        if mtls:
            no_cert = TLSConfig(ca_cert=tls.ca_cert, server_name="localhost")
            async with flavours.client(
                flavour,
                "InferenceClient",
                fake.target,
                token=fake.token,
                tls=no_cert,
                retry=RetryPolicy(max_attempts=1),
            ) as client:
                with pytest.raises(errors.TLSVerificationError) as info:
                    await client.list_models()
                assert info.value.reason == "client_cert_required"


@pytest.mark.asyncio
async def test_tls_fails_closed_and_says_why() -> None:
    import trustme

    async with FakeScaiGrid(tls=True) as fake:
        ca = fake.client_tls().ca_cert
        # (grpcio < 1.78 words a host name mismatch "Peer name ... is not in
        # peer certificate"; errors.py knows both texts)
        cases = {
            "unknown_ca": dict(ca_cert=trustme.CA().cert_pem.bytes(), server_name="localhost"),
            "hostname_mismatch": dict(ca_cert=ca, server_name="gateway.example.com"),
        }
        for reason, settings in cases.items():
            from scaigrid_client import TLSConfig

            tls = TLSConfig(**settings)  # type: ignore[arg-type]
            async with InferenceClient(
                fake.target, token=fake.token, tls=tls, timeout=10
            ) as client:
                with pytest.raises(errors.TLSVerificationError) as info:
                    await client.list_models()
            assert info.value.reason == reason
            assert info.value.message.startswith("TLS: ")
            assert info.value.attempts == 1  # a bad certificate is not retried
            assert fake.token not in str(info.value)
        assert fake.calls() == []
    async with FakeScaiGrid() as plaintext:
        async with InferenceClient(plaintext.target, token=plaintext.token, timeout=10) as client:
            with pytest.raises(errors.TLSVerificationError) as info:
                await client.list_models()
        assert info.value.reason == "not_tls"


@pytest.mark.asyncio
async def test_mtls_refuses_a_certificate_from_another_ca() -> None:
    import trustme

    from scaigrid_client import TLSConfig

    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        stranger = trustme.CA().issue_cert("client")
        tls = TLSConfig(
            ca_cert=fake.client_tls().ca_cert,
            client_cert=stranger.cert_chain_pems[0].bytes(),
            client_key=stranger.private_key_pem.bytes(),
            server_name="localhost",
        )
        once = RetryPolicy(max_attempts=1)
        async with InferenceClient(fake.target, token=fake.token, tls=tls, retry=once) as client:
            with pytest.raises(errors.UnavailableError):
                await client.list_models()
        assert fake.calls() == []

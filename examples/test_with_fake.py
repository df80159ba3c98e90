"""An integration test of your own code, run against the bundled fake.

    pytest examples/test_with_fake.py

The `scaigrid_fake` fixture comes with the package (a pytest plugin): a
running fake with fresh state for each test, on its own thread, so sync
tests of sync code use it too (the last test here).
"""

from __future__ import annotations

import grpc
import pytest

from scaigrid_client import InferenceClient, errors, sync
from scaigrid_client.testing import FakeScaiGrid


async def summarize(client: InferenceClient, text: str) -> str:
    """The code under test: one chat call."""
    reply = await client.infer(
        model="scailabs/poolnoodle-omni",
        messages=[{"role": "user", "content": f"Summarize: {text}"}],
        max_tokens=8,
    )
    return reply.content


@pytest.mark.asyncio
async def test_summarize(scaigrid_fake: FakeScaiGrid) -> None:
    async with InferenceClient(
        scaigrid_fake.target, token=scaigrid_fake.token, tls=False
    ) as client:
        summary = await summarize(client, "a long text")
    assert len(summary.split()) == 8
    (call,) = scaigrid_fake.calls("InferenceService.Infer")
    assert call.request.messages[0].content == "Summarize: a long text"  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_summarize_survives_a_blip(scaigrid_fake: FakeScaiGrid) -> None:
    scaigrid_fake.fail("InferenceService.Infer", grpc.StatusCode.UNAVAILABLE, times=2)
    retry = scaigrid_fake.retry_policy()  # the default, with millisecond backoff
    async with InferenceClient(
        scaigrid_fake.target, token=scaigrid_fake.token, tls=False, retry=retry
    ) as client:
        assert await summarize(client, "text")
    assert len(scaigrid_fake.calls("InferenceService.Infer")) == 3


@pytest.mark.asyncio
async def test_summarize_reports_rate_limits(scaigrid_fake: FakeScaiGrid) -> None:
    scaigrid_fake.fail(
        "InferenceService.Infer", grpc.StatusCode.RESOURCE_EXHAUSTED, code="quota_exhausted"
    )
    async with InferenceClient(
        scaigrid_fake.target, token=scaigrid_fake.token, tls=False
    ) as client:
        with pytest.raises(errors.QuotaExhaustedError):
            await summarize(client, "text")


def summarize_blocking(client: sync.InferenceClient, text: str) -> str:
    """The same code under test, written for the sync clients."""
    reply = client.infer(
        model="scailabs/poolnoodle-omni",
        messages=[{"role": "user", "content": f"Summarize: {text}"}],
        max_tokens=8,
    )
    return reply.content


def test_summarize_blocking(scaigrid_fake: FakeScaiGrid) -> None:
    scaigrid_fake.fail("InferenceService.Infer", grpc.StatusCode.UNAVAILABLE)
    with sync.InferenceClient(
        scaigrid_fake.target,
        token=scaigrid_fake.token,
        tls=False,
        retry=scaigrid_fake.retry_policy(),
    ) as client:
        assert len(summarize_blocking(client, "text").split()) == 8
    assert len(scaigrid_fake.calls("InferenceService.Infer")) == 2

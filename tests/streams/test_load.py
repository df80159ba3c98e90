"""Streams under load: 2 GiB through one stream in bounded memory, a thousand
concurrent streams with every chunk once and in order, abandoned streams that
leak nothing."""

from __future__ import annotations

import asyncio
import gc
import pathlib
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from scaigrid_client import InferenceClient, RetryPolicy, ScaiGrid, ServerStream
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer
from tests.support.standalone import Standalone

OMNI = "scailabs/poolnoodle-omni"
HI = [{"role": "user", "content": "Hi"}]
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
TOKEN = "sgst_reliability_suite"
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def grid(fake: FakeScaiGrid) -> AsyncIterator[ScaiGrid]:
    async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as client:
        yield client


@pytest.mark.slow
async def test_two_gib_streamed_output() -> None:
    total = 2 << 30
    with Standalone(TOKEN) as gateway:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False) as client:
            received = chunks = 0
            rss_before = _rss()
            async for chunk in client.stream_inference(model=OMNI, messages=HI, binary_bytes=total):
                received += len(chunk.data)
                chunks += 1
            grew = _rss() - rss_before
    assert received == total
    assert chunks == 2049  # 2048 chunks of 1 MiB, and the last with usage
    assert grew < 256 << 20  # nothing holds the output: growth is buffers, not 2 GiB


def _rss() -> int:
    import os

    statm = pathlib.Path("/proc/self/statm").read_text().split()
    return int(statm[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
async def test_thousand_streams_of_a_hundred_chunks() -> None:
    with Standalone(TOKEN) as gateway:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False) as client:

            async def one(prompt: str) -> list[scaiinfer.StreamInferenceResponse]:
                messages = [{"role": "user", "content": prompt}]
                return [
                    c
                    async for c in client.stream_inference(
                        model=OMNI, messages=messages, max_tokens=100
                    )
                ]

            prompts = [f"prompt {i % 50}" for i in range(1000)]
            results = await asyncio.gather(*(one(p) for p in prompts), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    reference: dict[str, str] = {}
    for prompt, chunks in zip(prompts, results, strict=True):
        assert isinstance(chunks, list)
        assert [c.index for c in chunks] == list(range(101))  # none lost, none twice
        text = "".join(c.delta.content for c in chunks)
        assert reference.setdefault(prompt, text) == text  # and in order


async def test_abandoned_streams_leak_nothing(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.token_interval = 0.005
    tasks_before = len(asyncio.all_tasks())
    for _ in range(100):
        async for _chunk in grid.inference.stream_inference(
            model=OMNI, messages=HI, max_tokens=1000
        ):
            break
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, ServerStream)]
    calls = fake.calls("InferenceService.StreamInference")
    for _ in range(200):
        if all(c.ended is not None for c in calls):
            break
        await asyncio.sleep(0.01)
    assert {c.status for c in calls} == {grpc.StatusCode.CANCELLED}
    assert max(c.messages for c in calls) < 100
    for _ in range(200):  # the server's handler tasks end just after their calls
        if len(asyncio.all_tasks()) == tasks_before:
            break
        await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == tasks_before
    # The channel is the same one, and still serves.
    assert len(await grid.inference.list_models()) == 3

"""Resumable streams dropped again and again, or all at once, continue exactly
where they were: every event once, in order. Every fault is injected
deterministically (seeded)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from scaigrid_client import RetryPolicy, ScaiGrid, ServerStream
from scaigrid_client.testing import FakeScaiGrid

OMNI = "scailabs/poolnoodle-omni"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def grid(fake: FakeScaiGrid) -> AsyncIterator[ScaiGrid]:
    async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as client:
        yield client


async def _events_until(stream: ServerStream, last: int) -> list[int]:  # type: ignore[type-arg]
    seen = []
    async with stream:
        async for event in stream:
            seen.append(event.sequence)
            if event.sequence >= last:
                break
    return seen


async def test_event_stream_dropped_20_times_is_exactly_1_to_n(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    await asyncio.gather(*(grid.core.invoke_core(core_id="c") for _ in range(149)))
    total = 150  # one activation, 149 invocations
    rng = random.Random(20261126)
    for _ in range(20):
        fake.fail(
            "CoreRuntimeService.StreamEvents",
            grpc.StatusCode.UNAVAILABLE,
            code=rng.choice(["backend_unavailable", "service_draining"]),
            after_messages=rng.randint(1, 12),
        )
    seen = await asyncio.wait_for(_events_until(grid.core.stream_events("c"), total), 30)
    assert seen == list(range(1, total + 1))
    assert len(fake.calls("CoreRuntimeService.StreamEvents")) == 21


async def test_metrics_stream_dropped_20_times_is_exactly_1_to_n(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    rng = random.Random(7)
    for _ in range(20):
        fake.fail(
            "CoordinatorService.StreamMetrics",
            grpc.StatusCode.UNAVAILABLE,
            after_messages=rng.randint(1, 8),
        )
    job = await grid.coordinator.submit_job(name="drops", base_model=OMNI, gpus=1, max_steps=200)
    steps = [p.step async for p in grid.coordinator.stream_metrics(job.id)]
    assert steps == list(range(1, 201))
    assert len(fake.calls("CoordinatorService.StreamMetrics")) == 21


async def test_every_stream_dropped_at_once_continues(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    for core in ("a", "b", "c"):
        await grid.core.invoke_core(core_id=core)  # events 1 and 2
    job = await grid.coordinator.submit_job(name="j", base_model=OMNI, gpus=1, max_steps=120)
    tails = [
        asyncio.create_task(_events_until(grid.core.stream_events(core), 6))
        for core in ("a", "b", "c")
        for _ in range(2)
    ]
    metrics = [asyncio.create_task(_collect_steps(grid, job.id)) for _ in range(3)]

    def streaming(method: str, at_least: int) -> int:
        return len([c for c in fake.calls(method) if c.messages >= at_least and c.ended is None])

    while (
        streaming("CoreRuntimeService.StreamEvents", 2) < 6
        or streaming("CoordinatorService.StreamMetrics", 1) < 3
    ):
        await asyncio.sleep(0.005)
    assert fake.drop_streams(code="service_draining") == 9
    for core in ("a", "b", "c"):
        for _ in range(4):
            await grid.core.invoke_core(core_id=core)  # events 3..6, after the drop
    for tail in tails:
        assert await asyncio.wait_for(tail, 10) == [1, 2, 3, 4, 5, 6]
    for steps in metrics:
        assert await asyncio.wait_for(steps, 10) == list(range(1, 121))


async def _collect_steps(grid: ScaiGrid, job_id: str) -> list[int]:
    return [p.step async for p in grid.coordinator.stream_metrics(job_id)]

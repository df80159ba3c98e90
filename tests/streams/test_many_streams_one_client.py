"""Many resumable streams on one client: drops and resets are one event each,
not one failure per stream; the retry budget still guards unary calls."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

import grpc
import pytest

from scaigrid_client import Keepalive, RetryEvent, RetryPolicy, ScaiGrid, errors
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore
from tests.support import h2_reset_proxy
from tests.support.h2_reset_proxy import ResetProxy


async def _tail(grid: ScaiGrid, core_id: str, last: int, seen: list[int]) -> None:
    async with grid.core.stream_events(core_id) as stream:
        async for event in stream:
            seen.append(event.sequence)
            if event.sequence >= last:
                return


async def _invoke(grid: ScaiGrid, core_ids: list[str], times: int) -> None:
    for _ in range(times):
        await asyncio.gather(*(grid.core.invoke_core(core_id=c) for c in core_ids))


@pytest.mark.serial
@pytest.mark.asyncio
async def test_many_tails_ride_out_repeated_drops_without_spending_the_budget() -> None:
    resumes: list[RetryEvent] = []
    policy = RetryPolicy(initial_backoff=0.05, max_backoff=0.2, on_retry=resumes.append)
    cores = [f"core-{i}" for i in range(10)]
    async with (
        FakeScaiGrid() as fake,
        ScaiGrid(fake.target, token=fake.token, tls=False, retry=policy, timeout=10) as grid,
    ):
        await _invoke(grid, cores, 2)  # events 1..3 on each core
        seen: dict[int, list[int]] = {i: [] for i in range(200)}
        tails = [asyncio.ensure_future(_tail(grid, cores[i % 10], 12, seen[i])) for i in range(200)]
        while min(len(s) for s in seen.values()) < 3:
            await asyncio.sleep(0.01)
        # Two drops while the tails are idle (the second as soon as tails are
        # back: 0.3 s, or longer on a busy machine), then more events, then a
        # third drop while they flow.
        assert fake.drop_streams() == 200
        await asyncio.sleep(0.3)
        dropped_again = fake.drop_streams()
        for _ in range(100):
            if dropped_again:
                break
            await asyncio.sleep(0.1)
            dropped_again = fake.drop_streams()
        assert dropped_again > 0
        await _invoke(grid, cores, 4)
        fake.drop_streams()
        await _invoke(grid, cores, 5)
        await asyncio.wait_for(asyncio.gather(*tails), 30)
        for sequences in seen.values():
            assert sequences == list(range(1, 13))
        # The budget is untouched: a unary call that meets one UNAVAILABLE
        # is still retried.
        budget = grid._transport._budget
        assert budget.tokens == budget.max_tokens
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE)
        assert len(await grid.inference.list_models()) == 3
    assert len(resumes) >= 400
    assert all(e.method == "CoreRuntimeService.StreamEvents" for e in resumes[:-1])


@pytest.mark.parametrize(
    ("error_code", "status"),
    [
        (h2_reset_proxy.INTERNAL_ERROR, grpc.StatusCode.INTERNAL),
        (h2_reset_proxy.CANCEL, grpc.StatusCode.CANCELLED),
        (h2_reset_proxy.REFUSED_STREAM, grpc.StatusCode.UNAVAILABLE),
    ],
)
@pytest.mark.asyncio
async def test_a_proxys_rst_stream_resumes_the_tail(
    error_code: int, status: grpc.StatusCode
) -> None:
    resumes: list[RetryEvent] = []
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, on_retry=resumes.append)
    async with FakeScaiGrid() as fake:
        port = int(fake.target.rsplit(":", 1)[1])
        async with (
            ResetProxy(port) as proxy,
            ScaiGrid(proxy.target, token=fake.token, tls=False, retry=policy) as grid,
        ):
            await _invoke(grid, ["c"], 19)  # events 1..20
            proxy.reset(after_data_frames=3, error_code=error_code)
            proxy.reset(after_data_frames=4, error_code=error_code)
            seen: list[int] = []
            await asyncio.wait_for(_tail(grid, "c", 20, seen), 20)
            assert seen == list(range(1, 21))
            assert proxy.resets_sent == 2
    assert [e.status for e in resumes] == [status, status]
    resumed_after = [
        c.request.after_sequence for c in fake.calls("CoreRuntimeService.StreamEvents")
    ]  # type: ignore[attr-defined]
    assert resumed_after[0] == 0
    assert resumed_after == sorted(resumed_after)
    assert len(resumed_after) == 3


@pytest.mark.asyncio
async def test_the_gateways_own_errors_still_end_a_tail() -> None:
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    async with (
        FakeScaiGrid() as fake,
        ScaiGrid(fake.target, token=fake.token, tls=False, retry=policy) as grid,
    ):
        await _invoke(grid, ["c"], 5)
        fake.fail(
            "CoreRuntimeService.StreamEvents",
            grpc.StatusCode.INTERNAL,
            code="internal_error",
            message="the core crashed",
            after_messages=2,
        )
        seen: list[int] = []
        with pytest.raises(errors.InternalError) as info:
            await _tail(grid, "c", 6, seen)
        assert seen == [1, 2]
        assert info.value.code == "internal_error"


@pytest.mark.asyncio
async def test_client_timeout_is_for_unary_calls_only() -> None:
    async with (
        FakeScaiGrid() as fake,
        ScaiGrid(fake.target, token=fake.token, tls=False, timeout=0.3) as grid,
    ):
        await grid.core.invoke_core(core_id="c")  # events 1, 2
        seen: list[int] = []
        tail = asyncio.ensure_future(_tail(grid, "c", 7, seen))
        for _ in range(5):  # 1 s in all, past the client's 0.3 s
            await asyncio.sleep(0.2)
            await grid.core.invoke_core(core_id="c")
        await asyncio.wait_for(tail, 5)
        assert seen == list(range(1, 8))
        # A stream's own timeout= still applies.
        with pytest.raises(errors.DeadlineExceededError, match="timeout= of this call"):
            await _tail_with_timeout(grid)
        fake.delay("InferenceService.ListModels", seconds=1)
        with pytest.raises(errors.DeadlineExceededError, match="client's default"):
            await grid.inference.list_models()


async def _tail_with_timeout(grid: ScaiGrid) -> None:
    async for _ in grid.core.stream_events("c", after_sequence=7, timeout=0.3):
        pass


@pytest.mark.asyncio
async def test_budget_stop_says_so_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, budget_max_tokens=10)
    async with (
        FakeScaiGrid() as fake,
        ScaiGrid(fake.target, token=fake.token, tls=False, retry=policy) as grid,
    ):
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=1000)
        caught: list[errors.UnavailableError] = []
        with caplog.at_level(logging.WARNING, logger="scaigrid_client"):
            for _ in range(6):
                with pytest.raises(errors.UnavailableError) as info:
                    await grid.inference.list_models()
                caught.append(info.value)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "retry budget spent" in warnings[0].getMessage()
        assert caught[0].attempts == 5 and "budget" not in caught[0].message
        assert "retry budget is spent" in caught[-1].message
        assert "retry budget is spent" in str(caught[-1])


def test_keepalive_settings() -> None:
    assert dict(Keepalive(interval=10, timeout=2).channel_options())["grpc.keepalive_time_ms"] == (
        10_000
    )
    for bad in ({"interval": 0}, {"timeout": -1}, {"interval": "1"}):
        with pytest.raises(ValueError, match="Keepalive"):
            Keepalive(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keepalive"):
        ScaiGrid("localhost", token="x", keepalive=30)  # type: ignore[arg-type]
    ScaiGrid("localhost", token="x", keepalive=None)


@pytest.mark.asyncio
async def test_a_resume_against_a_reset_history_fails_instead_of_skipping() -> None:
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    async with (
        FakeScaiGrid() as fake,
        ScaiGrid(fake.target, token=fake.token, tls=False, retry=policy) as grid,
    ):
        await _invoke(grid, ["c"], 2)  # events 1..3
        seen: list[int] = []
        epochs: set[str] = set()

        async def tail() -> None:
            async for event in grid.core.stream_events("c"):
                seen.append(event.sequence)
                epochs.add(event.epoch)

        task = asyncio.ensure_future(tail())
        while len(seen) < 3:
            await asyncio.sleep(0.01)
        (epoch,) = epochs
        assert epoch
        # The gateway loses its state: a restart without a state dir.
        fake.reset()
        await _invoke(grid, ["c"], 5)  # the new history: events 1..6
        fake.drop_streams()
        with pytest.raises(errors.HistoryResetError) as info:
            await asyncio.wait_for(task, 10)
        assert isinstance(info.value, errors.FailedPreconditionError)
        assert info.value.code == "history_reset"
        assert seen == [1, 2, 3]  # nothing skipped, nothing repeated
        last = fake.calls("CoreRuntimeService.StreamEvents")[-1].request
        assert (last.after_sequence, last.epoch) == (3, epoch)  # type: ignore[attr-defined]

        # A saved cursor: right epoch resumes, stale epoch is refused.
        new_epoch = fake.state.events["c"][0].epoch
        assert new_epoch != epoch
        fresh = [e.sequence async for e in _until(grid, "c", 4, new_epoch, 6)]
        assert fresh == [5, 6]
        with pytest.raises(errors.HistoryResetError):
            [e async for e in _until(grid, "c", 4, epoch, 6)]


async def _until(
    grid: ScaiGrid, core_id: str, after: int, epoch: str, last: int
) -> AsyncIterator[scaicore.StreamEventsResponse]:
    async for event in grid.core.stream_events(core_id, after_sequence=after, epoch=epoch):
        yield event
        if event.sequence >= last:
            return


@pytest.mark.asyncio
async def test_closing_the_client_ends_its_streams_typed() -> None:
    async with FakeScaiGrid() as fake:
        grid = ScaiGrid(fake.target, token=fake.token, tls=False)
        await grid.core.invoke_core(core_id="c")
        seen: list[int] = []
        tail = asyncio.ensure_future(_tail(grid, "c", 100, seen))
        while len(seen) < 2:
            await asyncio.sleep(0.01)
        await grid.close()
        # Ended by close() itself: not waited out (wait_for would cancel it).
        await asyncio.wait([tail], timeout=5)
        assert tail.done(), "the stream was still open 5 s after close()"
        with pytest.raises(errors.CallCancelledError, match="client was closed") as info:
            tail.result()
        assert not isinstance(info.value, asyncio.CancelledError)  # 1.0: not asyncio's


@pytest.mark.asyncio
async def test_closing_the_client_ends_a_stream_on_another_threads_loop() -> None:
    async with FakeScaiGrid() as fake:
        grid = ScaiGrid(fake.target, token=fake.token, tls=False)
        await grid.core.invoke_core(core_id="c")
        seen: list[int] = []
        outcome: list[BaseException] = []

        def reader() -> None:  # the client on this thread's own loop
            try:
                asyncio.run(_tail(grid, "c", 100, seen))
            except BaseException as exc:  # what ended it is the check
                outcome.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        while len(seen) < 2:
            await asyncio.sleep(0.01)
        await grid.close()
        await asyncio.to_thread(thread.join, 5)
        assert not thread.is_alive(), "the stream was still open 5 s after close()"
        assert len(outcome) == 1
        assert isinstance(outcome[0], errors.CallCancelledError), repr(outcome[0])
        assert "client was closed" in str(outcome[0])


@pytest.mark.asyncio
async def test_a_metrics_resume_against_a_reset_history_fails() -> None:
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    async with (
        FakeScaiGrid(step_interval=0.02) as fake,
        ScaiGrid(fake.target, token=fake.token, tls=False, retry=policy) as grid,
    ):
        job = await grid.coordinator.submit_job(
            name="ft", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=500
        )
        steps: list[int] = []
        with pytest.raises(errors.HistoryResetError):
            async for point in grid.coordinator.stream_metrics(job.id):
                steps.append(point.step)
                if point.step == 3:
                    fake.reset()  # the gateway loses its state (and drops the stream)
        assert steps == [1, 2, 3]

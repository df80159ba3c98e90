"""Cases: event and metric histories: sequences from 1 without gaps,
``after_*`` cursors exclusive, and a cursor from another history refused."""

from __future__ import annotations

import grpc

from scaigrid_client import errors
from scaigrid_client._conformance._checks import expect, expect_equal, expect_error
from scaigrid_client._conformance._context import Context
from scaigrid_client._conformance._fixtures import JOB_STEPS, events_core, finished_job
from scaigrid_client._conformance._registry import ANY_GATEWAY, case
from scaigrid_client.v1 import scaicore, scaimind

_STALE_EPOCH = "conformance-stale-epoch"


async def _events(
    ctx: Context, core_id: str, after: int = 0, epoch: str = ""
) -> list[scaicore.StreamEventsResponse]:
    """The core's events after ``after``, up to its last sequence now."""
    last = (await ctx.grid.core.get_core(core_id)).last_sequence
    events: list[scaicore.StreamEventsResponse] = []
    if last <= after:
        return events
    async with ctx.grid.core.stream_events(core_id, after_sequence=after, epoch=epoch) as stream:
        async for event in stream:
            events.append(event)
            if event.sequence >= last:
                break
    return events


@case("events_contiguous", where=ANY_GATEWAY, writes=True)
async def events_contiguous(ctx: Context) -> None:
    """StreamEvents from the start: sequences 1, 2, 3, ... without gaps, one
    epoch, the core's id, ACTIVATED first."""
    core_id = await events_core(ctx)
    events = await _events(ctx, core_id)
    expect_equal(
        "the events' sequences", list(range(1, len(events) + 1)), [e.sequence for e in events]
    )
    epochs = sorted({e.epoch for e in events})
    expect(len(epochs) == 1 and bool(epochs[0]), "the events' epochs", "one, non-empty", epochs)
    expect_equal("the events' core_id", [core_id], sorted({e.core_id for e in events}))
    first = scaicore.EventType.Name(events[0].type)
    expect_equal("the first event's type", "EVENT_TYPE_ACTIVATED", first)


@case("events_after_sequence", where=ANY_GATEWAY, writes=True)
async def events_after_sequence(ctx: Context) -> None:
    """StreamEvents with after_sequence=2 and its epoch: starts at 3 (exclusive), no gap."""
    core_id = await events_core(ctx)
    epoch = (await _events(ctx, core_id))[0].epoch
    events = await _events(ctx, core_id, after=2, epoch=epoch)
    sequences = [e.sequence for e in events]
    expect_equal("the sequences after_sequence=2", list(range(3, 3 + len(sequences))), sequences)
    expect(bool(sequences), "events after 2", "at least one", sequences)


@case("events_history_reset", where=ANY_GATEWAY, writes=True)
async def events_history_reset(ctx: Context) -> None:
    """StreamEvents with a cursor from another epoch: FAILED_PRECONDITION,
    history_reset (errors.HistoryResetError); never a silent skip or repeat."""
    core_id = await events_core(ctx)
    stream = ctx.grid.core.stream_events(core_id, after_sequence=2, epoch=_STALE_EPOCH)
    error = await expect_error(
        "StreamEvents (stale epoch)",
        stream.__anext__(),
        grpc.StatusCode.FAILED_PRECONDITION,
        "history_reset",
    )
    await stream.aclose()
    expect(
        isinstance(error, errors.HistoryResetError),
        "the SDK's error class",
        "HistoryResetError",
        type(error).__name__,
    )


@case("metrics_contiguous", where=ANY_GATEWAY, writes=True)
async def metrics_contiguous(ctx: Context) -> None:
    """StreamMetrics of a job to its end: steps 1..max_steps without gaps, one
    epoch, the stream ending when the job SUCCEEDED."""
    done = await finished_job(ctx)
    steps = [p.step for p in done.points]
    expect_equal("the points' steps", list(range(1, JOB_STEPS + 1)), steps)
    epochs = sorted({p.epoch for p in done.points})
    expect(len(epochs) == 1 and bool(epochs[0]), "the points' epochs", "one, non-empty", epochs)
    expect_equal(
        "the job's state when its stream ended",
        "JOB_STATE_SUCCEEDED",
        scaimind.JobState.Name(done.job.state),
    )


@case("metrics_after_step", where=ANY_GATEWAY, writes=True)
async def metrics_after_step(ctx: Context) -> None:
    """StreamMetrics of a finished job with after_step=1 and its epoch: steps
    2..max_steps (exclusive), then the stream ends."""
    done = await finished_job(ctx)
    stream = ctx.grid.coordinator.stream_metrics(
        done.job.id, after_step=1, epoch=done.points[0].epoch
    )
    async with stream:
        steps = [point.step async for point in stream]
    expect_equal("the steps after_step=1", list(range(2, JOB_STEPS + 1)), steps)


@case("metrics_history_reset", where=ANY_GATEWAY, writes=True)
async def metrics_history_reset(ctx: Context) -> None:
    """StreamMetrics with a cursor from another epoch: FAILED_PRECONDITION, history_reset."""
    done = await finished_job(ctx)
    stream = ctx.grid.coordinator.stream_metrics(done.job.id, after_step=1, epoch=_STALE_EPOCH)
    await expect_error(
        "StreamMetrics (stale epoch)",
        stream.__anext__(),
        grpc.StatusCode.FAILED_PRECONDITION,
        "history_reset",
    )
    await stream.aclose()

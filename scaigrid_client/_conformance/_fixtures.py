"""Fixtures several cases share, made once per run under the run's names
and undone when it ends: a core with a known event history, a finished
training job with its metric points, a registered node, a streamed reply."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from scaigrid_client import errors
from scaigrid_client._conformance._context import Context
from scaigrid_client.v1 import scaicore, scaiinfer, scaimind

__all__ = ["Streamed", "chat_stream", "events_core", "finished_job", "gpu_node"]

EVENTS = 5  # the events core's history: activated, invoked, passivated, restored, invoked
JOB_STEPS = 3
PROMPT = [{"role": "user", "content": "Describe a GPU cluster in a few sentences."}]


async def _passivate(ctx: Context, core_id: str) -> None:
    core = await ctx.grid.core.get_core(core_id)
    if core.state == scaicore.CORE_STATE_ACTIVE:
        await ctx.grid.core.passivate_core(core_id)


async def _make_events_core(ctx: Context) -> str:
    core_id = ctx.name("events")
    ctx.on_cleanup(lambda: _passivate(ctx, core_id))
    core = ctx.grid.core
    await core.invoke_core(core_id, payload={"conformance": "events"})
    await core.passivate_core(core_id)
    await core.restore_core(core_id)
    await core.invoke_core(core_id, payload={"conformance": "events"})
    return core_id


async def events_core(ctx: Context) -> str:
    """A core of this run with a history of ``EVENTS`` events (it is left
    passivated at the end of the run)."""
    core_id: str = await ctx.shared("events_core", _make_events_core)
    return core_id


@dataclass(frozen=True)
class FinishedJob:
    job: scaimind.Job
    points: list[scaimind.StreamMetricsResponse]


async def _cancel(ctx: Context, job_id: str) -> None:
    with contextlib.suppress(errors.FailedPreconditionError):  # finished already
        await ctx.grid.coordinator.cancel_job(job_id)


async def _make_finished_job(ctx: Context) -> FinishedJob:
    job = await ctx.grid.coordinator.submit_job(
        name=ctx.name("metrics"), base_model=await ctx.chat_model(), gpus=1, max_steps=JOB_STEPS
    )
    ctx.on_cleanup(lambda: _cancel(ctx, job.id))
    points = [point async for point in ctx.grid.coordinator.stream_metrics(job.id)]
    return FinishedJob(await ctx.grid.coordinator.get_job(job.id), points)


async def finished_job(ctx: Context) -> FinishedJob:
    """A job of ``JOB_STEPS`` steps, followed to its end: the job as it ended
    and the metric points its stream delivered."""
    job: FinishedJob = await ctx.shared("finished_job", _make_finished_job)
    return job


async def _make_node(ctx: Context) -> scaimind.Node:
    return await ctx.grid.cluster.register_node(
        node_id=ctx.name("node"),
        gpus=2,
        gpu_type=ctx.name("gpu"),
        labels={"conformance": ctx.run_id},
    )


async def gpu_node(ctx: Context) -> scaimind.Node:
    """A node of this run with 2 GPUs of a type only it has (``ctx.name("gpu")``).
    The API has no way to remove a node: it stays registered."""
    node: scaimind.Node = await ctx.shared("gpu_node", _make_node)
    return node


@dataclass(frozen=True)
class Streamed:
    chunks: list[scaiinfer.StreamInferenceResponse]
    request_id: str
    initial_metadata: tuple[Any, ...]


async def _make_chat_stream(ctx: Context) -> Streamed:
    stream = ctx.grid.inference.stream_inference(model=await ctx.chat_model(), messages=PROMPT)
    async with stream:
        chunks = [chunk async for chunk in stream]
        metadata = tuple(await stream.initial_metadata())
    return Streamed(chunks, stream.request_id, metadata)


async def chat_stream(ctx: Context) -> Streamed:
    """One streamed chat reply, read to its end."""
    streamed: Streamed = await ctx.shared("chat_stream", _make_chat_stream)
    return streamed

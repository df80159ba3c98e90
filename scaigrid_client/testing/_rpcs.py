"""The fake gateway's RPCs: domain logic only.

Auth, faults, delays, the journal, idempotency and error trailers are done
once, around every RPC, in `_dispatch`. Unary RPCs here are
``async (fake, request) -> response``; server streams are async generators
``(fake, request, stream) -> responses`` that check ``stream.dropped``.
``fake`` is a `Gateway`: the running fake, as far as an RPC needs it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, TypeVar

from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._faults import OpenStream
from scaigrid_client.testing._state._backend import FakeBackend
from scaigrid_client.testing._state._coordinator import TERMINAL_JOB_STATES

_T = TypeVar("_T")


class Gateway(Protocol):
    """What an RPC sees of the fake (FakeScaiGrid is one)."""

    @property
    def _domain(self) -> FakeBackend: ...

    token_interval: float


RPCS: dict[str, Callable[..., Any]] = {}


def rpc(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        RPCS[name] = fn
        return fn

    return register


def _check_dropped(stream: OpenStream) -> None:
    if stream.dropped is not None:
        raise stream.dropped


async def _replay_and_follow(
    fake: Gateway,
    stream: OpenStream,
    items: Sequence[_T],
    after: int,
    finished: Callable[[], bool] = lambda: False,
) -> AsyncIterator[_T]:
    """Yield ``items[after:]``, then each item appended later, until
    ``finished()`` (checked once all items are sent) or the stream is dropped.
    ``items[i]`` is numbered ``i + 1``, so ``after`` is the last number seen."""
    backend = fake._domain
    sent = after
    while True:
        _check_dropped(stream)
        changed = backend.ledger.changed()
        while sent < len(items):
            yield items[sent]
            sent += 1
        if finished():
            return
        await changed.wait()


# -- scaiinfer.v1 -----------------------------------------------------------------


@rpc("InferenceService.ListModels")
async def list_models(
    fake: Gateway, request: scaiinfer.ListModelsRequest
) -> scaiinfer.ListModelsResponse:
    return scaiinfer.ListModelsResponse(
        models=fake._domain.inference.list_models(request.capability)
    )


@rpc("InferenceService.StreamInference")
async def stream_inference(
    fake: Gateway, request: scaiinfer.InferenceRequest, stream: OpenStream
) -> AsyncIterator[scaiinfer.StreamInferenceResponse]:
    backend = fake._domain
    completion_id = "cmpl-" + secrets.token_hex(8)
    chunk = scaiinfer.StreamInferenceResponse
    index = 0
    if request.response_format == scaiinfer.RESPONSE_FORMAT_BINARY:
        total = 0
        for data in backend.inference.binary_chunks(request):
            _check_dropped(stream)
            yield chunk(id=completion_id, index=index, data=data, model=request.model)
            index += 1
            total += len(data)
        usage = scaiinfer.Usage(output_bytes=total)
        yield chunk(
            id=completion_id,
            index=index,
            model=request.model,
            finish_reason=scaiinfer.FINISH_REASON_STOP,
            usage=usage,
        )
        return
    tokens, finish, prompt_tokens = backend.inference.reply(request)
    interval = fake.token_interval
    for token in tokens:
        _check_dropped(stream)
        if interval:
            await asyncio.sleep(interval)
        delta = scaiinfer.Delta(role="assistant" if index == 0 else "", content=token)
        yield chunk(id=completion_id, index=index, delta=delta, model=request.model)
        index += 1
    usage = scaiinfer.Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=len(tokens),
        total_tokens=prompt_tokens + len(tokens),
    )
    yield chunk(
        id=completion_id,
        index=index,
        delta=scaiinfer.Delta(),
        model=request.model,
        finish_reason=finish,  # type: ignore[arg-type]
        usage=usage,
    )


@rpc("InferenceService.Infer")
async def infer(fake: Gateway, request: scaiinfer.InferRequest) -> scaiinfer.InferResponse:
    tokens, finish, prompt_tokens = fake._domain.inference.reply(request)
    return scaiinfer.InferResponse(
        id="cmpl-" + secrets.token_hex(8),
        model=request.model,
        message=scaiinfer.ChatMessage(role="assistant", content="".join(tokens)),
        finish_reason=finish,  # type: ignore[arg-type]
        usage=scaiinfer.Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=len(tokens),
            total_tokens=prompt_tokens + len(tokens),
        ),
    )


@rpc("InferenceService.Embed")
async def embed(fake: Gateway, request: scaiinfer.EmbedRequest) -> scaiinfer.EmbedResponse:
    return fake._domain.inference.embed(request)


@rpc("HeartbeatService.Heartbeat")
async def heartbeat(
    fake: Gateway, request: scaiinfer.HeartbeatRequest
) -> scaiinfer.HeartbeatResponse:
    return fake._domain.heartbeat.heartbeat(request)


# -- scaimind.v1 --------------------------------------------------------------------


@rpc("CoordinatorService.SubmitJob")
async def submit_job(
    fake: Gateway, request: scaimind.SubmitJobRequest
) -> scaimind.SubmitJobResponse:
    return scaimind.SubmitJobResponse(job=fake._domain.coordinator.submit_job(request))


@rpc("CoordinatorService.GetJob")
async def get_job(fake: Gateway, request: scaimind.GetJobRequest) -> scaimind.GetJobResponse:
    return scaimind.GetJobResponse(job=fake._domain.coordinator.job(request.job_id).job)


_MAX_PAGE = 1000


def _page(
    items: list[_T],
    key: Callable[[_T], str],
    size: int,
    token: str,
    what: str,
    descending: bool = False,
) -> tuple[list[_T], str]:
    """One page of ``items`` (sorted by ``key``) and the token of the next.

    The token is opaque to clients: the key of the last item sent, encoded;
    the next page starts after that key, so items that came or changed in
    between never shift a page. A page size of 0 is everything at once, as
    v1 always answered.
    """
    if size < 0:
        raise invalid("page_size", "must be 0 (everything) or more")
    if token:
        try:
            kind, _, last = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            kind, last = "", ""
        if kind != what or not last:
            raise invalid("page_token", f"not a page token of a listing of {what}")
        items = [i for i in items if (key(i) < last if descending else key(i) > last)]
    if size == 0:
        return items, ""
    page = items[: min(size, _MAX_PAGE)]
    if len(page) == len(items):
        return page, ""
    return page, base64.urlsafe_b64encode(f"{what}:{key(page[-1])}".encode()).decode()


@rpc("CoordinatorService.ListJobs")
async def list_jobs(fake: Gateway, request: scaimind.ListJobsRequest) -> scaimind.ListJobsResponse:
    jobs = [
        entry.job
        for entry in reversed(fake._domain.coordinator.jobs.values())
        if request.state == scaimind.JOB_STATE_UNSPECIFIED or entry.job.state == request.state
    ]
    page, token = _page(
        jobs, lambda job: job.id, request.page_size, request.page_token, "jobs", descending=True
    )
    return scaimind.ListJobsResponse(jobs=page, next_page_token=token)


@rpc("CoordinatorService.CancelJob")
async def cancel_job(
    fake: Gateway, request: scaimind.CancelJobRequest
) -> scaimind.CancelJobResponse:
    return scaimind.CancelJobResponse(job=fake._domain.coordinator.cancel_job(request.job_id))


@rpc("CoordinatorService.StreamMetrics")
async def stream_metrics(
    fake: Gateway, request: scaimind.StreamMetricsRequest, stream: OpenStream
) -> AsyncIterator[scaimind.StreamMetricsResponse]:
    fake._domain.ledger.check_epoch(request.epoch, "after_step")
    entry = fake._domain.coordinator.job(request.job_id)
    points = _replay_and_follow(
        fake,
        stream,
        entry.points,
        request.after_step,
        finished=lambda: entry.job.state in TERMINAL_JOB_STATES,
    )
    async for point in points:
        yield point


@rpc("ClusterService.RegisterNode")
async def register_node(
    fake: Gateway, request: scaimind.RegisterNodeRequest
) -> scaimind.RegisterNodeResponse:
    return scaimind.RegisterNodeResponse(node=fake._domain.cluster.register_node(request))


@rpc("ClusterService.ListNodes")
async def list_nodes(
    fake: Gateway, request: scaimind.ListNodesRequest
) -> scaimind.ListNodesResponse:
    nodes = [fake._domain.cluster.nodes[k] for k in sorted(fake._domain.cluster.nodes)]
    page, token = _page(
        nodes, lambda node: node.node_id, request.page_size, request.page_token, "nodes"
    )
    return scaimind.ListNodesResponse(nodes=page, next_page_token=token)


@rpc("ClusterService.AllocateGPUs")
async def allocate_gpus(
    fake: Gateway, request: scaimind.AllocateGPUsRequest
) -> scaimind.AllocateGPUsResponse:
    return scaimind.AllocateGPUsResponse(allocation=fake._domain.cluster.allocate_gpus(request))


@rpc("ClusterService.ReleaseGPUs")
async def release_gpus(
    fake: Gateway, request: scaimind.ReleaseGPUsRequest
) -> scaimind.ReleaseGPUsResponse:
    return scaimind.ReleaseGPUsResponse(
        allocation=fake._domain.cluster.release_gpus(request.allocation_id)
    )


# -- scaicore.v1 ----------------------------------------------------------------------


@rpc("CoreRuntimeService.InvokeCore")
async def invoke_core(
    fake: Gateway, request: scaicore.InvokeCoreRequest
) -> scaicore.InvokeCoreResponse:
    return fake._domain.core_runtime.invoke_core(request)


@rpc("CoreRuntimeService.GetCore")
async def get_core(fake: Gateway, request: scaicore.GetCoreRequest) -> scaicore.GetCoreResponse:
    return scaicore.GetCoreResponse(
        instance=fake._domain.core_runtime.core(request.core_id).instance
    )


@rpc("CoreRuntimeService.PassivateCore")
async def passivate_core(
    fake: Gateway, request: scaicore.PassivateCoreRequest
) -> scaicore.PassivateCoreResponse:
    return scaicore.PassivateCoreResponse(
        instance=fake._domain.core_runtime.passivate_core(request.core_id)
    )


@rpc("CoreRuntimeService.RestoreCore")
async def restore_core(
    fake: Gateway, request: scaicore.RestoreCoreRequest
) -> scaicore.RestoreCoreResponse:
    return scaicore.RestoreCoreResponse(
        instance=fake._domain.core_runtime.restore_core(request.core_id)
    )


@rpc("CoreRuntimeService.StreamEvents")
async def stream_events(
    fake: Gateway, request: scaicore.StreamEventsRequest, stream: OpenStream
) -> AsyncIterator[scaicore.StreamEventsResponse]:
    fake._domain.ledger.check_epoch(request.epoch, "after_sequence")
    core = fake._domain.core_runtime.core(request.core_id)
    async for event in _replay_and_follow(fake, stream, core.events, request.after_sequence):
        yield event


__all__ = ["RPCS", "FakeError"]

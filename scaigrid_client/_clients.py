"""The five service clients and the ScaiGrid facade.

Each method builds its request, hands it to the shared `Transport` (which
does metadata, deadline, retries and errors) and shapes the result.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import grpc
from typing_extensions import Self, Unpack

from scaigrid_client import errors
from scaigrid_client._auth import TokenSource
from scaigrid_client._config import RetryPolicy, TLSConfig
from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client._transport import (
    CallInfo,
    MetadataArg,
    Method,
    ServerStream,
    Transport,
)

__all__ = [
    "ChatReply",
    "ClusterClient",
    "CoordinatorClient",
    "CoreRuntimeClient",
    "HeartbeatClient",
    "HeartbeatLoop",
    "InferenceClient",
    "ScaiGrid",
]

logger = logging.getLogger("scaigrid_client")

MessageLike = Mapping[str, str] | scaiinfer.ChatMessage


class CallOptions(TypedDict, total=False):
    """Per-call options every method takes."""

    request_id: str
    """The ``x-request-id``; default a fresh one. Reused on every retry."""
    timeout: float
    """Deadline in seconds for the whole call, retries included."""
    metadata: MetadataArg
    """Extra metadata to send."""
    call_info: CallInfo
    """Filled with the request id, attempts and metadata when the call succeeds."""


class StreamOptions(TypedDict, total=False):
    """Per-call options every streaming method takes."""

    request_id: str
    timeout: float
    metadata: MetadataArg
    idle_timeout: float
    """Fail (or, for resumable streams, reconnect) after this long without a message."""


def _m(module: Any, service: str, rpc: str) -> Method[Any, Any]:
    return Method.of(module, service, rpc)


_INFERENCE = scaiinfer.inference_pb2
_HEARTBEAT = scaiinfer.heartbeat_pb2
_COORDINATOR = scaimind.coordinator_pb2
_CLUSTER = scaimind.cluster_pb2
_RUNTIME = scaicore.runtime_pb2

LIST_MODELS: Method[scaiinfer.ListModelsRequest, scaiinfer.ListModelsResponse] = _m(
    _INFERENCE, "InferenceService", "ListModels"
)
STREAM_INFERENCE: Method[scaiinfer.InferenceRequest, scaiinfer.StreamInferenceResponse] = _m(
    _INFERENCE, "InferenceService", "StreamInference"
)
INFER: Method[scaiinfer.InferRequest, scaiinfer.InferResponse] = _m(
    _INFERENCE, "InferenceService", "Infer"
)
EMBED: Method[scaiinfer.EmbedRequest, scaiinfer.EmbedResponse] = _m(
    _INFERENCE, "InferenceService", "Embed"
)
HEARTBEAT: Method[scaiinfer.HeartbeatRequest, scaiinfer.HeartbeatResponse] = _m(
    _HEARTBEAT, "HeartbeatService", "Heartbeat"
)
SUBMIT_JOB: Method[scaimind.SubmitJobRequest, scaimind.SubmitJobResponse] = _m(
    _COORDINATOR, "CoordinatorService", "SubmitJob"
)
GET_JOB: Method[scaimind.GetJobRequest, scaimind.GetJobResponse] = _m(
    _COORDINATOR, "CoordinatorService", "GetJob"
)
LIST_JOBS: Method[scaimind.ListJobsRequest, scaimind.ListJobsResponse] = _m(
    _COORDINATOR, "CoordinatorService", "ListJobs"
)
CANCEL_JOB: Method[scaimind.CancelJobRequest, scaimind.CancelJobResponse] = _m(
    _COORDINATOR, "CoordinatorService", "CancelJob"
)
STREAM_METRICS: Method[scaimind.StreamMetricsRequest, scaimind.StreamMetricsResponse] = _m(
    _COORDINATOR, "CoordinatorService", "StreamMetrics"
)
REGISTER_NODE: Method[scaimind.RegisterNodeRequest, scaimind.RegisterNodeResponse] = _m(
    _CLUSTER, "ClusterService", "RegisterNode"
)
LIST_NODES: Method[scaimind.ListNodesRequest, scaimind.ListNodesResponse] = _m(
    _CLUSTER, "ClusterService", "ListNodes"
)
ALLOCATE_GPUS: Method[scaimind.AllocateGPUsRequest, scaimind.AllocateGPUsResponse] = _m(
    _CLUSTER, "ClusterService", "AllocateGPUs"
)
RELEASE_GPUS: Method[scaimind.ReleaseGPUsRequest, scaimind.ReleaseGPUsResponse] = _m(
    _CLUSTER, "ClusterService", "ReleaseGPUs"
)
INVOKE_CORE: Method[scaicore.InvokeCoreRequest, scaicore.InvokeCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "InvokeCore"
)
GET_CORE: Method[scaicore.GetCoreRequest, scaicore.GetCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "GetCore"
)
PASSIVATE_CORE: Method[scaicore.PassivateCoreRequest, scaicore.PassivateCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "PassivateCore"
)
RESTORE_CORE: Method[scaicore.RestoreCoreRequest, scaicore.RestoreCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "RestoreCore"
)
STREAM_EVENTS: Method[scaicore.StreamEventsRequest, scaicore.StreamEventsResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "StreamEvents"
)


# -- argument checks: raised before anything is sent, naming the argument --------


def _text(value: object, name: str, example: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        hint = f", for example {example!r}" if example else ""
        raise ValueError(f"{name}: must be a non-empty str{hint}")
    return value


def _at_least(value: object, minimum: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: must be an int of at least {minimum}, got {value!r}")
    return value


def _messages(messages: Sequence[MessageLike]) -> list[scaiinfer.ChatMessage]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:  # type: ignore[unreachable]
        raise ValueError(
            "messages: pass a non-empty sequence such as [{'role': 'user', 'content': 'Hi'}]"
        )
    out = []
    for i, message in enumerate(messages):
        if isinstance(message, scaiinfer.ChatMessage):
            out.append(message)
            continue
        if not isinstance(message, Mapping):
            raise ValueError(f"messages[{i}]: expected a dict with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"messages[{i}].role: must be 'system', 'user', 'assistant' or 'tool'")
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}].content: must be a str")
        out.append(scaiinfer.ChatMessage(role=role, content=content, name=message.get("name", "")))
    return out


def _sampling(
    temperature: float | None, top_p: float | None, max_tokens: int | None, stop: Sequence[str]
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if temperature is not None:
        if not 0 <= temperature <= 2:
            raise ValueError(f"temperature: must be between 0 and 2, got {temperature!r}")
        fields["temperature"] = temperature
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {top_p!r}")
        fields["top_p"] = top_p
    if max_tokens is not None:
        fields["max_tokens"] = _at_least(max_tokens, 1, "max_tokens")
    if stop:
        if isinstance(stop, str):
            stop = [stop]
        fields["stop"] = [_text(s, "stop") for s in stop]
    return fields


@dataclass(frozen=True)
class ChatReply:
    """A whole chat reply from ``infer()``."""

    content: str
    """The full text."""
    finish_reason: int
    """A ``scaiinfer.FinishReason`` value."""
    usage: scaiinfer.Usage
    model: str
    id: str
    response: scaiinfer.InferResponse
    """The raw response."""


# -- the clients ------------------------------------------------------------------------


class _Client:
    """Construction, closing and repr shared by every client."""

    def __init__(
        self,
        target: str | None = None,
        *,
        token: TokenSource | None = None,
        tls: bool | TLSConfig = True,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        channel: grpc.aio.Channel | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
        compression: grpc.Compression | None = None,
        _transport: Transport | None = None,
    ) -> None:
        self._owns_transport = _transport is None
        self._transport = _transport or Transport(
            target,
            token=token,
            tls=tls,
            retry=retry,
            timeout=timeout,
            channel=channel,
            channel_options=channel_options,
            interceptors=interceptors,
            compression=compression,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(target={self._transport.target!r}, tls={self._transport.tls!r})"
        )

    async def close(self) -> None:
        """Close the channel, unless it was passed in or is shared by a ScaiGrid."""
        if self._owns_transport:
            await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class InferenceClient(_Client):
    """Chat (streaming and unary), embeddings and the model catalogue."""

    async def list_models(
        self, *, capability: int | None = None, **options: Unpack[CallOptions]
    ) -> list[scaiinfer.Model]:
        """The models this token may use, sorted by id."""
        request = scaiinfer.ListModelsRequest(capability=capability or 0)  # type: ignore[arg-type]
        return list((await self._transport.unary(LIST_MODELS, request, **options)).models)

    def stream_inference(
        self,
        *,
        model: str,
        messages: Sequence[MessageLike],
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
        binary_bytes: int | None = None,
        **options: Unpack[StreamOptions],
    ) -> ServerStream[scaiinfer.InferenceRequest, scaiinfer.StreamInferenceResponse]:
        """Stream a chat reply: ``async for chunk in ...: chunk.delta.content``.

        Retried only before the first chunk. ``binary_bytes=N`` asks for binary
        output of at most N bytes, in ``chunk.data``.
        """
        request = scaiinfer.InferenceRequest(
            model=_text(model, "model", "scailabs/poolnoodle-omni"),
            messages=_messages(messages),
            **_sampling(temperature, top_p, max_tokens, stop),
        )
        if seed is not None:
            request.seed = _at_least(seed, 0, "seed")
        if binary_bytes is not None:
            request.response_format = scaiinfer.RESPONSE_FORMAT_BINARY
            request.max_output_bytes = _at_least(binary_bytes, 1, "binary_bytes")
        return self._transport.stream(STREAM_INFERENCE, request, **options)

    async def infer(
        self,
        *,
        model: str,
        messages: Sequence[MessageLike],
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
        **options: Unpack[CallOptions],
    ) -> ChatReply:
        """A whole chat reply; ``.content`` is the text."""
        request = scaiinfer.InferRequest(
            model=_text(model, "model", "scailabs/poolnoodle-omni"),
            messages=_messages(messages),
            **_sampling(temperature, top_p, max_tokens, stop),
        )
        if seed is not None:
            request.seed = _at_least(seed, 0, "seed")
        response = await self._transport.unary(INFER, request, **options)
        return ChatReply(
            content=response.message.content,
            finish_reason=response.finish_reason,
            usage=response.usage,
            model=response.model,
            id=response.id,
            response=response,
        )

    async def embed(
        self, *, model: str, inputs: Sequence[str], **options: Unpack[CallOptions]
    ) -> list[list[float]]:
        """One embedding vector per input, in input order."""
        if isinstance(inputs, str) or not isinstance(inputs, Sequence) or not inputs:
            raise ValueError("inputs: pass a non-empty sequence of str, such as ['hello']")
        for i, text in enumerate(inputs):
            _text(text, f"inputs[{i}]")
        request = scaiinfer.EmbedRequest(model=_text(model, "model"), inputs=list(inputs))
        response = await self._transport.unary(EMBED, request, **options)
        return [list(e.values) for e in response.embeddings]


class HeartbeatLoop:
    """Periodic heartbeats in the background; see HeartbeatClient.start_heartbeats."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task
        self.sent = 0
        self.failed = 0
        self.last: scaiinfer.HeartbeatResponse | None = None

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def stop(self) -> None:
        """Stop sending and wait until the loop has ended."""
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise


class HeartbeatClient(_Client):
    """Inference nodes report health and capacity."""

    async def heartbeat(
        self,
        *,
        node_id: str,
        health: int = scaiinfer.NODE_HEALTH_HEALTHY,
        loaded_models: Sequence[str] = (),
        gpu_count: int = 0,
        gpu_memory_total_bytes: int = 0,
        gpu_memory_used_bytes: int = 0,
        gpu_utilization: float = 0.0,
        queue_depth: int = 0,
        **options: Unpack[CallOptions],
    ) -> scaiinfer.HeartbeatResponse:
        """Report this node's health and capacity; returns the acknowledgement."""
        if not 0 <= gpu_utilization <= 1:
            raise ValueError(f"gpu_utilization: must be between 0 and 1, got {gpu_utilization!r}")
        request = scaiinfer.HeartbeatRequest(
            node_id=_text(node_id, "node_id"),
            health=health,  # type: ignore[arg-type]
            loaded_models=list(loaded_models),
            gpu_count=_at_least(gpu_count, 0, "gpu_count"),
            gpu_memory_total_bytes=_at_least(gpu_memory_total_bytes, 0, "gpu_memory_total_bytes"),
            gpu_memory_used_bytes=_at_least(gpu_memory_used_bytes, 0, "gpu_memory_used_bytes"),
            gpu_utilization=gpu_utilization,
            queue_depth=_at_least(queue_depth, 0, "queue_depth"),
        )
        return await self._transport.unary(HEARTBEAT, request, **options)

    def start_heartbeats(
        self,
        *,
        node_id: str,
        capacity: Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]],
        interval: float = 5.0,
        jitter: float = 0.1,
    ) -> HeartbeatLoop:
        """Send a heartbeat every ``interval`` seconds (± ``jitter`` share) in
        the background, with the fields ``capacity()`` returns. Failures are
        logged and the loop goes on, so it rides out gateway restarts. Needs a
        running event loop; stop it with ``await loop.stop()``.
        """
        _text(node_id, "node_id")
        if not interval > 0:
            raise ValueError(f"interval: must be a positive number of seconds, got {interval!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter: must be in [0, 1), got {jitter!r}")
        loop: HeartbeatLoop

        async def run() -> None:
            while True:
                try:
                    fields = capacity()
                    if inspect.isawaitable(fields):
                        fields = await fields
                    loop.last = await self.heartbeat(node_id=node_id, **dict(fields))
                    loop.sent += 1
                except errors.ScaiGridError as error:
                    loop.failed += 1
                    logger.warning("heartbeat for %s failed: %s", node_id, error)
                except Exception:
                    # A bug in capacity() must not end the agent's heartbeats.
                    loop.failed += 1
                    logger.exception("heartbeat for %s: capacity() failed", node_id)
                await asyncio.sleep(interval * (1 + jitter * (2 * random.random() - 1)))

        loop = HeartbeatLoop(asyncio.get_running_loop().create_task(run()))
        return loop


def _resume_metrics(
    request: scaimind.StreamMetricsRequest, last: scaimind.StreamMetricsResponse
) -> scaimind.StreamMetricsRequest:
    return scaimind.StreamMetricsRequest(job_id=request.job_id, after_step=last.step)


def _resume_events(
    request: scaicore.StreamEventsRequest, last: scaicore.StreamEventsResponse
) -> scaicore.StreamEventsRequest:
    return scaicore.StreamEventsRequest(core_id=request.core_id, after_sequence=last.sequence)


class CoordinatorClient(_Client):
    """Training jobs and their live metrics."""

    async def submit_job(
        self,
        *,
        name: str,
        base_model: str,
        gpus: int,
        max_steps: int,
        dataset: str = "",
        hyperparameters: Mapping[str, str | int | float] | None = None,
        **options: Unpack[CallOptions],
    ) -> scaimind.Job:
        """Queue a training job. Safe to retry: the request id is its
        idempotency key, so a retry never makes a second job."""
        spec = scaimind.JobSpec(
            name=_text(name, "name"),
            base_model=_text(base_model, "base_model", "scailabs/poolnoodle-omni"),
            gpus=_at_least(gpus, 1, "gpus"),
            max_steps=_at_least(max_steps, 1, "max_steps"),
            dataset=dataset,
            hyperparameters={k: str(v) for k, v in (hyperparameters or {}).items()},
        )
        request = scaimind.SubmitJobRequest(spec=spec)
        return (await self._transport.unary(SUBMIT_JOB, request, **options)).job

    async def get_job(self, job_id: str, **options: Unpack[CallOptions]) -> scaimind.Job:
        """A job's current state and progress."""
        request = scaimind.GetJobRequest(job_id=_text(job_id, "job_id"))
        return (await self._transport.unary(GET_JOB, request, **options)).job

    async def list_jobs(
        self, *, state: int | None = None, **options: Unpack[CallOptions]
    ) -> list[scaimind.Job]:
        """Jobs, newest first; ``state=`` keeps only jobs in that ``scaimind.JobState``."""
        request = scaimind.ListJobsRequest(state=state or 0)  # type: ignore[arg-type]
        return list((await self._transport.unary(LIST_JOBS, request, **options)).jobs)

    async def cancel_job(self, job_id: str, **options: Unpack[CallOptions]) -> scaimind.Job:
        """Stop a queued or running job; returns it CANCELLED. Safe to retry."""
        request = scaimind.CancelJobRequest(job_id=_text(job_id, "job_id"))
        return (await self._transport.unary(CANCEL_JOB, request, **options)).job

    def stream_metrics(
        self, job_id: str, *, after_step: int = 0, **options: Unpack[StreamOptions]
    ) -> ServerStream[scaimind.StreamMetricsRequest, scaimind.StreamMetricsResponse]:
        """Metric points in step order; ends when the job is terminal.

        Resumes by itself after a dropped connection from the last step
        delivered: no gap, no duplicate.
        """
        request = scaimind.StreamMetricsRequest(
            job_id=_text(job_id, "job_id"), after_step=_at_least(after_step, 0, "after_step")
        )
        return self._transport.stream(STREAM_METRICS, request, resume=_resume_metrics, **options)


class ClusterClient(_Client):
    """GPU nodes and allocations."""

    async def register_node(
        self,
        *,
        node_id: str,
        gpus: int,
        address: str = "",
        gpu_type: str = "",
        gpu_memory_bytes: int = 0,
        labels: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> scaimind.Node:
        """Register a node and its GPUs, or replace its registration. Idempotent."""
        request = scaimind.RegisterNodeRequest(
            node_id=_text(node_id, "node_id"),
            gpus=_at_least(gpus, 1, "gpus"),
            address=address,
            gpu_type=gpu_type,
            gpu_memory_bytes=_at_least(gpu_memory_bytes, 0, "gpu_memory_bytes"),
            labels=dict(labels or {}),
        )
        return (await self._transport.unary(REGISTER_NODE, request, **options)).node

    async def list_nodes(self, **options: Unpack[CallOptions]) -> list[scaimind.Node]:
        """Registered nodes, sorted by id, with their free GPUs."""
        request = scaimind.ListNodesRequest()
        return list((await self._transport.unary(LIST_NODES, request, **options)).nodes)

    async def allocate_gpus(
        self, *, job_id: str, count: int, gpu_type: str = "", **options: Unpack[CallOptions]
    ) -> scaimind.Allocation:
        """Reserve GPUs for a job. Safe to retry: the request id is its idempotency key."""
        request = scaimind.AllocateGPUsRequest(
            job_id=_text(job_id, "job_id"), count=_at_least(count, 1, "count"), gpu_type=gpu_type
        )
        return (await self._transport.unary(ALLOCATE_GPUS, request, **options)).allocation

    async def release_gpus(
        self, allocation_id: str, **options: Unpack[CallOptions]
    ) -> scaimind.Allocation:
        """Return an allocation's GPUs to the pool. Releasing twice is harmless."""
        request = scaimind.ReleaseGPUsRequest(allocation_id=_text(allocation_id, "allocation_id"))
        return (await self._transport.unary(RELEASE_GPUS, request, **options)).allocation


class CoreRuntimeClient(_Client):
    """Core instances: invoke, passivate, restore, and their event feed."""

    async def invoke_core(
        self,
        *,
        core_id: str,
        payload: bytes | str | Mapping[str, Any] | None = None,
        content_type: str | None = None,
        **options: Unpack[CallOptions],
    ) -> scaicore.InvokeCoreResponse:
        """Run a core. A dict payload is sent as JSON. Safe to retry: the
        request id is its idempotency key, so a retry never invokes twice."""
        if payload is None:
            data, kind = b"", content_type or ""
        elif isinstance(payload, bytes):
            data, kind = payload, content_type or "application/octet-stream"
        elif isinstance(payload, str):
            data, kind = payload.encode(), content_type or "text/plain; charset=utf-8"
        elif isinstance(payload, Mapping):
            try:
                data = json.dumps(payload).encode()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"payload: not JSON-serializable ({exc})") from None
            kind = content_type or "application/json"
        else:
            raise TypeError(f"payload: expected bytes, str or a dict, got {type(payload).__name__}")
        request = scaicore.InvokeCoreRequest(
            core_id=_text(core_id, "core_id"), payload=data, content_type=kind
        )
        return await self._transport.unary(INVOKE_CORE, request, **options)

    async def get_core(self, core_id: str, **options: Unpack[CallOptions]) -> scaicore.CoreInstance:
        """A core instance's current state."""
        request = scaicore.GetCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._transport.unary(GET_CORE, request, **options)).instance

    async def passivate_core(
        self, *, core_id: str, **options: Unpack[CallOptions]
    ) -> scaicore.CoreInstance:
        """Move an active instance to storage; returns it PASSIVATED.

        Passivating a passivated core raises ``FailedPreconditionError``.
        """
        request = scaicore.PassivateCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._transport.unary(PASSIVATE_CORE, request, **options)).instance

    async def restore_core(
        self, *, core_id: str, **options: Unpack[CallOptions]
    ) -> scaicore.CoreInstance:
        """Bring a passivated instance back; returns it ACTIVE.

        Restoring an active core raises ``FailedPreconditionError``.
        """
        request = scaicore.RestoreCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._transport.unary(RESTORE_CORE, request, **options)).instance

    def stream_events(
        self, core_id: str, *, after_sequence: int = 0, **options: Unpack[StreamOptions]
    ) -> ServerStream[scaicore.StreamEventsRequest, scaicore.StreamEventsResponse]:
        """A core's events in sequence order, then live until cancelled.

        Resumes by itself after a dropped connection from the last sequence
        delivered: no gap, no duplicate.
        """
        request = scaicore.StreamEventsRequest(
            core_id=_text(core_id, "core_id"),
            after_sequence=_at_least(after_sequence, 0, "after_sequence"),
        )
        return self._transport.stream(STREAM_EVENTS, request, resume=_resume_events, **options)


class ScaiGrid(_Client):
    """All five clients over one channel: ``.inference``, ``.heartbeat``,
    ``.coordinator``, ``.cluster``, ``.core``. Takes the same keywords as
    each client; closing it closes the shared channel."""

    @functools.cached_property
    def inference(self) -> InferenceClient:
        return InferenceClient(_transport=self._transport)

    @functools.cached_property
    def heartbeat(self) -> HeartbeatClient:
        return HeartbeatClient(_transport=self._transport)

    @functools.cached_property
    def coordinator(self) -> CoordinatorClient:
        return CoordinatorClient(_transport=self._transport)

    @functools.cached_property
    def cluster(self) -> ClusterClient:
        return ClusterClient(_transport=self._transport)

    @functools.cached_property
    def core(self) -> CoreRuntimeClient:
        return CoreRuntimeClient(_transport=self._transport)

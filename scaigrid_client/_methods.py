"""The RPCs, once for both flavours: one `Method` per RPC, the per-call
options, the argument checks (raised before anything is sent, naming the
argument), the resume of each resumable stream, and the result types.

`_clients/` (async) and `sync/_clients/` (generated from it) build
their requests and shape their results with what is here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from scaigrid_client._call import CallInfo, MetadataArg, Method
from scaigrid_client._config import RetryPolicy
from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client._to_dict import short_enum_names
from scaigrid_client.enums import (
    Capability,
    CapabilityName,
    EventType,
    EventTypeName,
    FinishReason,
    JobState,
    JobStateName,
    NodeHealth,
    NodeHealthName,
)

MessageLike = Mapping[str, str] | scaiinfer.ChatMessage
EnumArg = int | str
"""An enum argument: its short name in any case (``"running"``), its full
proto name (``"JOB_STATE_RUNNING"``), its number or the protobuf value."""
CapabilityArg = CapabilityName | Capability | int
"""``capability=``: ``"chat"``, ``"embeddings"``, an `enums.Capability` or its number."""
JobStateArg = JobStateName | JobState | int
"""``state=`` of a job: ``"queued"``, ``"running"``, ... or an `enums.JobState`."""
NodeHealthArg = NodeHealthName | NodeHealth | int
"""``health=``: ``"healthy"``, ``"degraded"``, ... or an `enums.NodeHealth`."""
EventTypeArg = EventTypeName | EventType | int
"""A core event's type: ``"activated"``, ``"invoked"``, ... or an `enums.EventType`
(the fake's ``emit_event``)."""


class CallOptions(TypedDict, total=False):
    """Per-call options every method takes."""

    request_id: str
    """The ``x-request-id``; default a fresh one. Reused on every retry."""
    timeout: float | None
    """Deadline in seconds for the whole call, retries included; None: no
    deadline. Left out: the client's ``timeout=``, else the method's default
    deadline (``*_DEADLINE`` below: 30 s for lookups, 300 s for infer, embed
    and invoke_core)."""
    metadata: MetadataArg
    """Extra metadata to send."""
    retry: RetryPolicy
    """This call's retry policy, instead of the client's (the client's retry
    budget still applies)."""
    call_info: CallInfo
    """Deprecated (warns; goes in 2.0): use `raw_response()`. Filled with the
    request id, attempts and metadata when the call succeeds."""


class StreamOptions(TypedDict, total=False):
    """Per-call options every streaming method takes."""

    request_id: str
    """The ``x-request-id``; default a fresh one. Every retry and resume of
    the stream carries it."""
    timeout: float | None
    """Deadline in seconds for the whole stream; left out or None: none
    (streams run for as long as they are read; see ``idle_timeout``)."""
    metadata: MetadataArg
    """Extra metadata to send (on every retry and resume)."""
    retry: RetryPolicy
    """This stream's retry policy (retries before its first message, and
    resumes), instead of the client's."""
    idle_timeout: float
    """Fail (or, for resumable streams, reconnect) after this long without a message."""


# Default deadlines of unary calls that get none from the call or the client:
# a hung gateway must not hang the caller forever, and no healthy call should
# come near its default. Streams get none: they tail for hours, and have
# idle_timeout= for a stall.
QUICK_DEADLINE = 30.0
"""Lookups and small writes of state the gateway holds (list_models, get_job,
list_nodes, get_core, cancel_job, register_node, ...): milliseconds when well."""
HEARTBEAT_DEADLINE = 10.0
"""A heartbeat is stale after a couple of intervals (5 s by default): fail it
and let the next one go rather than let them pile up behind a hung gateway."""
STATE_CHANGE_DEADLINE = 120.0
"""Passivating or restoring a core moves its state to or from storage."""
LONG_DEADLINE = 300.0
"""Whole generations and invocations (infer, embed of a large batch,
invoke_core): minutes are normal for a long reply or a slow model."""


def _m(module: Any, service: str, rpc: str, default_timeout: float | None) -> Method[Any, Any]:
    return Method.of(module, service, rpc, default_timeout)


_INFERENCE = scaiinfer.inference_pb2
_HEARTBEAT = scaiinfer.heartbeat_pb2
_COORDINATOR = scaimind.coordinator_pb2
_CLUSTER = scaimind.cluster_pb2
_RUNTIME = scaicore.runtime_pb2

LIST_MODELS: Method[scaiinfer.ListModelsRequest, scaiinfer.ListModelsResponse] = _m(
    _INFERENCE, "InferenceService", "ListModels", QUICK_DEADLINE
)
STREAM_INFERENCE: Method[scaiinfer.InferenceRequest, scaiinfer.StreamInferenceResponse] = _m(
    _INFERENCE, "InferenceService", "StreamInference", None
)
INFER: Method[scaiinfer.InferRequest, scaiinfer.InferResponse] = _m(
    _INFERENCE, "InferenceService", "Infer", LONG_DEADLINE
)
EMBED: Method[scaiinfer.EmbedRequest, scaiinfer.EmbedResponse] = _m(
    _INFERENCE, "InferenceService", "Embed", LONG_DEADLINE
)
HEARTBEAT: Method[scaiinfer.HeartbeatRequest, scaiinfer.HeartbeatResponse] = _m(
    _HEARTBEAT, "HeartbeatService", "Heartbeat", HEARTBEAT_DEADLINE
)
SUBMIT_JOB: Method[scaimind.SubmitJobRequest, scaimind.SubmitJobResponse] = _m(
    _COORDINATOR, "CoordinatorService", "SubmitJob", QUICK_DEADLINE
)
GET_JOB: Method[scaimind.GetJobRequest, scaimind.GetJobResponse] = _m(
    _COORDINATOR, "CoordinatorService", "GetJob", QUICK_DEADLINE
)
LIST_JOBS: Method[scaimind.ListJobsRequest, scaimind.ListJobsResponse] = _m(
    _COORDINATOR, "CoordinatorService", "ListJobs", QUICK_DEADLINE
)
CANCEL_JOB: Method[scaimind.CancelJobRequest, scaimind.CancelJobResponse] = _m(
    _COORDINATOR, "CoordinatorService", "CancelJob", QUICK_DEADLINE
)
STREAM_METRICS: Method[scaimind.StreamMetricsRequest, scaimind.StreamMetricsResponse] = _m(
    _COORDINATOR, "CoordinatorService", "StreamMetrics", None
)
REGISTER_NODE: Method[scaimind.RegisterNodeRequest, scaimind.RegisterNodeResponse] = _m(
    _CLUSTER, "ClusterService", "RegisterNode", QUICK_DEADLINE
)
LIST_NODES: Method[scaimind.ListNodesRequest, scaimind.ListNodesResponse] = _m(
    _CLUSTER, "ClusterService", "ListNodes", QUICK_DEADLINE
)
ALLOCATE_GPUS: Method[scaimind.AllocateGPUsRequest, scaimind.AllocateGPUsResponse] = _m(
    _CLUSTER, "ClusterService", "AllocateGPUs", QUICK_DEADLINE
)
RELEASE_GPUS: Method[scaimind.ReleaseGPUsRequest, scaimind.ReleaseGPUsResponse] = _m(
    _CLUSTER, "ClusterService", "ReleaseGPUs", QUICK_DEADLINE
)
INVOKE_CORE: Method[scaicore.InvokeCoreRequest, scaicore.InvokeCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "InvokeCore", LONG_DEADLINE
)
GET_CORE: Method[scaicore.GetCoreRequest, scaicore.GetCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "GetCore", QUICK_DEADLINE
)
PASSIVATE_CORE: Method[scaicore.PassivateCoreRequest, scaicore.PassivateCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "PassivateCore", STATE_CHANGE_DEADLINE
)
RESTORE_CORE: Method[scaicore.RestoreCoreRequest, scaicore.RestoreCoreResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "RestoreCore", STATE_CHANGE_DEADLINE
)
STREAM_EVENTS: Method[scaicore.StreamEventsRequest, scaicore.StreamEventsResponse] = _m(
    _RUNTIME, "CoreRuntimeService", "StreamEvents", None
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


class _EnumNames:
    """The names a caller may give one proto enum: the short names that
    `to_dict` prints (one rule for both), the full names, the numbers. The
    zero value, PREFIX_UNSPECIFIED (buf lint requires it), is "not set",
    never a choice."""

    __slots__ = ("by_name", "numbers", "short_names")

    def __init__(self, enum: Any) -> None:
        short = short_enum_names(enum.DESCRIPTOR)
        values = [v for v in enum.DESCRIPTOR.values if v.number != 0]
        self.short_names = tuple(short[v.number].lower() for v in values)
        self.numbers = frozenset(v.number for v in values)
        self.by_name: dict[str, int] = {}
        for value in values:
            self.by_name[short[value.number]] = value.number
            self.by_name[value.name] = value.number


@functools.cache
def _enum_names(enum: Any) -> _EnumNames:
    return _EnumNames(enum)


def enum_short_names(enum: Any) -> tuple[str, ...]:
    """The short names of a generated enum's values, lower case (``"running"``)."""
    return _enum_names(enum).short_names


def enum_value(value: object, enum: Any, name: str) -> int:
    """The number of argument ``name`` of the generated enum ``enum`` (such
    as ``scaimind.JobState``), given as its short name in any case
    (``"running"``), its full proto name (``"JOB_STATE_RUNNING"``), its
    number, or the protobuf value; a ValueError naming ``name`` otherwise."""
    names = _enum_names(enum)
    if isinstance(value, int) and not isinstance(value, bool):
        if value in names.numbers:
            return value
    elif isinstance(value, str):
        text = value.strip()
        # (a number in a str is how the command line gives one)
        number = int(text) if text.isdecimal() else names.by_name.get(text.upper())
        if number in names.numbers:
            return number  # type: ignore[return-value]
    raise ValueError(
        f"{name}: unknown value {value!r}; use one of {', '.join(names.short_names)} "
        "(any case), the full name or the number"
    )


def _epoch(epoch: object) -> str:
    if not isinstance(epoch, str):
        raise ValueError(
            f"epoch: must be the str an event or point carried in .epoch, got {epoch!r}"
        )
    return epoch


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
        for i, sequence in enumerate(stop):
            # Whitespace is a normal stop sequence ("\n", "\n\n"); only "" is not.
            if not isinstance(sequence, str) or not sequence:
                raise ValueError(f"stop[{i}]: must be a non-empty str, got {sequence!r}")
        fields["stop"] = list(stop)
    return fields


@dataclass(frozen=True)
class ChatReply:
    """A whole chat reply from ``infer()``."""

    content: str
    """The full text."""
    finish_reason: FinishReason | int
    """Why the reply ended: a `scaigrid_client.enums.FinishReason` member
    (``.name == "STOP"``, equal to ``scaiinfer.FINISH_REASON_STOP``), or
    the bare number of a reason newer than this SDK."""
    usage: scaiinfer.Usage
    """Tokens the prompt and the reply took."""
    model: str
    """The model that answered."""
    id: str
    """The reply's id, as the gateway gave it."""
    response: scaiinfer.InferResponse
    """The raw response."""
    request_id: str = ""
    """The call's ``x-request-id`` (the one every attempt carried)."""
    attempts: int = 1
    """Attempts the call took."""
    initial_metadata: tuple[tuple[str, str | bytes], ...] = ()
    """The gateway's response headers."""
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()
    """The gateway's trailers."""


class Embeddings(list[list[float]]):
    """``embed()``'s result: one vector per input, in input order (index it
    as a list of vectors), with the rest of the response."""

    model: str
    """The model that produced the vectors."""
    usage: scaiinfer.Usage
    """Tokens consumed."""
    indexes: list[int]
    """The input position of each vector, as the gateway numbered them."""
    request_id: str
    """The call's ``x-request-id``."""
    response: scaiinfer.EmbedResponse
    """The raw response."""

    @classmethod
    def _of(cls, response: scaiinfer.EmbedResponse, info: CallInfo) -> Embeddings:
        result = cls(list(e.values) for e in response.embeddings)
        result.model = response.model
        result.usage = response.usage
        result.indexes = [e.index for e in response.embeddings]
        result.request_id = info.request_id or ""
        result.response = response
        return result


def finish_reason(number: int) -> FinishReason | int:
    """The FinishReason member of ``number``; a reason newer than this SDK
    stays a number rather than failing the call."""
    try:
        return FinishReason(number)
    except ValueError:
        return number


def _resume_metrics(
    request: scaimind.StreamMetricsRequest, last: scaimind.StreamMetricsResponse
) -> scaimind.StreamMetricsRequest:
    return scaimind.StreamMetricsRequest(
        job_id=request.job_id, after_step=last.step, epoch=last.epoch
    )


def _resume_events(
    request: scaicore.StreamEventsRequest, last: scaicore.StreamEventsResponse
) -> scaicore.StreamEventsRequest:
    return scaicore.StreamEventsRequest(
        core_id=request.core_id, after_sequence=last.sequence, epoch=last.epoch
    )

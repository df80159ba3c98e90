"""The fake gateway's domain state: models, inference, jobs, nodes, cores.

Everything here is plain, deterministic logic on one event loop. Operations
raise `FakeError` with the status, `scaigrid-error-code` and message the
real gateway would send; `_server` turns those into gRPC errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import message as _message, timestamp_pb2

from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client.testing._state._persist import Record, StateLog

__all__ = ["FakeBackend", "FakeError", "HeartbeatRecord"]


class FakeError(Exception):
    """An error the fake gateway answers with."""

    def __init__(
        self,
        status: grpc.StatusCode,
        code: str,
        message: str,
        pushback_ms: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.pushback_ms = pushback_ms  # sent as grpc-retry-pushback-ms


def invalid(field_name: str, problem: str) -> FakeError:
    return FakeError(
        grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument", f"{field_name}: {problem}"
    )


def _now() -> timestamp_pb2.Timestamp:
    # Not GetCurrentTime(): protobuf 5.29's calls datetime.utcnow(), which
    # warns on Python 3.12 and later, and users run their suites with -W error.
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


_CHAT = scaiinfer.CAPABILITY_CHAT
_EMBED = scaiinfer.CAPABILITY_EMBEDDINGS

MODELS = (
    scaiinfer.Model(
        id="scailabs/poolnoodle-omni",
        owner="scailabs",
        context_length=32768,
        capabilities=[_CHAT, _EMBED],
        embedding_dimensions=1024,
    ),
    scaiinfer.Model(
        id="scailabs/poolnoodle-mini", owner="scailabs", context_length=8192, capabilities=[_CHAT]
    ),
    scaiinfer.Model(
        id="scailabs/embed-small",
        owner="scailabs",
        context_length=512,
        capabilities=[_EMBED],
        embedding_dimensions=384,
    ),
)

# Words the fake "model" speaks; replies are drawn from them by a hash of the
# prompt, so the same prompt always gives the same reply.
_WORDS = [
    "the",
    "grid",
    "routes",
    "each",
    "request",
    "to",
    "a",
    "warm",
    "node",
    "and",
    "streams",
    "tokens",
    "back",
    "as",
    "they",
    "are",
    "sampled",
    "while",
    "the",
    "coordinator",
    "keeps",
    "training",
    "jobs",
    "moving",
    "step",
    "by",
    "step",
    "across",
    "the",
    "cluster",
    "and",
    "every",
    "core",
    "keeps",
    "its",
    "own",
    "ordered",
    "log",
    "of",
    "events",
    "so",
    "nothing",
    "is",
    "lost",
    "when",
    "a",
    "connection",
    "drops",
    "and",
    "resumes",
    "later",
]

TERMINAL_JOB_STATES = frozenset(
    {scaimind.JOB_STATE_SUCCEEDED, scaimind.JOB_STATE_FAILED, scaimind.JOB_STATE_CANCELLED}
)


@dataclass
class HeartbeatRecord:
    """One heartbeat as the fake received it."""

    request: scaiinfer.HeartbeatRequest
    received_at: float
    sequence: int


@dataclass
class _Job:
    job: scaimind.Job
    points: list[scaimind.StreamMetricsResponse] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass
class _Core:
    instance: scaicore.CoreInstance
    events: list[scaicore.StreamEventsResponse] = field(default_factory=list)
    invocations: list[scaicore.InvokeCoreRequest] = field(default_factory=list)


class FakeBackend:
    """The state behind every RPC of the fake gateway."""

    def __init__(
        self,
        *,
        step_interval: float = 0.01,
        binary_chunk_size: int = 1 << 20,
        state_dir: str | os.PathLike[str] | None = None,
        fresh: bool = False,
    ) -> None:
        self.step_interval = step_interval
        self.binary_chunk_size = binary_chunk_size
        self.models = {m.id: m for m in MODELS}
        self.jobs: dict[str, _Job] = {}
        self.nodes: dict[str, scaimind.Node] = {}
        self.node_gpus_used: dict[str, set[int]] = {}
        self.allocations: dict[str, scaimind.Allocation] = {}
        self.cores: dict[str, _Core] = {}
        self.heartbeats: dict[str, list[HeartbeatRecord]] = {}
        self._changed = asyncio.Event()
        self._counters: dict[str, int] = {}
        # Replies of the RPCs whose request id is their idempotency key.
        self.replies: dict[tuple[str, str], _message.Message] = {}
        # Which history the events and metric points belong to: a gateway
        # that loses its state starts a new one, and a cursor from the old
        # one must not resume against it.
        self.epoch = secrets.token_hex(8)
        self._log: StateLog | None = None
        if state_dir is not None:
            self._log = StateLog(state_dir)
            if not fresh:
                for record in self._log.load():
                    self._apply(record)
            self._log.rewrite(self._snapshot())
            for entry in self.jobs.values():
                if entry.job.state not in TERMINAL_JOB_STATES:
                    entry.task = asyncio.get_running_loop().create_task(self._run_job(entry))

    # -- persistence (FakeScaiGrid(state_dir=...)) ------------------------------

    def _save(self, *records: Record) -> None:
        """Journal a change before any client can see it."""
        if self._log is not None:
            self._log.append(*records)

    def remember_reply(self, key: tuple[str, str], reply: _message.Message) -> None:
        self.replies[key] = reply
        self._save(Record("reply", "\x1f".join(key), reply))

    def _snapshot(self) -> Iterator[Record]:
        yield Record("epoch", value=self.epoch)
        for prefix, number in self._counters.items():
            yield Record("counter", prefix, value=number)
        for entry in self.jobs.values():
            yield Record("job", entry.job.id, entry.job)
            for point in entry.points:
                yield Record("point", entry.job.id, point)
        for node in self.nodes.values():
            yield Record("node", node.node_id, node)
        for node_id, used in self.node_gpus_used.items():
            yield Record("gpus_used", node_id, value=sorted(used))
        for allocation in self.allocations.values():
            yield Record("allocation", allocation.id, allocation)
        for core_id, core in self.cores.items():
            yield Record("core", core_id, core.instance)
            for event in core.events:
                yield Record("event", core_id, event)
            for invocation in core.invocations:
                yield Record("invocation", core_id, invocation)
        for records in self.heartbeats.values():
            for beat in records:
                yield Record("heartbeat", "", beat.request, [beat.received_at, beat.sequence])
        for key, reply in self.replies.items():
            yield Record("reply", "\x1f".join(key), reply)

    def _apply(self, record: Record) -> None:
        kind, key, message, value = record.kind, record.key, record.message, record.value
        if kind == "epoch":
            self.epoch = value
        elif kind == "counter":
            self._counters[key] = value
        elif kind == "job":
            assert isinstance(message, scaimind.Job)
            if key in self.jobs:
                self.jobs[key].job = message
            else:
                self.jobs[key] = _Job(message)
        elif kind == "point":
            assert isinstance(message, scaimind.StreamMetricsResponse)
            self.jobs[key].points.append(message)
        elif kind == "node":
            assert isinstance(message, scaimind.Node)
            self.nodes[key] = message
        elif kind == "gpus_used":
            self.node_gpus_used[key] = set(value)
        elif kind == "allocation":
            assert isinstance(message, scaimind.Allocation)
            self.allocations[key] = message
        elif kind == "core":
            assert isinstance(message, scaicore.CoreInstance)
            core = self.cores.get(key)
            if core is None:
                self.cores[key] = _Core(message)
            else:
                core.instance = message
        elif kind == "event":
            assert isinstance(message, scaicore.StreamEventsResponse)
            self.cores[key].events.append(message)
        elif kind == "invocation":
            assert isinstance(message, scaicore.InvokeCoreRequest)
            self.cores[key].invocations.append(message)
        elif kind == "heartbeat":
            assert isinstance(message, scaiinfer.HeartbeatRequest)
            received_at, sequence = value
            history = self.heartbeats.setdefault(message.node_id, [])
            history.append(HeartbeatRecord(message, received_at, sequence))
        elif kind == "reply":
            assert message is not None
            method, _, request_id = key.partition("\x1f")
            self.replies[(method, request_id)] = message

    # -- change notification: streams that follow live wait on this --------

    def changed(self) -> asyncio.Event:
        """The event set at the next change of state."""
        return self._changed

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def check_epoch(self, epoch: str, cursor: str) -> None:
        """Refuse a resume whose cursor came from another history."""
        if epoch and epoch != self.epoch:
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "history_reset",
                f"{cursor}: the cursor is from history epoch {epoch!r}, but this gateway's "
                f"history is epoch {self.epoch!r} (it was lost or reset); start again from 0",
            )

    def _next_id(self, prefix: str) -> str:
        number = self._counters[prefix] = self._counters.get(prefix, 0) + 1
        self._save(Record("counter", prefix, value=number))
        return f"{prefix}-{number:06d}"

    def close(self) -> None:
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        if self._log is not None:
            self._log.close()

    # -- models and inference -------------------------------------------------

    def model(self, model_id: str, field_name: str, capability: int) -> scaiinfer.Model:
        if not model_id:
            raise invalid(field_name, "is required, for example 'scailabs/poolnoodle-omni'")
        model = self.models.get(model_id)
        if model is None:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND,
                "model_not_found",
                f"model '{model_id}' not found; ListModels shows the available models",
            )
        if capability not in model.capabilities:
            what = "chat" if capability == _CHAT else "embeddings"
            raise FakeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "unsupported_model",
                f"{field_name}: model '{model_id}' does not support {what}",
            )
        return model

    def list_models(self, capability: int) -> list[scaiinfer.Model]:
        return [
            m
            for m in sorted(self.models.values(), key=lambda m: m.id)
            if capability == scaiinfer.CAPABILITY_UNSPECIFIED or capability in m.capabilities
        ]

    def reply(
        self, request: scaiinfer.InferenceRequest | scaiinfer.InferRequest
    ) -> tuple[list[str], int, int]:
        """The reply's tokens, its finish reason and the prompt's token count."""
        model = self.model(request.model, "model", _CHAT)
        if not request.messages:
            raise invalid("messages", "at least one message is required")
        for i, message in enumerate(request.messages):
            if message.role not in ("system", "user", "assistant", "tool"):
                raise invalid(
                    f"messages[{i}].role", "must be 'system', 'user', 'assistant' or 'tool'"
                )
        if request.HasField("temperature") and not 0 <= request.temperature <= 2:
            raise invalid("temperature", "must be between 0 and 2")
        if request.HasField("top_p") and not 0 < request.top_p <= 1:
            raise invalid("top_p", "must be in (0, 1]")
        prompt_tokens = sum(len(m.content.split()) + 1 for m in request.messages)
        if prompt_tokens > model.context_length:
            raise invalid(
                "messages",
                f"{prompt_tokens} prompt tokens exceed the context length "
                f"{model.context_length} of '{model.id}'",
            )
        prompt = "\n".join(f"{m.role}:{m.content}" for m in request.messages)
        seed = _digest(model.id, prompt, str(request.seed) if request.HasField("seed") else "")
        rng = random.Random(seed)
        if request.HasField("max_tokens"):
            if request.max_tokens == 0:
                raise invalid("max_tokens", "must be at least 1 when set")
            count, finish = request.max_tokens, scaiinfer.FINISH_REASON_LENGTH
        else:
            count, finish = 16 + seed % 33, scaiinfer.FINISH_REASON_STOP
        count = min(count, model.context_length - prompt_tokens)
        words = [rng.choice(_WORDS) for _ in range(count)]
        tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        if words:
            tokens[0] = tokens[0].capitalize()
        if request.stop:
            text, cut = "", None
            for i, token in enumerate(tokens):
                text += token
                hits = [text.find(s) for s in request.stop if s and s in text]
                if hits:
                    cut = i
                    keep = text[: min(hits)]
                    break
            if cut is not None:
                before = "".join(tokens[:cut])
                tokens = tokens[:cut] + ([keep[len(before) :]] if len(keep) > len(before) else [])
                finish = scaiinfer.FINISH_REASON_STOP
        return tokens, finish, prompt_tokens

    def binary_chunks(self, request: scaiinfer.InferenceRequest) -> Iterator[bytes]:
        """Deterministic binary output, `max_output_bytes` in total."""
        self.model(request.model, "model", _CHAT)
        if request.max_output_bytes == 0:
            raise invalid("max_output_bytes", "must be at least 1 for binary output")
        size = self.binary_chunk_size
        block = hashlib.shake_256(request.model.encode()).digest(size)
        whole, rest = divmod(request.max_output_bytes, size)
        for _ in range(whole):
            yield block
        if rest:
            yield block[:rest]

    def embed(self, request: scaiinfer.EmbedRequest) -> scaiinfer.EmbedResponse:
        model = self.model(request.model, "model", _EMBED)
        if not request.inputs:
            raise invalid("inputs", "at least one input is required")
        response = scaiinfer.EmbedResponse(model=model.id)
        total = 0
        for i, text in enumerate(request.inputs):
            if not text.strip():
                raise invalid(f"inputs[{i}]", "must not be empty")
            tokens = len(text.split())
            if tokens > model.context_length:
                raise invalid(
                    f"inputs[{i}]",
                    f"{tokens} tokens exceed the context length {model.context_length} "
                    f"of '{model.id}'",
                )
            total += tokens
            rng = random.Random(_digest(model.id, text))
            values = [rng.gauss(0.0, 1.0) for _ in range(model.embedding_dimensions)]
            norm = math.sqrt(sum(v * v for v in values))
            response.embeddings.add(index=i, values=[v / norm for v in values])
        response.usage.prompt_tokens = total
        response.usage.total_tokens = total
        return response

    # -- heartbeats -----------------------------------------------------------

    def heartbeat(self, request: scaiinfer.HeartbeatRequest) -> scaiinfer.HeartbeatResponse:
        if not request.node_id:
            raise invalid("node_id", "is required")
        if not 0 <= request.gpu_utilization <= 1:
            raise invalid("gpu_utilization", "must be between 0 and 1")
        if request.gpu_memory_used_bytes > request.gpu_memory_total_bytes:
            raise invalid("gpu_memory_used_bytes", "must not exceed gpu_memory_total_bytes")
        history = self.heartbeats.setdefault(request.node_id, [])
        record = HeartbeatRecord(scaiinfer.HeartbeatRequest(), time.time(), len(history) + 1)
        record.request.CopyFrom(request)
        self._save(Record("heartbeat", "", record.request, [record.received_at, record.sequence]))
        history.append(record)
        return scaiinfer.HeartbeatResponse(
            node_id=request.node_id,
            sequence=record.sequence,
            received_at=_now(),
            next_interval_ms=5000,
        )

    # -- jobs -----------------------------------------------------------------

    def submit_job(self, request: scaimind.SubmitJobRequest) -> scaimind.Job:
        spec = request.spec
        if not spec.name:
            raise invalid("spec.name", "is required")
        if not spec.base_model:
            raise invalid("spec.base_model", "is required, for example 'scailabs/poolnoodle-omni'")
        if spec.base_model not in self.models:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND,
                "model_not_found",
                f"spec.base_model: model '{spec.base_model}' not found",
            )
        if spec.gpus < 1:
            raise invalid("spec.gpus", "must be at least 1")
        if spec.max_steps < 1:
            raise invalid("spec.max_steps", "must be at least 1")
        job = scaimind.Job(
            id=self._next_id("job"), state=scaimind.JOB_STATE_QUEUED, created_at=_now()
        )
        job.spec.CopyFrom(spec)
        self._save(Record("job", job.id, job))
        entry = _Job(job)
        self.jobs[job.id] = entry
        entry.task = asyncio.get_running_loop().create_task(self._run_job(entry))
        self.notify()
        return job

    async def _run_job(self, entry: _Job) -> None:
        job = entry.job
        if job.state == scaimind.JOB_STATE_QUEUED:
            await asyncio.sleep(self.step_interval)
            job.state = scaimind.JOB_STATE_RUNNING
            job.started_at.CopyFrom(_now())
            self._save(Record("job", job.id, job))
            self.notify()
        lr = float(job.spec.hyperparameters.get("learning_rate", "0.0003") or 0.0003)
        # (from the step after the last one recorded: a restarted fake goes on)
        for step in range(job.current_step + 1, job.spec.max_steps + 1):
            await asyncio.sleep(self.step_interval)
            job.current_step = step
            last = step == job.spec.max_steps
            if last:
                job.state = scaimind.JOB_STATE_SUCCEEDED
                job.finished_at.CopyFrom(_now())
            progress = step / job.spec.max_steps
            entry.points.append(
                scaimind.StreamMetricsResponse(
                    job_id=job.id,
                    step=step,
                    values={
                        "loss": round(2.5 * math.exp(-3.0 * progress) + 0.1, 6),
                        "learning_rate": lr * (1.0 - 0.9 * progress),
                        "tokens_per_second": 1000.0 * job.spec.gpus,
                    },
                    recorded_at=_now(),
                    job_state=job.state,
                    epoch=self.epoch,
                )
            )
            self._save(Record("job", job.id, job), Record("point", job.id, entry.points[-1]))
            self.notify()

    def job(self, job_id: str) -> _Job:
        if not job_id:
            raise invalid("job_id", "is required")
        entry = self.jobs.get(job_id)
        if entry is None:
            raise FakeError(grpc.StatusCode.NOT_FOUND, "job_not_found", f"job '{job_id}' not found")
        return entry

    def cancel_job(self, job_id: str) -> scaimind.Job:
        entry = self.job(job_id)
        job = entry.job
        if job.state == scaimind.JOB_STATE_CANCELLED:
            return job
        if job.state in TERMINAL_JOB_STATES:
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "invalid_state",
                f"job '{job_id}' already {scaimind.JobState.Name(job.state)}",
            )
        if entry.task is not None:
            entry.task.cancel()
        job.state = scaimind.JOB_STATE_CANCELLED
        job.finished_at.CopyFrom(_now())
        self._save(Record("job", job.id, job))
        self.notify()
        return job

    # -- cluster --------------------------------------------------------------

    def register_node(self, request: scaimind.RegisterNodeRequest) -> scaimind.Node:
        if not request.node_id:
            raise invalid("node_id", "is required")
        if request.gpus < 1:
            raise invalid("gpus", "must be at least 1")
        used = self.node_gpus_used.setdefault(request.node_id, set())
        if any(i >= request.gpus for i in used):
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "invalid_state",
                f"gpus: node '{request.node_id}' has GPUs allocated above index {request.gpus - 1}",
            )
        previous = self.nodes.get(request.node_id)
        node = scaimind.Node(
            node_id=request.node_id,
            address=request.address,
            gpus=request.gpus,
            gpu_type=request.gpu_type,
            gpu_memory_bytes=request.gpu_memory_bytes,
            gpus_free=request.gpus - len(used),
            labels=dict(request.labels),
            registered_at=previous.registered_at if previous else _now(),
        )
        self._save(Record("node", node.node_id, node))
        self.nodes[node.node_id] = node
        return node

    def allocate_gpus(self, request: scaimind.AllocateGPUsRequest) -> scaimind.Allocation:
        if not request.job_id:
            raise invalid("job_id", "is required")
        if request.count < 1:
            raise invalid("count", "must be at least 1")
        candidates = [
            n
            for n in sorted(self.nodes.values(), key=lambda n: n.node_id)
            if not request.gpu_type or n.gpu_type == request.gpu_type
        ]
        free = sum(n.gpus_free for n in candidates)
        if free < request.count:
            kind = f" {request.gpu_type}" if request.gpu_type else ""
            raise FakeError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "insufficient_gpus",
                f"count: {request.count}{kind} GPUs requested, {free} free",
            )
        allocation = scaimind.Allocation(
            id=self._next_id("alloc"), job_id=request.job_id, count=request.count, created_at=_now()
        )
        wanted = request.count
        for node in candidates:
            if not wanted:
                break
            used = self.node_gpus_used.setdefault(node.node_id, set())
            picked = [i for i in range(node.gpus) if i not in used][:wanted]
            if picked:
                used.update(picked)
                node.gpus_free -= len(picked)
                wanted -= len(picked)
                allocation.assignments.add(node_id=node.node_id, gpu_indices=picked)
                self._save(
                    Record("node", node.node_id, node),
                    Record("gpus_used", node.node_id, value=sorted(used)),
                )
        self._save(Record("allocation", allocation.id, allocation))
        self.allocations[allocation.id] = allocation
        return allocation

    def release_gpus(self, allocation_id: str) -> scaimind.Allocation:
        if not allocation_id:
            raise invalid("allocation_id", "is required")
        allocation = self.allocations.get(allocation_id)
        if allocation is None:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND,
                "allocation_not_found",
                f"allocation '{allocation_id}' not found",
            )
        if not allocation.HasField("released_at"):
            for assignment in allocation.assignments:
                used = self.node_gpus_used[assignment.node_id]
                used.difference_update(assignment.gpu_indices)
                self._save(Record("gpus_used", assignment.node_id, value=sorted(used)))
                node = self.nodes.get(assignment.node_id)
                if node is not None:
                    node.gpus_free += len(assignment.gpu_indices)
                    self._save(Record("node", node.node_id, node))
            allocation.released_at.CopyFrom(_now())
            self._save(Record("allocation", allocation.id, allocation))
        return allocation

    # -- cores ----------------------------------------------------------------

    def core(self, core_id: str) -> _Core:
        if not core_id:
            raise invalid("core_id", "is required")
        core = self.cores.get(core_id)
        if core is None:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND, "core_not_found", f"core '{core_id}' not found"
            )
        return core

    def _event(
        self, core: _Core, event_type: int, invocation_id: str = "", **attributes: str
    ) -> None:
        instance = core.instance
        instance.last_sequence += 1
        instance.updated_at.CopyFrom(_now())
        event = scaicore.StreamEventsResponse(
            core_id=instance.core_id,
            sequence=instance.last_sequence,
            type=event_type,  # type: ignore[arg-type]
            occurred_at=instance.updated_at,
            invocation_id=invocation_id,
            attributes={"state": scaicore.CoreState.Name(instance.state), **attributes},
            epoch=self.epoch,
        )
        self._save(
            Record("core", instance.core_id, instance), Record("event", instance.core_id, event)
        )
        core.events.append(event)
        self.notify()

    def invoke_core(self, request: scaicore.InvokeCoreRequest) -> scaicore.InvokeCoreResponse:
        if not request.core_id:
            raise invalid("core_id", "is required")
        core = self.cores.get(request.core_id)
        if core is None:
            core = _Core(scaicore.CoreInstance(core_id=request.core_id))
            self.cores[request.core_id] = core
        instance = core.instance
        activated = instance.state != scaicore.CORE_STATE_ACTIVE
        if activated:
            instance.state = scaicore.CORE_STATE_ACTIVE
            self._event(core, scaicore.EVENT_TYPE_ACTIVATED)
        instance.invocation_count += 1
        invocation_id = self._next_id("inv")
        self._save(Record("invocation", request.core_id, request))
        core.invocations.append(request)
        self._event(core, scaicore.EVENT_TYPE_INVOKED, invocation_id)
        try:
            echo: object = json.loads(request.payload) if request.payload else None
        except ValueError:
            echo = request.payload.decode("utf-8", "replace")
        output = {
            "core_id": request.core_id,
            "invocation": instance.invocation_count,
            "input_bytes": len(request.payload),
            "echo": echo,
        }
        return scaicore.InvokeCoreResponse(
            invocation_id=invocation_id,
            instance=instance,
            output=json.dumps(output, sort_keys=True).encode(),
            content_type="application/json",
            activated=activated,
        )

    def _move(
        self, core_id: str, source: int, target: int, event_type: int, refusal: str
    ) -> scaicore.CoreInstance:
        core = self.core(core_id)
        if core.instance.state != source:
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION, "invalid_state", f"core '{core_id}' {refusal}"
            )
        core.instance.state = target  # type: ignore[assignment]
        self._event(core, event_type)
        return core.instance

    def passivate_core(self, core_id: str) -> scaicore.CoreInstance:
        return self._move(
            core_id,
            scaicore.CORE_STATE_ACTIVE,
            scaicore.CORE_STATE_PASSIVATED,
            scaicore.EVENT_TYPE_PASSIVATED,
            "is already passivated",
        )

    def restore_core(self, core_id: str) -> scaicore.CoreInstance:
        return self._move(
            core_id,
            scaicore.CORE_STATE_PASSIVATED,
            scaicore.CORE_STATE_ACTIVE,
            scaicore.EVENT_TYPE_RESTORED,
            "is active; only a passivated core can be restored",
        )

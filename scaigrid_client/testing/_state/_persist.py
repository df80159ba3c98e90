"""The fake's state on disk, for `FakeScaiGrid(state_dir=...)`: what is
written, and how.

What: one `Record` per change (the ``*_record`` functions, one per kind),
`snapshot()` of all the tables, and `replay()` of records into them. Every
kind of line in the file is named here and nowhere else.

How: an append-only journal, ``state.jsonl`` in the directory: one JSON line per
change (a core's new event, a job's new step, a node, an idempotent reply),
written with a single ``write`` before the change is visible to any client.
A process killed at any moment leaves whole lines plus at most one torn
last line, which loading drops. Each start replays the journal and then
rewrites it as a compact snapshot (to a temporary file, then an atomic
rename), so it does not grow across restarts. Nothing is fsynced: the state
survives the process being killed, not the machine losing power.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool, message as _message, message_factory

from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client.testing._state._tables import CoreEntry, HeartbeatRecord, JobEntry, Tables

__all__ = [
    "Record",
    "StateLog",
    "allocation_record",
    "core_record",
    "counter_record",
    "event_record",
    "gpus_used_record",
    "heartbeat_record",
    "invocation_record",
    "job_record",
    "node_record",
    "point_record",
    "replay",
    "reply_record",
    "snapshot",
]

_FILE = "state.jsonl"


@dataclass(frozen=True)
class Record:
    """One change: its kind, the key it applies to, and a message or a value."""

    kind: str
    key: str = ""
    message: _message.Message | None = None
    value: Any = None

    def to_line(self) -> bytes:
        entry: dict[str, Any] = {"k": self.kind, "id": self.key}
        if self.message is not None:
            entry["t"] = self.message.DESCRIPTOR.full_name
            entry["m"] = base64.b64encode(self.message.SerializeToString()).decode("ascii")
        if self.value is not None:
            entry["v"] = self.value
        return json.dumps(entry, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Record:
        entry = json.loads(line)
        message = None
        if "m" in entry:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(entry["t"])
            message = message_factory.GetMessageClass(descriptor).FromString(
                base64.b64decode(entry["m"])
            )
        return cls(entry["k"], entry["id"], message, entry.get("v"))


class StateLog:
    """The journal in ``directory`` (created if missing)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / _FILE
        self._fd: int | None = None

    def load(self) -> Iterator[Record]:
        """Every whole record, oldest first; a torn last line is skipped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                yield Record.from_line(line)
            except (ValueError, KeyError, TypeError):
                return  # a write cut short by a kill: nothing after it was written

    def rewrite(self, records: Iterable[Record]) -> None:
        """Replace the journal with ``records`` atomically, and append after them."""
        self.close()
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as snapshot:
            for record in records:
                snapshot.write(record.to_line())
        os.replace(temporary, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def append(self, *records: Record) -> None:
        """Write ``records`` in one system call, so a kill leaves all or none."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        data = b"".join(record.to_line() for record in records)
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- what is written: one record per change -------------------------------------

# An idempotency key (method, request id) as one string.
_KEY_SEPARATOR = "\x1f"


def counter_record(prefix: str, number: int) -> Record:
    return Record("counter", prefix, value=number)


def job_record(job: scaimind.Job) -> Record:
    return Record("job", job.id, job)


def point_record(job_id: str, point: scaimind.StreamMetricsResponse) -> Record:
    return Record("point", job_id, point)


def node_record(node: scaimind.Node) -> Record:
    return Record("node", node.node_id, node)


def gpus_used_record(node_id: str, used: set[int]) -> Record:
    return Record("gpus_used", node_id, value=sorted(used))


def allocation_record(allocation: scaimind.Allocation) -> Record:
    return Record("allocation", allocation.id, allocation)


def core_record(instance: scaicore.CoreInstance) -> Record:
    return Record("core", instance.core_id, instance)


def event_record(core_id: str, event: scaicore.StreamEventsResponse) -> Record:
    return Record("event", core_id, event)


def invocation_record(core_id: str, invocation: scaicore.InvokeCoreRequest) -> Record:
    return Record("invocation", core_id, invocation)


def heartbeat_record(beat: HeartbeatRecord) -> Record:
    return Record("heartbeat", "", beat.request, [beat.received_at, beat.sequence])


def reply_record(key: tuple[str, str], reply: _message.Message) -> Record:
    return Record("reply", _KEY_SEPARATOR.join(key), reply)


def snapshot(tables: Tables) -> Iterator[Record]:
    """Every table as records, which `replay` turns back into the same tables."""
    yield Record("epoch", value=tables.epoch)
    for prefix, number in tables.counters.items():
        yield counter_record(prefix, number)
    for entry in tables.jobs.values():
        yield job_record(entry.job)
        for point in entry.points:
            yield point_record(entry.job.id, point)
    for node in tables.nodes.values():
        yield node_record(node)
    for node_id, used in tables.node_gpus_used.items():
        yield gpus_used_record(node_id, used)
    for allocation in tables.allocations.values():
        yield allocation_record(allocation)
    for core_id, core in tables.cores.items():
        yield core_record(core.instance)
        for event in core.events:
            yield event_record(core_id, event)
        for invocation in core.invocations:
            yield invocation_record(core_id, invocation)
    for records in tables.heartbeats.values():
        for beat in records:
            yield heartbeat_record(beat)
    for key, reply in tables.replies.items():
        yield reply_record(key, reply)


def replay(tables: Tables, records: Iterable[Record]) -> None:
    """Apply ``records``, oldest first, to ``tables``."""
    for record in records:
        _apply(tables, record)


def _apply(tables: Tables, record: Record) -> None:
    kind, key, message, value = record.kind, record.key, record.message, record.value
    if kind == "epoch":
        tables.epoch = value
    elif kind == "counter":
        tables.counters[key] = value
    elif kind == "job":
        assert isinstance(message, scaimind.Job)
        if key in tables.jobs:
            tables.jobs[key].job = message
        else:
            tables.jobs[key] = JobEntry(message)
    elif kind == "point":
        assert isinstance(message, scaimind.StreamMetricsResponse)
        tables.jobs[key].points.append(message)
    elif kind == "node":
        assert isinstance(message, scaimind.Node)
        tables.nodes[key] = message
    elif kind == "gpus_used":
        tables.node_gpus_used[key] = set(value)
    elif kind == "allocation":
        assert isinstance(message, scaimind.Allocation)
        tables.allocations[key] = message
    elif kind == "core":
        assert isinstance(message, scaicore.CoreInstance)
        core = tables.cores.get(key)
        if core is None:
            tables.cores[key] = CoreEntry(message)
        else:
            core.instance = message
    elif kind == "event":
        assert isinstance(message, scaicore.StreamEventsResponse)
        tables.cores[key].events.append(message)
    elif kind == "invocation":
        assert isinstance(message, scaicore.InvokeCoreRequest)
        tables.cores[key].invocations.append(message)
    elif kind == "heartbeat":
        assert isinstance(message, scaiinfer.HeartbeatRequest)
        received_at, sequence = value
        history = tables.heartbeats.setdefault(message.node_id, [])
        history.append(HeartbeatRecord(message, received_at, sequence))
    elif kind == "reply":
        assert message is not None
        method, _, request_id = key.partition(_KEY_SEPARATOR)
        tables.replies[(method, request_id)] = message

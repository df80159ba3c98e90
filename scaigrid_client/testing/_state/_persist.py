"""The fake's state on disk, for `FakeScaiGrid(state_dir=...)`.

An append-only journal, ``state.jsonl`` in the directory: one JSON line per
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

__all__ = ["Record", "StateLog"]

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

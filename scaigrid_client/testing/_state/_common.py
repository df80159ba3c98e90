"""What every domain of the fake's state shares: the `Ledger`.

The tables, the journal each change is written to before a client can see
it, ids from persistent counters, the history epoch, and the event streams
that follow live state wait on.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import grpc
from google.protobuf import message as _message, timestamp_pb2

from scaigrid_client.testing._errors import FakeError
from scaigrid_client.testing._state._persist import (
    Record,
    StateLog,
    counter_record,
    reply_record,
)
from scaigrid_client.testing._state._tables import Tables

__all__ = ["Ledger", "digest", "now"]


def now() -> timestamp_pb2.Timestamp:
    # Not GetCurrentTime(): protobuf 5.29's calls datetime.utcnow(), which
    # warns on Python 3.12 and later, and users run their suites with -W error.
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


class Ledger:
    """The tables, and the bookkeeping every change to them goes through."""

    def __init__(self, tables: Tables, log: StateLog | None) -> None:
        self.tables = tables
        self._log = log
        self._changed = asyncio.Event()

    @property
    def epoch(self) -> str:
        return self.tables.epoch

    def save(self, *records: Record) -> None:
        """Journal a change before any client can see it."""
        if self._log is not None:
            self._log.append(*records)

    def next_id(self, prefix: str) -> str:
        counters = self.tables.counters
        number = counters[prefix] = counters.get(prefix, 0) + 1
        self.save(counter_record(prefix, number))
        return f"{prefix}-{number:06d}"

    def remember_reply(self, key: tuple[str, str], reply: _message.Message) -> None:
        self.tables.replies[key] = reply
        self.save(reply_record(key, reply))

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

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

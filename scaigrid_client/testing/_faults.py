"""Injected trouble: faults and delays queued per method, and dropped streams.

Faults and delays are used one per attempt, first in first out, so
"UNAVAILABLE twice, then OK" is deterministic. Every open server stream is
registered here, so `drop_streams` can end them all as a restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from scaigrid_client.testing._errors import FakeError
from scaigrid_client.testing._services import check_method

__all__ = ["Fault", "Faults", "OpenStream"]


@dataclass
class Fault:
    """One injected failure, as `FakeScaiGrid.fail` describes it."""

    status: grpc.StatusCode
    code: str | None
    message: str
    after_messages: int
    after_effect: bool
    pushback_ms: int | str | None

    def error(self) -> FakeError:
        return FakeError(self.status, self.code or "", self.message, self.pushback_ms)


@dataclass(eq=False)
class OpenStream:
    """A server stream in progress; its handler ends it once ``dropped`` is set."""

    dropped: FakeError | None = None


def check_count(value: object, name: str, least: int) -> None:
    """A whole number of at least ``least``, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{name}: must be at least {least}, got {value}")


def check_seconds(value: object, name: str) -> None:
    """A finite number of seconds, at least 0, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number of seconds, at least 0, got {value}")


class Faults:
    """The queued faults and delays of each method, and the open streams."""

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._streams: set[OpenStream] = set()

    def fail(self, method: str, fault: Fault, *, times: int) -> None:
        """Queue ``fault`` for the next ``times`` attempts of ``method``."""
        check_method(method)
        status = fault.status
        if not isinstance(status, grpc.StatusCode) or status is grpc.StatusCode.OK:
            raise ValueError("status: pass a grpc.StatusCode other than OK")
        if fault.code is not None and (not isinstance(fault.code, str) or not fault.code):
            raise TypeError(f"code: expected a non-empty str or None, got {fault.code!r}")
        if not isinstance(fault.message, str):
            raise TypeError(f"message: expected a str, got {type(fault.message).__name__}")
        check_count(times, "times", 1)
        check_count(fault.after_messages, "after_messages", 0)
        self._faults.setdefault(method, deque()).extend([fault] * times)

    def delay(self, method: str, *, seconds: float, times: int) -> None:
        check_method(method)
        check_seconds(seconds, "seconds")
        check_count(times, "times", 1)
        self._delays.setdefault(method, deque()).extend([seconds] * times)

    async def next(self, method: str) -> Fault | None:
        """Wait out this attempt's delay, if any; return its fault, if any."""
        delays = self._delays.get(method)
        if delays:
            await asyncio.sleep(delays.popleft())
        faults = self._faults.get(method)
        return faults.popleft() if faults else None

    @contextlib.contextmanager
    def open_stream(self) -> Iterator[OpenStream]:
        stream = OpenStream()
        self._streams.add(stream)
        try:
            yield stream
        finally:
            self._streams.discard(stream)

    def drop_streams(self, error: FakeError) -> int:
        """Mark every open stream dropped with ``error``; return how many.
        (The handlers see it once the state's change event wakes them.)"""
        streams = list(self._streams)
        for stream in streams:
            stream.dropped = error
        return len(streams)

    def clear(self) -> None:
        """Forget the queued faults and delays."""
        self._faults.clear()
        self._delays.clear()

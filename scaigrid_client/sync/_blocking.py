"""What only the sync flavour does in the call loop (`sync/_call_loop.py`,
written from the async one, imports this module as ``flavour``): how an
attempt blocks, sleeping, how a stream's idle timeout is enforced (one
watchdog thread), and what a cancellation means.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable, Generator, Iterator
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._call import CallState, Metadata, Req, Resp
from scaigrid_client._streams import StreamFlowBase

__all__ = ["STREAM_FAILURES", "FlowBase", "invoke", "probe_setup_failure", "release", "sleep"]

# What ends a stream's attempt other than its end: grpc's error (a
# cancellation is one too), and the idle timeout (`_watched`).
STREAM_FAILURES = (grpc.RpcError, TimeoutError)

sleep = time.sleep


def invoke(
    fn: Any, request: Any, timeout: float | None, metadata: Metadata, with_call: bool
) -> tuple[Any, Any]:
    """One unary attempt: ``(response, call)``; the call (for its metadata)
    only when asked for, since grpc's with_call costs more."""
    if with_call:
        return fn.with_call(request, timeout=timeout, metadata=metadata)  # type: ignore[no-any-return]
    return fn(request, timeout=timeout, metadata=metadata), None


def release(messages: Any) -> None:
    """Close an attempt's `_watched` generator now (grpc's sync call itself
    needs nothing: it is no generator, and was cancelled)."""
    if isinstance(messages, types.GeneratorType) and not messages.gi_running:
        messages.close()


def probe_setup_failure(target: str, tls: Any, timeout: float) -> str | None:
    """The TLS probe (`_diagnose`), imported only by a client that needs it."""
    from scaigrid_client import _diagnose

    return _diagnose.probe_setup_failure(target, tls, timeout)


class FlowBase(StreamFlowBase[Req, Resp]):
    """A stream's state, with what the sync flavour does differently."""

    __slots__ = ("wake",)

    def __init__(
        self,
        transport: Any,
        state: CallState,
        request: Req,
        resume: Callable[[Req, Resp], Req] | None,
        idle_timeout: float | None,
    ) -> None:
        super().__init__(transport, state, request, resume, idle_timeout)
        self.wake = threading.Event()  # cuts a backoff short on cancel()

    def cancel(self) -> None:
        self.wake.set()
        super().cancel()

    def watched(self, call: Any) -> Iterator[Resp]:
        """The call's messages, each within the idle timeout of the one before."""
        return call if self.idle_timeout is None else _watched(call, self.idle_timeout)

    def pause(self, delay: float) -> None:
        self.wake.wait(delay)

    def failed(self, exc: BaseException, call: Any) -> errors.ScaiGridError | None:
        """The typed error that ended an attempt, or None when cancel() ended it."""
        transport, state = self.transport, self.state
        if self.done:
            return None  # cancel(), from this thread or another
        if isinstance(exc, TimeoutError):
            return transport.idle_error(state, self.idle_timeout)  # type: ignore[no-any-return]
        if transport.closed:
            return transport.closed_error(state)  # type: ignore[no-any-return]
        return transport.failure(exc, state)  # type: ignore[no-any-return]


class _Watch:
    """One stream attempt watched for idleness."""

    __slots__ = ("call", "fired", "idle_timeout", "last")

    def __init__(self, call: Any, idle_timeout: float) -> None:
        self.call = call
        self.idle_timeout = idle_timeout
        self.last = time.monotonic()  # when the last message (or the start) was
        self.fired = False


class _IdleWatchdog:
    """One thread for every sync stream that has an idle timeout: it cancels
    a call that has delivered nothing for longer than that. (grpc's sync
    iterator waits without a timeout of its own, and a timer per message
    would cost a thread per message.) It runs only while streams are
    watched."""

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, call: Any, idle_timeout: float) -> _Watch:
        watch = _Watch(call, idle_timeout)
        with self._lock:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="scaigrid-idle-watchdog", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return watch

    def forget(self, watch: _Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._watches:
                    self._thread = None
                    return
                watches = list(self._watches)
            now = time.monotonic()
            tick = 1.0
            for watch in watches:
                left = watch.last + watch.idle_timeout - now
                if left <= 0:
                    if not watch.fired:
                        watch.fired = True
                        watch.call.cancel()
                else:
                    tick = min(tick, left)
            self._wake.wait(max(tick, 0.005))
            self._wake.clear()


_watchdog = _IdleWatchdog()


def _watched(call: Any, idle_timeout: float) -> Generator[Any, None, None]:
    """The call's messages while the watchdog sees them come; a call it
    cancelled for idleness ends in TimeoutError, as the async flavour's does."""
    watch = _watchdog.watch(call, idle_timeout)
    try:
        for message in call:
            watch.last = time.monotonic()
            yield message
    except grpc.RpcError:
        if watch.fired:
            raise TimeoutError from None
        raise
    finally:
        _watchdog.forget(watch)

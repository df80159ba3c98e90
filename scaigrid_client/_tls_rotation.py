"""How a client moves to rotated TLS material (`_tls_files.TLSFiles`),
in both flavours.

grpcio gives a channel no way to change its credentials, and closing a
channel cancels its calls; dropping one unclosed leaks its sockets. So each
channel a rotating client builds is a `Lease` that counts the calls open on
it. When the files change, the transport builds a new channel for new calls
and retires the old lease: it is closed when its last call ends, never
before (an established connection is not checked again, so those calls
finish). Resumable streams move over at a message boundary (`_call_loop`).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

from scaigrid_client._config import TLSConfig
from scaigrid_client._fork import channel_closed
from scaigrid_client._tls_files import TLSFiles, TLSStatus

__all__ = ["Lease", "Rotation"]


class Lease:
    """One channel, the material generation it was built with, and the
    calls open on it. ``owner`` is the flavour's (the event loop)."""

    __slots__ = ("channel", "closed", "generation", "open", "owner", "retired", "rotation")

    def __init__(self, rotation: Rotation, channel: Any, generation: int, owner: Any) -> None:
        self.rotation = rotation
        self.channel = channel
        self.generation = generation
        self.owner = owner
        self.open = 0
        self.retired = False
        self.closed = False

    def enter(self) -> bool:
        """A call starts on the channel; False if it has been closed."""
        with self.rotation.lock:
            if self.closed:
                return False
            self.open += 1
            return True

    def leave(self, *_: object) -> None:
        """A call on the channel ended (also grpc's done callback)."""
        with self.rotation.lock:
            self.open -= 1
            if not (self.retired and self.open <= 0 and not self.closed):
                return
            self.closed = True
            self.rotation.draining.discard(self)
        self.rotation.close_channel(self)


class _Counted:
    """A multi-callable whose calls are counted on their lease; on a lease
    closed meanwhile, the current channel's callable takes the call."""

    __slots__ = ("current", "fn", "lease")

    def __init__(self, fn: Any, lease: Lease, current: Callable[[], Any]) -> None:
        self.fn = fn
        self.lease = lease
        self.current = current


class AioCounted(_Counted):
    """grpc.aio: unary and stream calls alike end in a done callback."""

    __slots__ = ()

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        if not self.lease.enter():
            return self.current()(request, **kwargs)
        try:
            call = self.fn(request, **kwargs)
        except BaseException:
            self.lease.leave()
            raise
        call.add_done_callback(self.lease.leave)
        return call


class SyncUnaryCounted(_Counted):
    """grpc's sync unary calls block: they end when they return."""

    __slots__ = ()

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        if not self.lease.enter():
            return self.current()(request, **kwargs)
        try:
            return self.fn(request, **kwargs)
        finally:
            self.lease.leave()

    def with_call(self, request: Any, **kwargs: Any) -> Any:
        if not self.lease.enter():
            return self.current().with_call(request, **kwargs)
        try:
            return self.fn.with_call(request, **kwargs)
        finally:
            self.lease.leave()


class SyncStreamCounted(_Counted):
    """grpc's sync streams end in a termination callback."""

    __slots__ = ()

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        if not self.lease.enter():
            return self.current()(request, **kwargs)
        try:
            call = self.fn(request, **kwargs)
        except BaseException:
            self.lease.leave()
            raise
        if not call.add_callback(self.lease.leave):
            self.lease.leave()  # it has ended already
        return call


class Rotation:
    """A transport's side of a `TLSFiles`: when its channel is stale, the
    leases still draining, and how the flavour closes a channel."""

    def __init__(self, files: TLSFiles, close: Callable[[Lease], None]) -> None:
        self.watch = files._watch
        self._close = close
        self.lock = threading.Lock()
        self.draining: set[Lease] = set()

    def current(self) -> tuple[TLSConfig, int]:
        """The material in use and its generation (one snapshot)."""
        material, generation = self.watch.current
        return material.config, generation

    def stale(self, generation: int) -> bool:
        """Whether a channel of ``generation`` is behind the files (checking
        them when a check is due)."""
        watch = self.watch
        if time.monotonic() >= watch.next_check:
            watch.poll()
        return watch.current[1] != generation

    def retire(self, lease: Lease | None) -> None:
        """New calls go elsewhere now: close ``lease`` when its last call ends."""
        if lease is None:
            return
        with self.lock:
            lease.retired = True
            if lease.open > 0 or lease.closed:
                if not lease.closed:
                    self.draining.add(lease)
                return
            lease.closed = True
        self.close_channel(lease)

    def close_channel(self, lease: Lease) -> None:
        channel_closed()
        self._close(lease)

    def take_draining(self, gone: Callable[[Lease], bool] | None = None) -> list[Lease]:
        """The draining leases (only those ``gone`` picks), given up: the
        caller closes or lets go of their channels."""
        with self.lock:
            taken = [lease for lease in self.draining if gone is None or gone(lease)]
            for lease in taken:
                self.draining.discard(lease)
                lease.closed = True
        for _ in taken:
            channel_closed()
        return taken

    def forget(self) -> list[Lease]:
        """In a forked child: the draining leases, given up untouched (no
        lock: a thread that is gone may hold it)."""
        draining, self.draining = list(self.draining), set()
        self.lock = threading.Lock()
        return draining

    def status(self) -> TLSStatus:
        return self.watch.status(len(self.draining))

    def expires_in(self) -> float:
        not_after = self.watch.current[0].certificate.not_after
        return (not_after - datetime.datetime.now(datetime.timezone.utc)).total_seconds()

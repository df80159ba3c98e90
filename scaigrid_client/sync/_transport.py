"""The sync flavour's channel: every RPC of every sync client goes through
this `Transport`, whose call loop (`sync/_call_loop.py`) is written from the
async one.

grpc's own synchronous stack: a call blocks the calling thread and nothing
else. There is no hidden event-loop thread, so the clients are safe to share
between threads, work inside a thread whose event loop is running (a
notebook cell), and do not serialize their callers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._auth import SyncTokenProvider, resolve_sync_token
from scaigrid_client._base import DEFAULT_KEEPALIVE
from scaigrid_client._call import CallInfo, CallState, MetadataArg, Method
from scaigrid_client._channel import build_sync_channel
from scaigrid_client._config import TLSConfig
from scaigrid_client._fork import channel_closed, channel_opened, check_not_forked
from scaigrid_client._messages import scaiinfer
from scaigrid_client._retry import heartbeat_wait
from scaigrid_client._tls_rotation import Lease, SyncStreamCounted, SyncUnaryCounted
from scaigrid_client.sync._call_loop import CallLoop, ServerStream

__all__ = [
    "DEFAULT_KEEPALIVE",
    "CallInfo",
    "Channel",
    "HeartbeatLoop",
    "Interceptor",
    "MetadataArg",
    "Method",
    "ServerStream",
    "Transport",
]

Channel = grpc.Channel
"""The channel a caller may pass as ``channel=``."""
Interceptor = Any
"""What ``interceptors=`` takes: grpc's sync client interceptors."""


class Transport(CallLoop):
    """The channel, credentials and policies shared by the sync clients built on it.

    grpc's sync channel has no get_state(), and following it with subscribe()
    leaves a polling thread that outlives close(); so whether a failed call
    ever reached the gateway is read from grpc's words alone (`_retry`).
    """

    _token: str | SyncTokenProvider

    _resolve_token = staticmethod(resolve_sync_token)

    def __init__(self, target: str | None, **settings: Any) -> None:
        """``settings``: `BaseTransport`'s keywords (the client's)."""
        super().__init__(target, **settings)
        self._channel: grpc.Channel | None = self._given
        self._callables: dict[str, Any] = {}
        self._lock = threading.Lock()
        # tls=TLSFiles: the current channel's callables and lease, as one
        # value (threads read it whole), and retired channels being closed.
        self._slot: tuple[dict[str, Any], Lease] | None = None
        self._closers: list[threading.Thread] = []
        self._closers_lock = threading.Lock()

    @property
    def channel(self) -> grpc.Channel:
        """The channel, created on first use; safe from any thread."""
        if self._rotation is not None:
            rotating: grpc.Channel = (self._slot or self._rotate())[1].channel
            return rotating
        channel = self._channel
        if channel is None:
            with self._lock:
                if self._closed:
                    raise errors.ClientClosedError("the client is closed; make a new one")
                if self._channel is None:
                    check_not_forked()
                    self._channel = self._build(self.channel_tls())
                channel = self._channel
        return channel

    def _build(self, tls: bool | TLSConfig) -> grpc.Channel:
        channel = build_sync_channel(
            self.target,
            tls,
            self._channel_options,
            self._interceptors,
            self._compression,
            self._keepalive,
            self._proxy,
        )
        channel_opened()
        return channel

    def callable_for(self, method: Method[Any, Any]) -> Any:
        if self._rotation is not None:
            return self._rotating_callable(method)
        fn = self._callables.get(method.path)
        if fn is None:
            fn = self._callables[method.path] = method.callable_on(self.channel)
        return fn

    # -- tls=TLSFiles: a new channel per adopted material (see _tls_rotation) -----------

    def _rotating_callable(self, method: Method[Any, Any]) -> Any:
        assert self._rotation is not None
        slot = self._slot
        if slot is None or self._rotation.stale(slot[1].generation):
            slot = self._rotate()
        callables, lease = slot
        fn = callables.get(method.path)
        if fn is None:
            counted = SyncStreamCounted if method.streaming else SyncUnaryCounted
            fn = callables[method.path] = counted(
                method.callable_on(lease.channel),
                lease,
                functools.partial(self.callable_for, method),
            )
        return fn

    def _rotate(self) -> tuple[dict[str, Any], Lease]:
        """The channel of the material in use, made now unless another
        thread just did; the old one is closed when its last call ends."""
        assert self._rotation is not None
        with self._lock:
            if self._closed:
                raise errors.ClientClosedError("the client is closed; make a new one")
            old = self._slot
            if old is not None and not self._rotation.stale(old[1].generation):
                return old
            check_not_forked()
            tls, generation = self._rotation.current()
            channel = self._channel = self._build(tls)
            slot = self._slot = ({}, Lease(self._rotation, channel, generation, None))
        if old is not None:
            self._rotation.retire(old[1])
        return slot

    def _close_lease(self, lease: Lease) -> None:
        # Off the thread that ended the last call: that may be grpc's own.
        closer = threading.Thread(
            target=lease.channel.close, name="scaigrid-tls-drain", daemon=True
        )
        # Started before close() can see it: joining an unstarted thread raises.
        with self._closers_lock:
            closer.start()
            self._closers = [t for t in self._closers if t.is_alive()] + [closer]

    def reload_tls(self) -> bool:
        """Check the TLSFiles now; whether this client moved to new material."""
        rotation = self._rotation
        if rotation is None:
            return False
        adopted = rotation.watch.check()
        slot = self._slot
        if slot is not None and rotation.stale(slot[1].generation):
            self._rotate()
            return True
        return adopted

    def forget_channels(self) -> object:
        inherited = (self._channel, self._callables, self._slot)
        self._channel = None
        self._callables = {}
        self._slot = None
        self._lock = threading.Lock()
        self._closers_lock = threading.Lock()  # (a parent's thread may have held it)
        return inherited, self._rotation and self._rotation.forget()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
            self._callables = {}
            self._slot = None
        draining = self._rotation.take_draining() if self._rotation is not None else []
        if channel is not None and self._owns_channel:
            channel.close()
            channel_closed()
        for lease in draining:
            lease.channel.close()
        with self._closers_lock:
            closers = self._closers
        for closer in closers:
            closer.join()

    def wait_until_connected(self, limit: float, state: CallState) -> bool:
        """Whether to reopen a stream now. The sync flavour does not wait for
        the channel (grpc's only way, a connectivity subscription, leaves a
        polling thread that fails once the channel is closed): the attempt
        is made at once, and while the gateway is unreachable it fails fast
        without reaching it, counting as a failed attempt with backoff."""
        return not self._closed


class HeartbeatLoop:
    """Periodic heartbeats on a background thread; see HeartbeatClient.start_heartbeats.

    Attributes:
        sent: heartbeats the gateway acknowledged.
        failed: beats that failed (logged, and the loop went on).
        last: the latest acknowledgement (``HeartbeatResponse``: its
            ``next_interval_ms`` is the interval the gateway asks for), or None.
    """

    sent: int
    failed: int
    last: scaiinfer.HeartbeatResponse | None

    def __init__(
        self, beat: Callable[[HeartbeatLoop], object], interval: float | None, jitter: float
    ) -> None:
        self.sent = 0
        self.failed = 0
        self.last = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(beat, interval, jitter), name="scaigrid-heartbeats", daemon=True
        )
        self._thread.start()

    def _run(
        self, beat: Callable[[HeartbeatLoop], object], interval: float | None, jitter: float
    ) -> None:
        while not self._stopped.is_set():
            beat(self)
            self._stopped.wait(heartbeat_wait(interval, self.last, jitter))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop sending and wait until the loop has ended."""
        self._stopped.set()
        self._thread.join()

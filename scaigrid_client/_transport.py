"""The async flavour's channel: every RPC of every async client goes through
this `Transport`, whose call loop is `_call_loop.CallLoop`.

A grpc.aio channel belongs to the event loop it was made on, so the
transport keeps one per loop: a client outlives `asyncio.run()`, serves a
new loop per test, and serves several loops in several threads at once.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._auth import TokenProvider, resolve_token
from scaigrid_client._base import DEFAULT_KEEPALIVE
from scaigrid_client._call import CallInfo, CallState, MetadataArg, Method
from scaigrid_client._call_loop import CallLoop, ServerStream
from scaigrid_client._channel import build_channel
from scaigrid_client._config import TLSConfig
from scaigrid_client._fork import channel_closed, channel_opened, check_not_forked
from scaigrid_client._messages import scaiinfer
from scaigrid_client._retry import heartbeat_wait
from scaigrid_client._tls_rotation import AioCounted, Lease

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

Channel = grpc.aio.Channel
"""The channel a caller may pass as ``channel=``."""
Interceptor = grpc.aio.ClientInterceptor
"""What ``interceptors=`` takes."""


class _Bound:
    """A channel and its method callables, on one event loop; with
    tls=TLSFiles, its lease (the material's generation, its open calls)."""

    __slots__ = ("callables", "channel", "generation", "lease", "loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, channel: grpc.aio.Channel, lease: Lease | None
    ) -> None:
        self.loop = loop
        self.channel = channel
        self.callables: dict[str, Any] = {}
        self.lease = lease
        self.generation = 0 if lease is None else lease.generation


class Transport(CallLoop):
    """Channels, credentials and policies shared by the async clients built on it."""

    _token: str | TokenProvider
    _given: grpc.aio.Channel | None

    _resolve_token = staticmethod(resolve_token)

    def __init__(self, target: str | None, **settings: Any) -> None:
        """``settings``: `BaseTransport`'s keywords (the client's)."""
        super().__init__(target, **settings)
        self._bound: _Bound | None = None  # the last loop's: the fast path
        self._by_loop: dict[asyncio.AbstractEventLoop, _Bound] = {}
        self._lock = threading.Lock()
        self._closing: set[asyncio.Future[None]] = set()  # retired channels being closed
        # Each open stream attempt's call and its loop, for close() (see there).
        self._streams: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop] = (
            weakref.WeakKeyDictionary()
        )

    # -- channels, one per event loop -----------------------------------------------------

    def _binding(self) -> _Bound:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise errors.NoEventLoopError(
                "the async clients need a running event loop: await their methods inside "
                "a coroutine (asyncio.run), or use scaigrid_client.sync for blocking code"
            ) from None
        bound = self._bound
        if bound is not None and bound.loop is loop:
            return bound
        return self._bind(loop)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> _Bound:
        check_not_forked()
        with self._lock:
            if self._closed:
                raise errors.ClientClosedError("the client is closed; make a new one")
            # A loop that has closed took its channel's machinery with it; the
            # channel cannot be closed any more, only let go.
            for gone in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[gone]
                if self._owns_channel:
                    channel_closed()
            if self._rotation is not None:
                self._rotation.take_draining(lambda lease: lease.owner.is_closed())
            bound = self._by_loop.get(loop)
            if bound is None:
                bound = self._by_loop[loop] = self._new_bound(loop)
            self._bound = bound
            return bound

    def _new_bound(self, loop: asyncio.AbstractEventLoop) -> _Bound:
        if self._rotation is None:
            return _Bound(loop, self._new_channel(loop, self.channel_tls()), None)
        tls, generation = self._rotation.current()
        channel = self._new_channel(loop, tls)
        return _Bound(loop, channel, Lease(self._rotation, channel, generation, loop))

    def _rotate(self, loop: asyncio.AbstractEventLoop) -> _Bound:
        """A new channel for this loop from the material in use; the old one
        is closed when its last call ends."""
        assert self._rotation is not None
        with self._lock:
            if self._closed:
                raise errors.ClientClosedError("the client is closed; make a new one")
            old = self._by_loop.get(loop)
            bound = self._by_loop[loop] = self._new_bound(loop)
            self._bound = bound
        if old is not None:
            self._rotation.retire(old.lease)
        return bound

    def _close_lease(self, lease: Lease) -> None:
        loop: asyncio.AbstractEventLoop = lease.owner
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            closing: asyncio.Future[None] = loop.create_task(lease.channel.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        elif loop.is_running():
            asyncio.run_coroutine_threadsafe(lease.channel.close(), loop)

    async def reload_tls(self) -> bool:
        """Check the TLSFiles now; whether this client moved to new material."""
        rotation = self._rotation
        if rotation is None:
            return False
        adopted = rotation.watch.check()
        bound = self._by_loop.get(asyncio.get_running_loop())
        if bound is not None and rotation.stale(bound.generation):
            self._rotate(bound.loop)
            return True
        return adopted

    def _new_channel(
        self, loop: asyncio.AbstractEventLoop, tls: bool | TLSConfig
    ) -> grpc.aio.Channel:
        if self._given is not None:
            if getattr(self._given, "_loop", loop) is not loop:
                raise errors.ClientStateError(
                    "the channel passed as channel= belongs to another event loop, and a "
                    "grpc.aio channel works only on its own; create it on this loop, or let "
                    "the client build its channels (one per loop)"
                )
            return self._given
        channel = build_channel(
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

    @property
    def channel(self) -> grpc.aio.Channel:
        """The running loop's channel, created on first use."""
        return self._binding().channel

    def callable_for(self, method: Method[Any, Any]) -> Any:
        # (the fast paths inline: this runs for every attempt of every call)
        bound = self._bound
        if bound is None or bound.loop is not asyncio.get_running_loop():
            bound = self._binding()
        if self._rotation is not None and self._rotation.stale(bound.generation):
            bound = self._rotate(bound.loop)
        fn = bound.callables.get(method.path)
        if fn is None:
            fn = method.callable_on(bound.channel)
            if bound.lease is not None:
                fn = AioCounted(fn, bound.lease, functools.partial(self.callable_for, method))
            bound.callables[method.path] = fn
        return fn

    def forget_channels(self) -> object:
        # (no lock: in a forked child it may be held by a thread that is gone)
        bindings, self._by_loop, self._bound = self._by_loop, {}, None
        self._streams = weakref.WeakKeyDictionary()  # the parent's: not ours to cancel
        self._lock = threading.Lock()
        return bindings, self._rotation and self._rotation.forget()

    async def start(self, state: CallState, request: Any) -> Any:
        call = await super().start(state, request)
        self._streams[call] = asyncio.get_running_loop()
        return call

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            bindings = list(self._by_loop.values())
            self._by_loop.clear()
            self._bound = None
        draining = self._rotation.take_draining() if self._rotation is not None else []
        if not self._owns_channel:
            return
        current = asyncio.get_running_loop()
        # grpc.aio before 1.83 cancels on close only the calls it finds in its
        # tasks' frames: a stream waiting for its next message is not among
        # them, and would wait on past close(). So the streams go first.
        streams, self._streams = list(self._streams.items()), weakref.WeakKeyDictionary()
        for call, loop in streams:
            if loop is current:
                call.cancel()
            elif loop.is_running():
                loop.call_soon_threadsafe(call.cancel)
        for _ in bindings:
            channel_closed()
        channels = [(b.loop, b.channel) for b in bindings] + [
            (d.owner, d.channel) for d in draining
        ]
        for loop, channel in channels:
            if loop is current:
                await channel.close()
            elif loop.is_running():
                # Another thread's loop: it closes its own channel.
                asyncio.run_coroutine_threadsafe(channel.close(), loop)
        closing = [task for task in self._closing if task.get_loop() is current]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)

    def connected(self) -> bool:
        bound = self._bound
        if bound is None or not self._owns_channel:
            return True
        return bound.channel.get_state(try_to_connect=False) is grpc.ChannelConnectivity.READY

    async def wait_until_connected(self, limit: float, state: CallState) -> bool:
        """Wait up to ``limit`` seconds (and the call's deadline) for the
        channel to connect; whether it did. Makes no call, so streams waiting
        out an outage cost the gateway nothing."""
        remaining = state.remaining()
        if remaining is not None:
            limit = min(limit, remaining)
        if self._closed:
            return False
        channel = self.channel
        ready = grpc.ChannelConnectivity.READY
        connectivity = channel.get_state(try_to_connect=True)
        deadline = time.monotonic() + limit
        while connectivity is not ready:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(channel.wait_for_state_change(connectivity), left)
            except asyncio.TimeoutError:
                return False
            connectivity = channel.get_state(try_to_connect=True)
        return True


class HeartbeatLoop:
    """Periodic heartbeats in the background; see HeartbeatClient.start_heartbeats.

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
        self, beat: Callable[[HeartbeatLoop], Any], interval: float | None, jitter: float
    ) -> None:
        self.sent = 0
        self.failed = 0
        self.last = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise errors.NoEventLoopError(
                "start_heartbeats() of an async client needs a running event loop: call it "
                "inside a coroutine, or use scaigrid_client.sync for a heartbeat thread"
            ) from None
        self._task = loop.create_task(self._run(beat, interval, jitter))

    async def _run(
        self, beat: Callable[[HeartbeatLoop], Any], interval: float | None, jitter: float
    ) -> None:
        while True:
            await beat(self)
            await asyncio.sleep(heartbeat_wait(interval, self.last, jitter))

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

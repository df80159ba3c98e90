"""The async call path: every RPC of every async client goes through `Transport`.

It adds the metadata (token, request id, attempt count, the caller's own;
the SDK names itself in the channel's user agent), applies the deadline
across attempts, retries with backoff, pushback and a retry budget, and
turns every transport error into a typed `ScaiGridError`. The decisions are
`BaseTransport`'s (`_base.py`), shared with the sync flavour; this module
awaits, sleeps and iterates. Client methods only build requests and shape
results.

A grpc.aio channel belongs to the event loop it was made on, so the
transport keeps one per loop: a client outlives `asyncio.run()`, serves a
new loop per test, and serves several loops in several threads at once.

The first attempt of a call runs with no retry machinery at all; tenacity
takes over only after a retryable failure, so a call that succeeds pays for
nothing it does not use.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._auth import TokenProvider, TokenSource, resolve_token
from scaigrid_client._base import (
    DEFAULT_KEEPALIVE,
    NOT_GIVEN,
    BaseTransport,
    CallInfo,
    MetadataArg,
    Method,
    NotGiven,
    Req,
    Resp,
    ServerStreamBase,
    StreamFlowBase,
    _CallState,
    auth_header,
    channel_closed,
    channel_opened,
    check_not_forked,
    provider_failed,
)
from scaigrid_client._channel import Proxy, build_channel
from scaigrid_client._config import Keepalive, RetryPolicy, TLSConfig

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
    """A channel and its method callables, on one event loop."""

    __slots__ = ("callables", "channel", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, channel: grpc.aio.Channel) -> None:
        self.loop = loop
        self.channel = channel
        self.callables: dict[str, Any] = {}


class Transport(BaseTransport):
    """Channels, credentials and policies shared by the async clients built on it."""

    _token: str | TokenProvider

    def __init__(
        self,
        target: str | None,
        *,
        token: TokenSource | None,
        tls: bool | TLSConfig,
        retry: RetryPolicy | None,
        timeout: float | None,
        channel: grpc.aio.Channel | None,
        channel_options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
        compression: grpc.Compression | None = None,
        keepalive: Keepalive | None = DEFAULT_KEEPALIVE,
        proxy: Proxy = None,
    ) -> None:
        super().__init__(
            target,
            token=token,
            tls=tls,
            retry=retry,
            timeout=timeout,
            channel=channel,
            keepalive=keepalive,
            resolve_token=resolve_token,
        )
        self._given = channel
        self._channel_options = tuple(channel_options)
        self._interceptors = list(interceptors) if interceptors else None
        self._compression = compression
        self._proxy = proxy
        self._bound: _Bound | None = None  # the last loop's: the fast path
        self._by_loop: dict[asyncio.AbstractEventLoop, _Bound] = {}
        self._lock = threading.Lock()

    # -- channels, one per event loop -----------------------------------------------------

    def _binding(self) -> _Bound:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
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
                raise RuntimeError("the client is closed")
            # A loop that has closed took its channel's machinery with it; the
            # channel cannot be closed any more, only let go.
            for gone in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[gone]
                if self._owns_channel:
                    channel_closed()
            bound = self._by_loop.get(loop)
            if bound is None:
                bound = self._by_loop[loop] = _Bound(loop, self._new_channel(loop))
            self._bound = bound
            return bound

    def _new_channel(self, loop: asyncio.AbstractEventLoop) -> grpc.aio.Channel:
        if self._given is not None:
            if getattr(self._given, "_loop", loop) is not loop:
                raise RuntimeError(
                    "the channel passed as channel= belongs to another event loop, and a "
                    "grpc.aio channel works only on its own; create it on this loop, or let "
                    "the client build its channels (one per loop)"
                )
            return self._given
        channel = build_channel(
            self.target,
            self.tls,
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

    def forget_channels(self) -> object:
        # (no lock: in a forked child it may be held by a thread that is gone)
        bindings, self._by_loop, self._bound = self._by_loop, {}, None
        self._lock = threading.Lock()
        return bindings

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            bindings = list(self._by_loop.values())
            self._by_loop.clear()
            self._bound = None
        if not self._owns_channel:
            return
        current = asyncio.get_running_loop()
        for bound in bindings:
            channel_closed()
            if bound.loop is current:
                await bound.channel.close()
            elif bound.loop.is_running():
                # Another thread's loop: it closes its own channel.
                asyncio.run_coroutine_threadsafe(bound.channel.close(), bound.loop)

    def _callable(self, bound: _Bound, method: Method[Any, Any]) -> Any:
        fn = bound.callables.get(method.path)
        if fn is None:
            fn = method.callable_on(bound.channel)
            bound.callables[method.path] = fn
        return fn

    def connected(self) -> bool:
        bound = self._bound
        if bound is None or not self._owns_channel:
            return True
        return bound.channel.get_state(try_to_connect=False) is grpc.ChannelConnectivity.READY

    async def wait_until_connected(self, limit: float, state: _CallState) -> bool:
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

    # -- what every attempt does ----------------------------------------------------------

    async def _auth(self) -> tuple[str, str]:
        if self._auth_header is not None:
            return self._auth_header
        assert not isinstance(self._token, str)
        try:
            token = await self._token.get_token()
        except errors.ScaiGridError:
            raise
        except Exception as exc:
            raise provider_failed(exc) from None
        return auth_header(token)

    async def start(self, state: _CallState, request: Any) -> Any:
        """Send one attempt with the time that remains; returns the grpc call."""
        remaining = state.remaining()
        if remaining is not None and remaining <= 0:
            raise self._deadline_error(state, attempts=state.attempt - 1)
        # (the fast paths inline: this runs for every attempt of every call)
        bound = self._bound
        if bound is None or bound.loop is not asyncio.get_running_loop():
            bound = self._binding()
        if state.telemetry is not None:
            state.telemetry.attempt_started = time.perf_counter()
        auth = self._auth_header or await self._auth()
        metadata = self.metadata(state, auth)
        return self._callable(bound, state.method)(request, timeout=remaining, metadata=metadata)

    async def failure(self, exc: grpc.aio.AioRpcError, state: _CallState) -> errors.ScaiGridError:
        """The typed error for a failed attempt (see BaseTransport.decode), and
        for a gateway that closed the connection before it was ever reached,
        what a probe of it finds."""
        error = self.decode(exc, state)
        if error.status is grpc.StatusCode.UNAVAILABLE and self.should_probe(error):
            from scaigrid_client._diagnose import probe_setup_failure

            reason = self._setup_failure or await asyncio.to_thread(
                probe_setup_failure, self.target, self.tls, self.probe_timeout(state)
            )
            error = self.explained(error, reason)
        return error

    # -- unary --------------------------------------------------------------------------

    async def unary(
        self,
        method: Method[Req, Resp],
        request: Req,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        request_id: str | None = None,
        metadata: MetadataArg | None = None,
        call_info: CallInfo | None = None,
    ) -> Resp:
        state = self.new_state(method, timeout, request_id, metadata)
        self.observe(state)
        try:
            try:
                response: Resp = await self._attempt(state, request, call_info)
            except errors.ScaiGridError as error:
                delay = self.retry_delay(state, error)
                if delay is None:
                    raise
                state.next_delay = delay
                state.last_error = error
                response = await self._retry(state, request, call_info)
        except BaseException as failed:
            if state.telemetry is not None:
                self.call_done(state, failed)
            raise
        self.record_success()
        if state.telemetry is not None:
            self.call_done(state, None)
        return response

    async def _attempt(self, state: _CallState, request: Any, call_info: CallInfo | None) -> Any:
        call = await self.start(state, request)
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            error = await self.failure(exc, state)
            if state.telemetry is not None:
                self.attempt_done(state, error)
            raise error from None
        if state.telemetry is not None:
            self.attempt_done(state, None)
        if call_info is not None:
            call_info.request_id = state.request_id
            call_info.attempts = state.attempt
            call_info.initial_metadata = tuple(await call.initial_metadata() or ())
            call_info.trailing_metadata = tuple(await call.trailing_metadata() or ())
        return response

    async def _retry(self, state: _CallState, request: Any, call_info: CallInfo | None) -> Any:
        import tenacity  # only a call that failed pays for importing it

        async def before_attempt(retry_state: tenacity.RetryCallState) -> None:
            if retry_state.attempt_number > 1 or state.last_error is not None:
                await asyncio.sleep(self.before_retry(state))

        retrying = tenacity.AsyncRetrying(
            retry=self.tenacity_retry(state),
            before=before_attempt,
            wait=tenacity.wait_none(),
            reraise=True,
        )
        return await retrying(self._attempt, state, request, call_info)

    # -- server streams -------------------------------------------------------------------

    def stream(
        self,
        method: Method[Req, Resp],
        request: Req,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        request_id: str | None = None,
        metadata: MetadataArg | None = None,
        resume: Callable[[Req, Resp], Req] | None = None,
        idle_timeout: float | None = None,
    ) -> ServerStream[Req, Resp]:
        state = self.stream_state(method, timeout, request_id, metadata, idle_timeout)
        return ServerStream(_StreamFlow(self, state, request, resume, idle_timeout))


class _StreamFlow(StreamFlowBase[Req, Resp]):
    """One async server stream across its attempts (see StreamFlowBase)."""

    __slots__ = ()

    async def messages(self) -> AsyncGenerator[Resp, None]:
        # Per message: grpc's own iterator, one store and a yield (and, when
        # something listens, a count). (The call's read() costs more per
        # message than its iterator, so it is not used.)
        transport, state = self.transport, self.state
        transport.observe(state)
        telemetry = state.telemetry
        ended: BaseException | None = None
        try:
            while not self.done:
                call = self.call = await transport.start(state, self.next_request())
                self.opened = time.monotonic()
                idle_timeout, progressed = self.idle_timeout, False
                source = call if idle_timeout is None else _within(call, idle_timeout)
                try:
                    async for message in source:
                        if not progressed:
                            progressed = True
                            self.on_progress()
                        self.last = message
                        if telemetry is not None:
                            telemetry.messages += 1
                            telemetry.bytes += message.ByteSize()
                        yield message
                except grpc.aio.AioRpcError as exc:
                    error: errors.ScaiGridError = await self.transport.failure(exc, self.state)
                except asyncio.TimeoutError:
                    call.cancel()
                    error = self.transport.idle_error(self.state, idle_timeout)
                except asyncio.CancelledError:
                    # A call cancelled by cancel() (while the caller held a
                    # message, or from another task) raises CancelledError on
                    # its next read: that ends the iteration. The task's own
                    # cancellation propagates.
                    if self.call is None and not _cancelling():
                        return
                    if _cancelling() or not self.transport.closed:
                        raise
                    # grpc cancels the calls of a channel being closed.
                    error = self.transport.closed_error(self.state)
                else:
                    self.finished, self.call = call, None
                    if telemetry is not None:
                        transport.attempt_done(state, None)
                    return
                if telemetry is not None:
                    transport.attempt_done(state, error)
                # Outside the except clauses, so the typed error is raised
                # without grpc's exception chained to it.
                await self.recover(error, progressed)
        except BaseException as failed:
            ended = failed
            raise
        finally:
            self.cancel()
            if telemetry is not None:
                if ended is None and self.finished is None:
                    ended = GeneratorExit()  # left early: break, cancel() or close()
                transport.call_done(state, ended)

    async def recover(self, error: errors.ScaiGridError, progressed: bool) -> None:
        """Sleep and reopen if the error allows (BaseTransport.after_stream_error);
        otherwise raise it."""
        delay, resume = self.after_error(error, progressed)
        await asyncio.sleep(delay)
        transport, state = self.transport, self.state
        state.attempt += 1
        if resume:
            # While the gateway is unreachable, waiting for the channel stands
            # in for attempts: each backoff period spent waiting counts as one.
            while not await transport.wait_until_connected(transport.outage_wait(state), state):
                if self.done:
                    return
                transport.outage_continues(state, error)


async def _within(call: Any, idle_timeout: float) -> AsyncGenerator[Any, None]:
    """The call's messages, each within ``idle_timeout`` of the one before."""
    messages = call.__aiter__()
    while True:
        try:
            yield await asyncio.wait_for(messages.__anext__(), idle_timeout)
        except StopAsyncIteration:
            return


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (Python 3.11+)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


class ServerStream(ServerStreamBase[Req, Resp]):
    """An async iterator over a server stream.

    Retried like a unary call until its first message; after that, an error
    is raised as a typed exception, unless the stream is resumable, in which
    case it reopens after the last message delivered. Leaving an ``async for``
    early (or ``aclose()``) cancels the call at once.
    """

    __slots__ = ()
    _flow: _StreamFlow[Req, Resp]

    def __init__(self, flow: _StreamFlow[Req, Resp]) -> None:
        self._flow = flow
        self._messages: AsyncGenerator[Resp, None] | None = None

    def __aiter__(self) -> AsyncIterator[Resp]:
        # `async for` iterates the generator itself: no extra call per message.
        if self._messages is None:
            self._messages = self._flow.messages()
        return self._messages

    def __iter__(self) -> AsyncIterator[Resp]:
        """Not iterable with ``for``: say what to do instead."""
        raise TypeError(
            "this stream is async: iterate it with `async for`, or use "
            "scaigrid_client.sync for a stream that is a plain iterator"
        )

    async def __anext__(self) -> Resp:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> ServerStream[Req, Resp]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the call and close the iterator (for ``async with``)."""
        self._flow.cancel()
        messages = self._messages
        # Closed here rather than by asyncio's finalizer when dropped; not
        # while another task is inside it (aclose() would raise then).
        if messages is not None and not getattr(messages, "ag_running", True):
            await messages.aclose()

    async def initial_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The response headers of the current (or finished) attempt; empty
        before the stream starts."""
        call = self._flow.call or self._flow.finished
        if call is None:
            return ()
        return tuple(await call.initial_metadata() or ())

    async def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The trailers of a stream that has ended normally; empty before."""
        if self._flow.finished is None:
            return ()
        return tuple(await self._flow.finished.trailing_metadata() or ())


class HeartbeatLoop:
    """Periodic heartbeats in the background; see HeartbeatClient.start_heartbeats."""

    def __init__(
        self, beat: Callable[[HeartbeatLoop], Any], interval: float, jitter: float
    ) -> None:
        self.sent = 0
        self.failed = 0
        self.last: Any = None
        self._task = asyncio.get_running_loop().create_task(self._run(beat, interval, jitter))

    async def _run(
        self, beat: Callable[[HeartbeatLoop], Any], interval: float, jitter: float
    ) -> None:
        from scaigrid_client._base import jittered

        while True:
            await beat(self)
            await asyncio.sleep(jittered(interval, jitter))

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

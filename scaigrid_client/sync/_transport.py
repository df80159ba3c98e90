"""The sync call path: every RPC of every sync client goes through `Transport`.

The same decisions as the async flavour (`BaseTransport`, `_base.py`:
metadata, deadlines across attempts, retries, pushback, the budget, typed
errors, resumable streams), over grpc's own synchronous stack: a call blocks
the calling thread and nothing else. There is no hidden event-loop thread,
so the clients are safe to share between threads, work inside a thread
whose event loop is running (a notebook cell), and do not serialize their
callers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._auth import SyncTokenProvider, SyncTokenSource, resolve_sync_token
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
    jittered,
    provider_failed,
)
from scaigrid_client._channel import Proxy, build_sync_channel
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

Channel = grpc.Channel
"""The channel a caller may pass as ``channel=``."""
Interceptor = Any
"""What ``interceptors=`` takes: grpc's sync client interceptors."""


class Transport(BaseTransport):
    """The channel, credentials and policies shared by the sync clients built on it.

    grpc's sync channel has no get_state(), and following it with subscribe()
    leaves a polling thread that outlives close(); so whether a failed call
    ever reached the gateway is read from grpc's words alone (BaseTransport).
    """

    _token: str | SyncTokenProvider

    def __init__(
        self,
        target: str | None,
        *,
        token: SyncTokenSource | None,
        tls: bool | TLSConfig,
        retry: RetryPolicy | None,
        timeout: float | None,
        channel: grpc.Channel | None,
        channel_options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[Any] | None = None,
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
            resolve_token=resolve_sync_token,
        )
        self._channel = channel
        self._channel_options = tuple(channel_options)
        self._interceptors = list(interceptors) if interceptors else None
        self._compression = compression
        self._proxy = proxy
        self._callables: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- the channel ----------------------------------------------------------------------

    @property
    def channel(self) -> grpc.Channel:
        """The channel, created on first use; safe from any thread."""
        channel = self._channel
        if channel is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the client is closed")
                if self._channel is None:
                    check_not_forked()
                    self._channel = build_sync_channel(
                        self.target,
                        self.tls,
                        self._channel_options,
                        self._interceptors,
                        self._compression,
                        self._keepalive,
                        self._proxy,
                    )
                    channel_opened()
                channel = self._channel
        return channel

    def forget_channels(self) -> object:
        inherited = (self._channel, self._callables)
        self._channel = None
        self._callables = {}
        self._lock = threading.Lock()
        return inherited

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
            self._callables = {}
        if channel is not None and self._owns_channel:
            channel.close()
            channel_closed()

    def _callable(self, method: Method[Any, Any]) -> Any:
        fn = self._callables.get(method.path)
        if fn is None:
            fn = method.callable_on(self.channel)
            self._callables[method.path] = fn
        return fn

    def wait_until_connected(self, limit: float, state: _CallState) -> bool:
        """Whether to reopen a stream now. The sync flavour does not wait for
        the channel (grpc's only way, a connectivity subscription, leaves a
        polling thread that fails once the channel is closed): the attempt
        is made at once, and while the gateway is unreachable it fails fast
        without reaching it, counting as a failed attempt with backoff."""
        return not self._closed

    # -- what every attempt does ----------------------------------------------------------

    def _auth(self) -> tuple[str, str]:
        if self._auth_header is not None:
            return self._auth_header
        assert not isinstance(self._token, str)
        try:
            token = self._token.get_token()
        except errors.ScaiGridError:
            raise
        except Exception as exc:
            raise provider_failed(exc) from None
        return auth_header(token)

    def start(self, state: _CallState, request: Any) -> Any:
        """Send one attempt of a stream with the time that remains; returns
        grpc's call, which is also the iterator of its messages."""
        remaining = state.remaining()
        if remaining is not None and remaining <= 0:
            raise self._deadline_error(state, attempts=state.attempt - 1)
        if state.telemetry is not None:
            state.telemetry.attempt_started = time.perf_counter()
        fn = self._callable(state.method)
        return fn(request, timeout=remaining, metadata=self.metadata(state, self._auth()))

    def failure(self, exc: grpc.RpcError, state: _CallState) -> errors.ScaiGridError:
        """The typed error for a failed attempt (see BaseTransport.decode), and
        for a gateway that closed the connection before it was ever reached,
        what a probe of it finds."""
        error = self.decode(exc, state)
        if error.status is grpc.StatusCode.UNAVAILABLE and self.should_probe(error):
            from scaigrid_client._diagnose import probe_setup_failure

            reason = self._setup_failure or probe_setup_failure(
                self.target, self.tls, self.probe_timeout(state)
            )
            error = self.explained(error, reason)
        return error

    # -- unary --------------------------------------------------------------------------

    def unary(
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
                response: Resp = self._attempt(state, request, call_info)
            except errors.ScaiGridError as error:
                delay = self.retry_delay(state, error)
                if delay is None:
                    raise
                state.next_delay = delay
                state.last_error = error
                response = self._retry(state, request, call_info)
        except BaseException as failed:
            if state.telemetry is not None:
                self.call_done(state, failed)
            raise
        self.record_success()
        if state.telemetry is not None:
            self.call_done(state, None)
        return response

    def _attempt(self, state: _CallState, request: Any, call_info: CallInfo | None) -> Any:
        remaining = state.remaining()
        if remaining is not None and remaining <= 0:
            raise self._deadline_error(state, attempts=state.attempt - 1)
        fn = self._callable(state.method)
        metadata = self.metadata(state, self._auth())
        if state.telemetry is not None:
            state.telemetry.attempt_started = time.perf_counter()
        try:
            if call_info is None:
                response = fn(request, timeout=remaining, metadata=metadata)
            else:
                response, call = fn.with_call(request, timeout=remaining, metadata=metadata)
        except grpc.RpcError as exc:
            error = self.failure(exc, state)
            if state.telemetry is not None:
                self.attempt_done(state, error)
            raise error from None
        if state.telemetry is not None:
            self.attempt_done(state, None)
        if call_info is None:
            return response
        call_info.request_id = state.request_id
        call_info.attempts = state.attempt
        call_info.initial_metadata = tuple(call.initial_metadata() or ())
        call_info.trailing_metadata = tuple(call.trailing_metadata() or ())
        return response

    def _retry(self, state: _CallState, request: Any, call_info: CallInfo | None) -> Any:
        import tenacity  # only a call that failed pays for importing it

        def before_attempt(retry_state: tenacity.RetryCallState) -> None:
            if retry_state.attempt_number > 1 or state.last_error is not None:
                time.sleep(self.before_retry(state))

        retrying = tenacity.Retrying(
            retry=self.tenacity_retry(state),
            before=before_attempt,
            wait=tenacity.wait_none(),
            reraise=True,
        )
        return retrying(self._attempt, state, request, call_info)

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


class _StreamFlow(StreamFlowBase[Req, Resp]):
    """One sync server stream across its attempts (see StreamFlowBase)."""

    __slots__ = ("wake",)

    def __init__(
        self,
        transport: Transport,
        state: _CallState,
        request: Req,
        resume: Callable[[Req, Resp], Req] | None,
        idle_timeout: float | None,
    ) -> None:
        super().__init__(transport, state, request, resume, idle_timeout)
        self.wake = threading.Event()  # cuts a backoff short on cancel()

    def cancel(self) -> None:
        self.wake.set()
        super().cancel()

    def cancelled(self) -> bool:
        return self.done

    def messages(self) -> Generator[Resp, None, None]:
        transport, state = self.transport, self.state
        transport.observe(state)
        telemetry = state.telemetry
        ended: BaseException | None = None
        try:
            while not self.done:
                call = self.call = transport.start(state, self.next_request())
                self.opened = time.monotonic()
                progressed = False
                watch = (
                    None if self.idle_timeout is None else _watchdog.watch(call, self.idle_timeout)
                )
                try:
                    for message in call:
                        if not progressed:
                            progressed = True
                            self.on_progress()
                        self.last = message
                        if watch is not None:
                            watch.last = time.monotonic()
                        if telemetry is not None:
                            telemetry.messages += 1
                            telemetry.bytes += message.ByteSize()
                        yield message
                except grpc.RpcError as exc:
                    if self.cancelled():
                        return  # cancel(), from this thread or another
                    if watch is not None and watch.fired:
                        error = transport.idle_error(state, self.idle_timeout)
                    elif transport.closed:
                        error = transport.closed_error(state)
                    else:
                        error = transport.failure(exc, state)
                else:
                    self.finished, self.call = call, None
                    if telemetry is not None:
                        transport.attempt_done(state, None)
                    return
                finally:
                    if watch is not None:
                        _watchdog.forget(watch)
                if telemetry is not None:
                    transport.attempt_done(state, error)
                self.recover(error, progressed)
        except BaseException as failed:
            ended = failed
            raise
        finally:
            self.cancel()
            if telemetry is not None:
                if ended is None and self.finished is None:
                    ended = GeneratorExit()  # left early: break, cancel() or close()
                transport.call_done(state, ended)

    def recover(self, error: errors.ScaiGridError, progressed: bool) -> None:
        """Sleep and reopen if the error allows (BaseTransport.after_stream_error);
        otherwise raise it."""
        delay, resume = self.after_error(error, progressed)
        if self.wake.wait(delay):
            return  # cancelled while waiting
        transport, state = self.transport, self.state
        state.attempt += 1
        if resume:
            while not transport.wait_until_connected(transport.outage_wait(state), state):
                if self.done:
                    return
                transport.outage_continues(state, error)


class ServerStream(ServerStreamBase[Req, Resp]):
    """An iterator over a server stream, for plain ``for`` loops.

    Retried like a unary call until its first message; after that, an error
    is raised as a typed exception, unless the stream is resumable, in which
    case it reopens after the last message delivered. Leaving a ``with``
    block or ``close()`` cancels the call; ``cancel()`` from another thread
    ends the reader's loop cleanly.
    """

    __slots__ = ()
    _flow: _StreamFlow[Req, Resp]

    def __init__(self, flow: _StreamFlow[Req, Resp]) -> None:
        self._flow = flow
        self._messages: Generator[Resp, None, None] | None = None

    def __iter__(self) -> Iterator[Resp]:
        if self._messages is None:
            self._messages = self._flow.messages()
        return self._messages

    def __next__(self) -> Resp:
        return next(self.__iter__())

    def __enter__(self) -> ServerStream[Req, Resp]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the call and close the iterator (for ``with``)."""
        self._flow.cancel()
        messages = self._messages
        # Not while another thread is inside it (close() would raise then).
        if messages is not None and not getattr(messages, "gi_running", True):
            messages.close()

    def initial_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The response headers of the current (or finished) attempt; empty
        before the stream starts."""
        call = self._flow.call or self._flow.finished
        if call is None:
            return ()
        return tuple(call.initial_metadata() or ())

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The trailers of a stream that has ended normally; empty before."""
        if self._flow.finished is None:
            return ()
        return tuple(self._flow.finished.trailing_metadata() or ())


class HeartbeatLoop:
    """Periodic heartbeats on a background thread; see HeartbeatClient.start_heartbeats."""

    def __init__(
        self, beat: Callable[[HeartbeatLoop], object], interval: float, jitter: float
    ) -> None:
        self.sent = 0
        self.failed = 0
        self.last: Any = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(beat, interval, jitter), name="scaigrid-heartbeats", daemon=True
        )
        self._thread.start()

    def _run(self, beat: Callable[[HeartbeatLoop], object], interval: float, jitter: float) -> None:
        while not self._stopped.is_set():
            beat(self)
            self._stopped.wait(jittered(interval, jitter))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop sending and wait until the loop has ended."""
        self._stopped.set()
        self._thread.join()

"""The call loop, written once for both flavours: every attempt of every RPC.

This is the async source. tools/unasync.py writes the sync flavour's loop,
`sync/_call_loop.py`, from it (as httpcore writes its sync code), and `make
check-generated` fails on drift. What grpc's two stacks do differently is
the flavour's module, imported here as ``flavour`` (`_aio.py`; the sync
loop's is `sync/_blocking.py`): awaiting an attempt, sleeping, a stream's
idle timeout, cancellation, the TLS probe off the loop. Each flavour's
`Transport` subclasses `CallLoop` with its channel (`callable_for`,
`wait_until_connected`, `close`).

A unary call: `unary` makes the call's state and runs `_call`, whose first
attempt runs bare (a call that succeeds pays for no retry machinery); after a
failure, tenacity's engine runs the loop: each failure is judged by the retry
policy (`retry_delay`), the engine raises it or returns the wait (announced
first), and the next attempt follows. A stream: `StreamFlow.messages` reads
each attempt and, after a failure, `recover` waits and reopens, after the
last message delivered for a resumable stream.
"""

from __future__ import annotations

import asyncio  # unasync: async-only
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import grpc

from scaigrid_client import _aio as flavour, errors
from scaigrid_client._base import BaseTransport
from scaigrid_client._call import (
    CAPTURE,
    NOT_GIVEN,
    CallInfo,
    CallState,
    Metadata,
    MetadataArg,
    Method,
    NotGiven,
    Req,
    Resp,
    auth_header,
    provider_failed,
    unknown_options,
)
from scaigrid_client._config import RetryPolicy
from scaigrid_client._streams import ServerStreamBase

__all__ = ["CallLoop", "ServerStream"]


class CallLoop(BaseTransport):
    """Every RPC of a flavour's clients goes through here; the subclass
    supplies the channel."""

    def callable_for(self, method: Method[Any, Any]) -> Any:
        """grpc's multi-callable for ``method`` on the current channel."""
        raise NotImplementedError

    async def wait_until_connected(self, limit: float, state: CallState) -> bool:
        """Wait up to ``limit`` seconds for the channel to connect; whether it did."""
        raise NotImplementedError

    # -- unary ----------------------------------------------------------------------------

    async def unary(
        self,
        method: Method[Req, Resp],
        request: Req,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        request_id: str | None = None,
        metadata: MetadataArg | None = None,
        retry: RetryPolicy | None = None,
        call_info: CallInfo | None = None,
        **unknown: object,
    ) -> Resp:
        if unknown:
            raise unknown_options(method, unknown)
        if call_info is None:
            call_info = CAPTURE.get()  # raw_response() wants this call's details
        state = self.new_state(method, timeout, request_id, metadata, retry)
        self.observe(state)
        try:
            response: Resp = await self._call(state, request, call_info)
        except BaseException as failed:
            if state.telemetry is not None:
                self.call_done(state, failed)
            raise
        self.record_success()
        if state.telemetry is not None:
            self.call_done(state, None)
        return response

    async def _call(self, state: CallState, request: Any, call_info: CallInfo | None) -> Any:
        """The call's attempts, until one succeeds or the retry policy stops."""
        try:
            return await self._attempt(state, request, call_info)
        except errors.ScaiGridError as error:
            state.next_delay = self.retry_delay(state, error)
            if state.next_delay is None:
                raise
            first = error
        return await self._retry(state, request, call_info, first)

    async def _retry(
        self, state: CallState, request: Any, call_info: CallInfo | None, first: Exception
    ) -> Any:
        """The attempts after a first failure the policy retries, in
        tenacity's engine: it retries while the policy has decided a wait
        (``state.next_delay``), announces it before the sleep, and raises the
        failure the policy gives up on."""
        import tenacity  # only a call that failed pays for importing it

        engine = tenacity.Retrying(
            retry=lambda _: state.next_delay is not None,
            wait=lambda _: state.next_delay or 0.0,
            before_sleep=lambda retry_state: self._announce(state, retry_state),
        )
        engine.begin()
        outcome = tenacity.RetryCallState(engine, fn=None, args=(), kwargs={})
        outcome.set_exception((type(first), first, first.__traceback__))
        while True:
            action = engine.iter(outcome)  # raises the failure when the policy stops
            if isinstance(action, tenacity.DoSleep):
                await flavour.sleep(action)
                outcome.prepare_for_next_attempt()
                continue
            try:
                return await self._attempt(state, request, call_info)
            except errors.ScaiGridError as error:
                state.next_delay = self.retry_delay(state, error)
                outcome.set_exception((type(error), error, error.__traceback__))

    def _announce(self, state: CallState, retry_state: Any) -> None:
        """Before the sleep: the retry is told of, then counted."""
        error = retry_state.outcome.exception()
        self.retrier.announce(state, error, state.next_delay or 0.0)
        state.attempt += 1

    async def _attempt(self, state: CallState, request: Any, call_info: CallInfo | None) -> Any:
        fn, remaining, metadata = await self._prepare(state)
        try:
            response, call = await flavour.invoke(
                fn, request, remaining, metadata, call_info is not None
            )
        except grpc.aio.AioRpcError as exc:
            error = await self.failure(exc, state)
            if self.closed and isinstance(error, errors.CallCancelledError):
                error = self.closed_error(state)  # say why it was cancelled
            if state.telemetry is not None:
                self.attempt_done(state, error)
            raise error from None
        # unasync: begin async-only
        except asyncio.CancelledError:
            # grpc cancels the calls of a channel being closed: not the
            # task's cancellation (which propagates), so a typed error.
            if not self.closed or flavour.cancelling():
                raise
            error = self.closed_error(state)
            if state.telemetry is not None:
                self.attempt_done(state, error)
            raise error from None
        # unasync: end async-only
        if state.telemetry is not None:
            self.attempt_done(state, None)
        if call_info is not None:
            call_info.request_id = state.request_id
            call_info.attempts = state.attempt
            call_info.initial_metadata = tuple(await call.initial_metadata() or ())
            call_info.trailing_metadata = tuple(await call.trailing_metadata() or ())
        return response

    # -- what every attempt does ----------------------------------------------------------

    async def _prepare(self, state: CallState) -> tuple[Any, float | None, Metadata]:
        """An attempt's callable, the time that remains, and its metadata."""
        remaining = state.remaining()
        if remaining is not None and remaining <= 0:
            raise self.failures.deadline_error(state, attempts=state.attempt - 1)
        fn = self.callable_for(state.method)
        if state.telemetry is not None:
            state.telemetry.attempt_started = time.perf_counter()
        auth = self._auth_header or await self._auth()
        return fn, remaining, self.metadata(state, auth)

    async def _auth(self) -> tuple[str, str]:
        assert not isinstance(self._token, str)
        try:
            token = await self._token.get_token()
        except errors.ScaiGridError:
            raise
        except Exception as exc:
            raise provider_failed(exc) from None
        return auth_header(token)

    async def start(self, state: CallState, request: Any) -> Any:
        """Send one attempt of a stream; returns grpc's call (its messages)."""
        fn, remaining, metadata = await self._prepare(state)
        return fn(request, timeout=remaining, metadata=metadata)

    async def failure(self, exc: grpc.RpcError, state: CallState) -> errors.ScaiGridError:
        """The typed error for a failed attempt (see `_failures`), and for a
        gateway that closed the connection before it was ever reached, what a
        probe of it finds."""
        failures = self.failures
        error = failures.decode(exc, state)
        if error.status is grpc.StatusCode.UNAVAILABLE and failures.should_probe(error):
            reason = failures.setup_failure or await flavour.probe_setup_failure(
                self.target, self.channel_tls(), failures.probe_timeout(state)
            )
            error = failures.explained(error, reason)
        return error

    # -- server streams -------------------------------------------------------------------

    def stream(
        self,
        method: Method[Req, Resp],
        request: Req,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        request_id: str | None = None,
        metadata: MetadataArg | None = None,
        retry: RetryPolicy | None = None,
        resume: Callable[[Req, Resp], Req] | None = None,
        idle_timeout: float | None = None,
        **unknown: object,
    ) -> ServerStream[Resp]:
        if unknown:
            raise unknown_options(method, unknown)
        state = self.stream_state(method, timeout, request_id, metadata, retry, idle_timeout)
        return ServerStream._over(StreamFlow(self, state, request, resume, idle_timeout))


class StreamFlow(flavour.FlowBase[Req, Resp]):
    """One server stream across its attempts (see `_streams.StreamFlowBase`)."""

    __slots__ = ()

    async def messages(self) -> AsyncGenerator[Resp, None]:
        # Per message: grpc's own iterator, one store and a yield (and, when
        # something listens, a count).
        transport, state = self.transport, self.state
        transport.observe(state)
        telemetry = state.telemetry
        # tls=TLSFiles: a resumable stream moves to the channel of new
        # material at a message boundary, resuming after the last message.
        rotation = transport._rotation if self.resume is not None else None
        ended: BaseException | None = None
        attempt_open = False  # an attempt started and not yet reported ended
        messages: Any = None  # the attempt's iterator, released when left early
        try:
            while not self.done:
                generation = 0 if rotation is None else rotation.watch.generation
                call = self.call = await transport.start(state, self.next_request())
                self.opened = time.monotonic()
                progressed, attempt_open, moving = False, True, False
                messages = self.watched(call).__aiter__()
                try:
                    async for message in messages:
                        if not progressed:
                            progressed = True
                            self.on_progress()
                        self.last = message
                        if telemetry is not None:
                            telemetry.messages += 1
                            telemetry.bytes += message.ByteSize()
                        yield message
                        if rotation is not None and rotation.stale(generation):
                            moving = True
                            break
                except flavour.STREAM_FAILURES as exc:
                    failed = await self.failed(exc, call)
                    if failed is None:
                        return  # ended by cancel()
                    error: errors.ScaiGridError = failed
                else:
                    if moving:
                        self.call, attempt_open = None, False
                        call.cancel()  # its channel closes once its other calls end
                        await flavour.release(messages)
                        if telemetry is not None:
                            transport.attempt_done(state, None)
                        continue
                    self.finished, self.call, attempt_open = call, None, False
                    if telemetry is not None:
                        transport.attempt_done(state, None)
                    return
                attempt_open = False
                if telemetry is not None:
                    transport.attempt_done(state, error)
                # Outside the except clauses, so the typed error is raised
                # without grpc's exception chained to it.
                await self.recover(error, progressed)
        except BaseException as failed_with:
            ended = failed_with
            raise
        finally:
            self.cancel()
            if messages is not None:
                await flavour.release(messages)
            # The call (and so its connection) is let go now, not at the next
            # garbage collection: this frame may live on in a traceback.
            call = messages = None
            if telemetry is not None:
                if attempt_open:  # the reader left while it ran
                    transport.attempt_abandoned(state)
                if ended is None and self.finished is None:
                    ended = GeneratorExit()  # left early: break, cancel() or close()
                transport.call_done(state, ended)
            ended = None  # no cycle through the exception's traceback

    async def recover(self, error: errors.ScaiGridError, progressed: bool) -> None:
        """Wait and reopen if the error allows (`StreamFlowBase.after_error`);
        otherwise raise it."""
        delay, resume = self.after_error(error, progressed)
        await self.pause(delay)
        if self.cancelled():
            return  # while waiting
        transport, state = self.transport, self.state
        state.attempt += 1
        if resume:
            # While the gateway is unreachable, waiting for the channel stands
            # in for attempts: each backoff period spent waiting counts as one.
            while not await transport.wait_until_connected(transport.outage_wait(state), state):
                if self.cancelled():
                    return
                transport.outage_continues(state, error)


class ServerStream(ServerStreamBase[Resp]):
    """An async iterator over a server stream.

    Retried like a unary call until its first message; after that, an error
    is raised as a typed exception, unless the stream is resumable, in which
    case it reopens after the last message delivered. Leaving the ``async for``
    loop early, an ``async with`` block, or ``aclose()`` cancels the call at
    once; ``cancel()`` from another task or thread ends the reader's loop.
    """

    __slots__ = ()
    _flow: StreamFlow[Any, Resp]
    _messages: AsyncGenerator[Resp, None] | None

    def __init__(self) -> None:
        """Not made by hand: the streaming methods return one.

        Raises:
            TypeError: always.
        """
        raise TypeError("a ServerStream is returned by a streaming method, not made by hand")

    @classmethod
    def _over(cls, flow: StreamFlow[Any, Resp]) -> ServerStream[Resp]:
        """The handle of ``flow``."""
        stream = cls.__new__(cls)
        stream._flow = flow
        stream._messages = None
        return stream

    def __aiter__(self) -> AsyncIterator[Resp]:
        # `async for` iterates the generator itself: no extra call per message.
        if self._messages is None:
            self._messages = self._flow.messages()
        return self._messages

    # unasync: begin async-only
    def __iter__(self) -> AsyncIterator[Resp]:
        """Not iterable with ``for``: say what to do instead."""
        raise TypeError(
            "this stream is async: iterate it with `async for`, or use "
            "scaigrid_client.sync for a stream that is a plain iterator"
        )

    # unasync: end async-only
    async def __anext__(self) -> Resp:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> ServerStream[Resp]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the call and close the iterator (for ``async with``)."""
        self._flow.cancel()
        messages = self._messages
        # Closed here rather than by a finalizer when dropped; not while
        # another task or thread is inside it (closing would raise then).
        if messages is not None and not getattr(messages, "ag_running", True):
            await messages.aclose()

    async def initial_metadata(self) -> Metadata:
        """The response headers of the current (or finished) attempt.

        Returns:
            ``(key, value)`` pairs; empty before the stream starts.
        """
        call = self._flow.call or self._flow.finished
        if call is None:
            return ()
        return tuple(await call.initial_metadata() or ())

    async def trailing_metadata(self) -> Metadata:
        """The trailers of a stream that has ended normally.

        Returns:
            ``(key, value)`` pairs; empty until the stream has ended.
        """
        if self._flow.finished is None:
            return ()
        return tuple(await self._flow.finished.trailing_metadata() or ())

"""The one call path: every RPC of every client goes through `Transport`.

It adds the metadata (token, request id, attempt count, the caller's own;
the SDK names itself in the channel's user agent), applies the deadline
across attempts, retries with backoff, pushback and a retry budget, and
turns every transport error into a typed `ScaiGridError`. Client methods only
build requests and shape results.

The first attempt of a call runs with no retry machinery at all; tenacity
takes over only after a retryable failure, so a call that succeeds pays for
nothing it does not use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf import message as _message

from scaigrid_client import errors
from scaigrid_client._auth import TokenProvider, TokenSource, resolve_token
from scaigrid_client._channel import build_channel, is_loopback, parse_target
from scaigrid_client._config import Keepalive, RetryEvent, RetryPolicy, TLSConfig
from scaigrid_client._version import __version__

__all__ = ["CallInfo", "Method", "ServerStream", "Transport"]

logger = logging.getLogger("scaigrid_client")

Req = TypeVar("Req", bound=_message.Message)
Resp = TypeVar("Resp", bound=_message.Message)

MetadataArg = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]
"""Extra metadata a caller may pass: a mapping or (key, value) pairs."""

PUSHBACK_KEY = "grpc-retry-pushback-ms"
DEFAULT_KEEPALIVE = Keepalive()
_CLIENT_HEADER = ("x-scaigrid-client", f"scaigrid-client/{__version__} python")


class Method(Generic[Req, Resp]):
    """One RPC: its name, path, message types and shape. Built once."""

    __slots__ = ("name", "path", "request_type", "response_type", "streaming")

    def __init__(
        self,
        *,
        name: str,
        path: str,
        request_type: type[Req],
        response_type: type[Resp],
        streaming: bool,
    ) -> None:
        self.name = name
        self.path = path
        self.request_type = request_type
        self.response_type = response_type
        self.streaming = streaming

    def __repr__(self) -> str:
        return f"Method({self.path!r})"

    @classmethod
    def of(cls, service_module: Any, service: str, rpc: str) -> Method[Any, Any]:
        descriptor = service_module.DESCRIPTOR.services_by_name[service].methods_by_name[rpc]
        from google.protobuf import message_factory

        return Method(
            name=f"{service}.{rpc}",
            path=f"/{descriptor.containing_service.full_name}/{rpc}",
            request_type=message_factory.GetMessageClass(descriptor.input_type),
            response_type=message_factory.GetMessageClass(descriptor.output_type),
            streaming=descriptor.server_streaming,
        )


@dataclass
class CallInfo:
    """Details of a finished call; pass one as ``call_info=`` to fill it."""

    request_id: str | None = None
    attempts: int = 0
    initial_metadata: tuple[tuple[str, str | bytes], ...] = ()
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


def new_request_id() -> str:
    return os.urandom(16).hex()


def _check_header(key: str, value: object, what: str) -> None:
    if not isinstance(key, str) or not key or key != key.lower() or not key.isascii():
        raise ValueError(f"{what}: metadata key {key!r} must be lowercase ASCII")
    if any(not (c.isalnum() or c in "-_.") for c in key):
        raise ValueError(f"{what}: metadata key {key!r} may hold only a-z, 0-9, '-', '_', '.'")
    if key.endswith("-bin"):
        if not isinstance(value, bytes):
            raise ValueError(f"{what}: binary metadata {key!r} needs a bytes value")
        return
    if not isinstance(value, str):
        raise ValueError(f"{what}: metadata {key!r} needs a str value (or a '-bin' key for bytes)")
    if not value.isascii() or any(c in "\r\n\0" or not c.isprintable() for c in value):
        # The value may be a secret: name the key, never echo the value.
        raise ValueError(
            f"{what}: the value of {key!r} must be printable ASCII without CR/LF; "
            "it would corrupt the request's headers"
        )


def validate_metadata(
    metadata: MetadataArg | None,
) -> tuple[tuple[str, str | bytes], ...]:
    if not metadata:
        return ()
    pairs = tuple(metadata.items()) if isinstance(metadata, Mapping) else tuple(metadata)
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError("metadata: pass a mapping or (key, value) pairs")
        key, value = pair
        _check_header(key, value, "metadata")
        if key in ("authorization", "x-request-id"):
            raise ValueError(f"metadata: {key!r} is set by the client; use token= or request_id=")
    return pairs


def _pushback(error: errors.ScaiGridError) -> float | bool | None:
    """Seconds the server asks to wait; False means do not retry; None: not sent."""
    for key, value in error.metadata:
        if key == PUSHBACK_KEY:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            try:
                ms = int(text.strip())
            except ValueError:
                return False
            return False if ms < 0 else ms / 1000.0
    return None


# An attempt of a resumable stream that stayed open this long had a working
# link: its failure starts a new episode rather than counting as a retry.
_ESTABLISHED_AFTER = 1.0
# Failures that a retry cannot fix.
_NEVER_RETRIED = (errors.TLSVerificationError, errors.NameResolutionError)
# grpc rounds the grpc-timeout it sends; a DEADLINE_EXCEEDED this close to
# the call's own deadline is that deadline.
_DEADLINE_SLACK = 0.05
# How long a probe of a gateway that closed the connection may take, and how
# often one is made while the gateway has never been reached.
_PROBE_TIMEOUT = 1.0
_PROBE_INTERVAL = 5.0


def _lost_link(error: errors.ScaiGridError) -> bool:
    """Whether a resumable stream should reopen after ``error``.

    Whatever breaks the link mid-stream: connection loss, a restart or drain
    (UNAVAILABLE), a stall (the idle timeout), and a proxy's or load
    balancer's RST_STREAM, which grpc reports as INTERNAL, CANCELLED or
    UNKNOWN. The gateway's own errors carry a ScaiGrid code and end the stream.
    """
    if isinstance(error, (errors.StreamIdleTimeoutError, errors.UnavailableError)):
        return not isinstance(error, _NEVER_RETRIED)
    return error.code is None and error.status in _RESET_STATUSES


_RESET_STATUSES = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
)


# grpc's words for a call that failed because no connection could be made
# (its wording changed across releases; every known form is listed).
_NOT_CONNECTED = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "Failed to connect to remote host",
)


def _never_connected(error: errors.ScaiGridError) -> bool:
    """Whether the call failed without reaching the gateway (by grpc's words:
    by the time the error is handled, the channel may be connected again)."""
    return error.code is None and any(marker in error.message for marker in _NOT_CONNECTED)


def _closed_at_setup(error: errors.ScaiGridError) -> bool:
    """grpc's words for a connection closed before HTTP/2 got going."""
    return (
        type(error) is errors.UnavailableError
        and error.code is None
        and ("Socket closed" in error.message or "Connection reset" in error.message)
    )


class _RetryBudget:
    """gRPC retryThrottling: token bucket shared by a client's calls."""

    def __init__(self, max_tokens: float, token_ratio: float) -> None:
        self.max_tokens = max_tokens
        self.ratio = token_ratio
        self.tokens = max_tokens
        self.warned = False  # the WARNING that retries stopped was logged

    def success(self) -> None:
        if self.tokens < self.max_tokens:
            self.tokens = min(self.max_tokens, self.tokens + self.ratio)
            if self.warned and self.allows_retry():
                self.warned = False

    def failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1)

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2


class _CallState:
    """Per-call bookkeeping shared by the retry decision and its callers.

    A plain slotted class: one is made for every call.
    """

    __slots__ = (
        "attempt",
        "deadline",
        "extra",
        "last_error",
        "method",
        "next_delay",
        "refreshed",
        "request_id",
        "timeout",
        "timeout_is_default",
    )

    def __init__(
        self,
        method: Method[Any, Any],
        request_id: str,
        timeout: float | None,
        timeout_is_default: bool,
        extra: tuple[tuple[str, str | bytes], ...],
    ) -> None:
        self.method = method
        self.request_id = request_id
        self.timeout = timeout
        self.timeout_is_default = timeout_is_default
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.extra = extra
        self.attempt = 1
        self.refreshed = False
        self.next_delay = 0.0
        self.last_error: errors.ScaiGridError | None = None

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


class Transport:
    """Channel, credentials and policies shared by the clients built on it."""

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
    ) -> None:
        self.target = parse_target(target) if channel is None or target is not None else "<channel>"
        if not isinstance(tls, (bool, TLSConfig)):
            raise TypeError(f"tls: expected True, False or a TLSConfig, got {type(tls).__name__}")
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout: must be a positive number of seconds or None, got {timeout!r}"
            )
        if keepalive is not None and not isinstance(keepalive, Keepalive):
            raise TypeError(
                f"keepalive: expected a Keepalive or None, got {type(keepalive).__name__}"
            )
        self._keepalive = keepalive
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry: expected a RetryPolicy or None, got {type(retry).__name__}")
        self._token = resolve_token(token)
        self._auth_header: tuple[str, str] | None = None
        if isinstance(self._token, str):
            header = ("authorization", f"Bearer {self._token}")
            _check_header(*header, what="token")
            self._auth_header = header
        self.tls = tls
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._budget = _RetryBudget(self.retry.budget_max_tokens, self.retry.budget_token_ratio)
        self._channel = channel
        self._owns_channel = channel is None
        self._channel_options = tuple(channel_options)
        self._interceptors = list(interceptors) if interceptors else None
        self._compression = compression
        self._callables: dict[str, Any] = {}
        self._closed = False
        # Until the gateway has answered once, a connection it closes may be
        # a TLS mismatch; _diagnose probes for it (at most every 5 s).
        self._reached = False
        self._setup_failure: str | None = None
        self._next_probe = 0.0
        # Checked once here, not per call: warn on the first call that sends a
        # token in plaintext to a host off this machine.
        self._warn_plaintext = (
            tls is False and self.target != "<channel>" and not is_loopback(self.target)
        )
        # grpc.primary_user_agent names the SDK on channels we build; a
        # caller's own channel gets the header instead.
        self._static_headers: tuple[tuple[str, str], ...] = (
            () if channel is None else (_CLIENT_HEADER,)
        )

    def __repr__(self) -> str:
        return f"Transport(target={self.target!r}, tls={self.tls!r})"

    # -- channel -----------------------------------------------------------------

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel, created on first use (it needs a running loop)."""
        if self._channel is None:
            if self._closed:
                raise RuntimeError("the client is closed")
            self._channel = build_channel(
                self.target,
                self.tls,
                self._channel_options,
                self._interceptors,
                self._compression,
                self._keepalive,
            )
        return self._channel

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        channel, self._channel = self._channel, None
        self._callables.clear()
        if channel is not None and self._owns_channel:
            await channel.close()

    def _callable(self, method: Method[Any, Any]) -> Any:
        fn = self._callables.get(method.path)
        if fn is None:
            factory = self.channel.unary_stream if method.streaming else self.channel.unary_unary
            fn = factory(
                method.path,
                request_serializer=method.request_type.SerializeToString,
                response_deserializer=method.response_type.FromString,
            )
            self._callables[method.path] = fn
        return fn

    # -- metadata ----------------------------------------------------------------

    async def _provider_auth(self) -> tuple[str, str]:
        assert isinstance(self._token, TokenProvider)
        try:
            token = await self._token.get_token()
        except errors.ScaiGridError:
            raise
        except Exception as exc:
            raise errors.TokenProviderError(
                f"the token provider failed: {type(exc).__name__}"
            ) from None
        header = ("authorization", f"Bearer {token}")
        _check_header(*header, what="token")
        return header

    async def _metadata(self, state: _CallState) -> tuple[tuple[str, str | bytes], ...]:
        auth = self._auth_header or await self._provider_auth()
        if self._warn_plaintext:
            self._warn_plaintext = False
            logger.warning(
                "sending the service token in plaintext to %s; use TLS outside loopback",
                self.target,
            )
        md: tuple[tuple[str, str | bytes], ...] = (
            auth,
            ("x-request-id", state.request_id),
            *self._static_headers,
        )
        if state.attempt > 1:
            md += (("grpc-previous-rpc-attempts", str(state.attempt - 1)),)
        return md + state.extra if state.extra else md

    def new_state(
        self,
        method: Method[Any, Any],
        timeout: float | None,
        request_id: str | None,
        metadata: MetadataArg | None,
        use_default: bool = True,
    ) -> _CallState:
        if request_id is None:
            request_id = new_request_id()
        else:
            if not isinstance(request_id, str) or not request_id:
                raise ValueError("request_id: must be a non-empty str")
            _check_header("x-request-id", request_id, "request_id")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        is_default = timeout is None and use_default
        if is_default:
            timeout = self.timeout
        return _CallState(
            method,
            request_id,
            timeout,
            is_default,
            validate_metadata(metadata),
        )

    # -- retry decision ------------------------------------------------------------

    def retry_delay(self, state: _CallState, error: errors.ScaiGridError) -> float | None:
        """Seconds to wait before retrying, or None to raise ``error``."""
        policy = self.retry
        if (
            error.status is grpc.StatusCode.UNAUTHENTICATED
            and not state.refreshed
            and isinstance(self._token, TokenProvider)
            and error.code in (None, "token_expired", "invalid_token")
        ):
            # One refresh-and-retry: the provider's cached token went stale.
            state.refreshed = True
            self._token.invalidate()
            return 0.0
        if error.status not in policy.retry_on or isinstance(error, _NEVER_RETRIED):
            return None  # bad TLS settings or an unknown host fail the same way every time
        budget = self._budget
        # A call that failed because the channel is not connected never
        # reached the gateway, and its retries will not either until grpc
        # reconnects: a restart that fails a burst of calls is one event for
        # the channel, not one failure per call. The budget counts failures
        # the gateway itself answered, which are load on it.
        connected = self.connected() and not _never_connected(error)
        if connected:
            budget.failure()
        if state.attempt >= policy.max_attempts:
            return None
        if connected and not budget.allows_retry():
            self._budget_stopped(error)
            return None
        pushback = _pushback(error)
        if pushback is False:
            return None
        if pushback is None:
            delay = policy.backoff(state.attempt, random.random())
        else:
            assert isinstance(pushback, float)
            delay = pushback
        remaining = state.remaining()
        if remaining is not None and delay >= remaining:
            return None
        return delay

    def _budget_stopped(self, error: errors.ScaiGridError) -> None:
        error.add_detail(
            "not retried: the client's retry budget is spent after many recent failures; "
            "retries resume as calls succeed again"
        )
        budget = self._budget
        if not budget.warned:
            budget.warned = True  # once per episode: success() re-arms it
            logger.warning(
                "retry budget spent (%.0f of %.0f tokens left): failing calls are no longer "
                "retried until calls succeed again; the gateway at %s is failing repeatedly",
                budget.tokens,
                budget.max_tokens,
                self.target,
            )

    def announce_retry(
        self, state: _CallState, error: errors.ScaiGridError, delay: float, resume: bool = False
    ) -> None:
        policy = self.retry
        logger.info(
            "%s %s (request_id=%s): attempt %d of %d failed with %s%s; next in %.3fs",
            "resuming" if resume else "retrying",
            state.method.name,
            state.request_id,
            state.attempt,
            policy.max_attempts,
            error.status.name,
            f" ({error.code})" if error.code else "",
            delay,
        )
        if policy.on_retry is not None:
            policy.on_retry(
                RetryEvent(
                    method=state.method.name,
                    request_id=state.request_id,
                    attempt=state.attempt,
                    max_attempts=policy.max_attempts,
                    status=error.status,
                    code=error.code,
                    delay=delay,
                )
            )

    # -- what every attempt does: used by unary calls and ServerStream ------------

    async def start(self, state: _CallState, request: Any) -> Any:
        """Send one attempt with the time that remains; returns the grpc call.
        (On a closed client, the channel property raises RuntimeError.)"""
        remaining = state.remaining()
        if remaining is not None and remaining <= 0:
            raise self._deadline_error(state, attempts=state.attempt - 1)
        return self._callable(state.method)(
            request, timeout=remaining, metadata=await self._metadata(state)
        )

    def connected(self) -> bool:
        """Whether the channel has a connection now (a caller's channel counts as one)."""
        channel = self._channel
        if channel is None or not self._owns_channel:
            return True
        return channel.get_state(try_to_connect=False) is grpc.ChannelConnectivity.READY

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
        if connectivity is ready:
            return True
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

    def closed_error(self, state: _CallState) -> errors.CancelledError:
        """For a stream whose client was closed under it."""
        return errors.CancelledError(
            "the client was closed while the stream was open",
            request_id=state.request_id,
            attempts=state.attempt,
        )

    def record_success(self) -> None:
        self._budget.success()
        self._reached = True

    async def failure(self, exc: grpc.aio.AioRpcError, state: _CallState) -> errors.ScaiGridError:
        """The typed error for a failed attempt, saying what ran out or what
        is misconfigured where grpc's own words do not."""
        error = errors.from_rpc_error(exc, request_id=state.request_id, attempts=state.attempt)
        status = error.status
        if status is grpc.StatusCode.UNAVAILABLE:
            if not self._reached and _closed_at_setup(error):
                return await self._explain_closed(error, state)
            return error
        self._reached = True  # the gateway answered: the connection works
        if status is grpc.StatusCode.DEADLINE_EXCEEDED and error.code is None:
            remaining = state.remaining()
            # grpc's "Deadline Exceeded" on a call whose own deadline is up
            # (not a gateway that ran out of its own time): say which.
            if remaining is not None and remaining <= _DEADLINE_SLACK:
                return self._deadline_error(state, error.metadata)
        return error

    async def _explain_closed(
        self, error: errors.ScaiGridError, state: _CallState
    ) -> errors.ScaiGridError:
        reason = self._setup_failure
        now = time.monotonic()
        if reason is None and now >= self._next_probe and self._owns_channel:
            from scaigrid_client._diagnose import probe_setup_failure

            self._next_probe = now + _PROBE_INTERVAL
            remaining = state.remaining()
            budget = _PROBE_TIMEOUT if remaining is None else min(_PROBE_TIMEOUT, remaining)
            reason = self._setup_failure = await probe_setup_failure(self.target, self.tls, budget)
        if reason is None:
            return error
        return errors.tls_error(
            reason,
            error.message,
            status=error.status,
            request_id=error.request_id,
            metadata=error.metadata,
            attempts=error.attempts,
        )

    def _deadline_error(
        self,
        state: _CallState,
        metadata: tuple[tuple[str, str | bytes], ...] = (),
        attempts: int | None = None,
    ) -> errors.DeadlineExceededError:
        made = state.attempt if attempts is None else attempts
        if state.timeout_is_default:
            source = "the client's default timeout=; pass timeout= to the call to change it"
        else:
            source = "timeout= of this call"
        when = {0: "before the first attempt", 1: "after 1 attempt"}.get(
            made, f"after {made} attempts"
        )
        return errors.DeadlineExceededError(
            f"the call's deadline of {state.timeout:g} s ran out {when} ({source})",
            request_id=state.request_id,
            metadata=metadata,
            attempts=max(made, 1),
        )

    # -- unary -----------------------------------------------------------------------

    async def unary(
        self,
        method: Method[Req, Resp],
        request: Req,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: MetadataArg | None = None,
        call_info: CallInfo | None = None,
    ) -> Resp:
        state = self.new_state(method, timeout, request_id, metadata)
        try:
            response: Resp = await self._attempt(state, request, call_info)
        except errors.ScaiGridError as error:
            delay = self.retry_delay(state, error)
            if delay is None:
                raise
            state.next_delay = delay
            state.last_error = error
            response = await self._retry(state, request, call_info)
        self.record_success()
        return response

    async def _attempt(self, state: _CallState, request: Any, call_info: CallInfo | None) -> Any:
        call = await self.start(state, request)
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            raise await self.failure(exc, state) from None
        if call_info is not None:
            call_info.request_id = state.request_id
            call_info.attempts = state.attempt
            call_info.initial_metadata = tuple(await call.initial_metadata() or ())
            call_info.trailing_metadata = tuple(await call.trailing_metadata() or ())
        return response

    async def _retry(self, state: _CallState, request: Any, call_info: CallInfo | None) -> Any:
        import tenacity  # only a call that failed pays for importing it

        def should_retry(retry_state: tenacity.RetryCallState) -> bool:
            outcome = retry_state.outcome
            if outcome is None or not outcome.failed:
                return False
            error = outcome.exception()
            if not isinstance(error, errors.ScaiGridError) or error is state.last_error:
                return False
            delay = self.retry_delay(state, error)
            if delay is None:
                return False
            state.next_delay, state.last_error = delay, error
            return True

        async def before_attempt(retry_state: tenacity.RetryCallState) -> None:
            if retry_state.attempt_number > 1 or state.last_error is not None:
                error = state.last_error
                assert error is not None
                self.announce_retry(state, error, state.next_delay)
                await asyncio.sleep(state.next_delay)
                state.attempt += 1
                state.last_error = None

        retrying = tenacity.AsyncRetrying(
            retry=should_retry,
            before=before_attempt,
            wait=tenacity.wait_none(),
            reraise=True,
        )
        return await retrying(self._attempt, state, request, call_info)

    # -- server streams ---------------------------------------------------------------

    def stream(
        self,
        method: Method[Req, Resp],
        request: Req,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: MetadataArg | None = None,
        resume: Callable[[Req, Resp], Req] | None = None,
        idle_timeout: float | None = None,
    ) -> ServerStream[Req, Resp]:
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(
                f"idle_timeout: must be a positive number of seconds, got {idle_timeout!r}"
            )
        # The client's default timeout is for unary calls: a stream that tails
        # events for hours gets a deadline only from its own timeout=.
        state = self.new_state(method, timeout, request_id, metadata, use_default=False)
        return ServerStream(_StreamFlow(self, state, request, resume, idle_timeout))


class _StreamFlow(Generic[Req, Resp]):
    """The state of one server stream across its attempts, and the generator
    that reads it.

    Kept apart from `ServerStream` so that the generator never refers back to
    the object the caller holds: dropping either never leaves a cycle, and a
    generator abandoned by ``break`` is closed (and its call cancelled) by
    asyncio's async-generator finalizer at once.
    """

    __slots__ = (
        "call",
        "delivered",
        "done",
        "finished",
        "idle_timeout",
        "last",
        "opened",
        "request",
        "resume",
        "state",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        state: _CallState,
        request: Req,
        resume: Callable[[Req, Resp], Req] | None,
        idle_timeout: float | None,
    ) -> None:
        self.transport = transport
        self.state = state
        self.request = request
        self.resume = resume
        self.idle_timeout = idle_timeout
        self.call: Any = None
        self.finished: Any = None  # the call that ended the stream normally
        self.last: Resp | None = None
        self.delivered = False
        self.done = False
        self.opened = 0.0  # when the current attempt started (monotonic)

    def cancel(self) -> None:
        self.done = True
        call, self.call = self.call, None
        if call is not None:
            call.cancel()

    async def messages(self) -> AsyncGenerator[Resp, None]:
        # Per message: grpc's own iterator, one store and a yield. (The call's
        # read() costs more per message than its iterator, so it is not used.)
        try:
            while not self.done:
                request = self.request
                if self.last is not None and self.resume is not None:
                    request = self.resume(request, self.last)
                call = self.call = await self.transport.start(self.state, request)
                self.opened = time.monotonic()
                idle_timeout, progressed = self.idle_timeout, False
                source = call if idle_timeout is None else _within(call, idle_timeout)
                try:
                    async for message in source:
                        if not progressed:
                            progressed = True
                            self.on_progress()
                        self.last = message
                        yield message
                except grpc.aio.AioRpcError as exc:
                    error: errors.ScaiGridError = await self.transport.failure(exc, self.state)
                except asyncio.TimeoutError:
                    call.cancel()
                    error = errors.StreamIdleTimeoutError(
                        f"no message for {idle_timeout}s",
                        request_id=self.state.request_id,
                        attempts=self.state.attempt,
                    )
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
                    return
                # Outside the except clauses, so the typed error is raised
                # without grpc's exception chained to it.
                await self.recover(error, progressed)
        finally:
            self.cancel()

    def on_progress(self) -> None:
        """The first message of an attempt: the call is healthy again."""
        state = self.state
        if not self.delivered or state.attempt > 1:
            self.transport.record_success()
            state.attempt = 1  # progress: the attempt count starts over
        self.delivered = True

    async def recover(self, error: errors.ScaiGridError, progressed: bool) -> None:
        """Sleep and reopen if the error allows; otherwise raise it."""
        self.call = None
        if self.transport.closed:
            raise self.transport.closed_error(self.state)
        if self.resume is not None and _lost_link(error):
            await self.reconnect(error, progressed)
            return
        state = self.state
        # Other streams are retried like a unary call until their first message.
        if self.delivered or isinstance(error, errors.StreamIdleTimeoutError):
            raise error
        delay = self.transport.retry_delay(state, error)
        if delay is None:
            raise error
        self.transport.announce_retry(state, error, delay)
        await asyncio.sleep(delay)
        state.attempt += 1

    async def reconnect(self, error: errors.ScaiGridError, progressed: bool) -> None:
        """Reopen a resumable stream after its link failed.

        Not a retry: it spends nothing from the retry budget, so a restart
        that breaks a thousand streams is one event, not a thousand failures.
        What protects the gateway instead: no stream reopens until the
        channel is connected again (one reconnect, made by grpc, for all of
        them), reopenings are spread at random over ``initial_backoff``, and
        attempts that fail without the link ever working back off and count
        towards ``max_attempts``.
        """
        state, transport = self.state, self.transport
        policy = transport.retry
        pushback = _pushback(error)
        if pushback is False:
            raise error
        # The link had worked if it delivered, or stayed up for a while (a
        # stall past the idle timeout included): this is a new episode.
        established = (
            progressed
            or isinstance(error, errors.StreamIdleTimeoutError)
            or time.monotonic() - self.opened >= _ESTABLISHED_AFTER
        )
        if established:
            state.attempt = 1
            delay = policy.initial_backoff * random.random()
        elif state.attempt >= policy.max_attempts:
            raise error
        else:
            delay = policy.backoff(state.attempt, random.random())
        if pushback is not None:
            assert isinstance(pushback, float)
            delay = pushback
        remaining = state.remaining()
        if remaining is not None and delay >= remaining:
            raise error
        transport.announce_retry(state, error, delay, resume=True)
        await asyncio.sleep(delay)
        state.attempt += 1
        # While the gateway is unreachable, waiting for the channel stands in
        # for attempts: each backoff period spent waiting counts as one.
        while not await transport.wait_until_connected(
            policy.backoff(state.attempt, random.random()), state
        ):
            if transport.closed:
                raise transport.closed_error(state)
            if state.attempt >= policy.max_attempts or self.done:
                error.attempts = state.attempt
                raise error
            state.attempt += 1


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


class ServerStream(Generic[Req, Resp]):
    """An async iterator over a server stream.

    Retried like a unary call until its first message; after that, an error
    is raised as a typed exception, unless the stream is resumable, in which
    case it reopens after the last message delivered. Leaving an ``async for``
    early (or ``aclose()``) cancels the call at once.
    """

    __slots__ = ("_flow", "_messages")

    def __init__(self, flow: _StreamFlow[Req, Resp]) -> None:
        self._flow = flow
        self._messages: AsyncGenerator[Resp, None] | None = None

    @property
    def request_id(self) -> str:
        return self._flow.state.request_id

    def __aiter__(self) -> AsyncIterator[Resp]:
        # `async for` iterates the generator itself: no extra call per message.
        if self._messages is None:
            self._messages = self._flow.messages()
        return self._messages

    async def __anext__(self) -> Resp:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> ServerStream[Req, Resp]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def cancel(self) -> None:
        """Cancel the call; iteration then ends."""
        self._flow.cancel()

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

    @property
    def attempts(self) -> int:
        """Attempts made since the last message delivered (1 while all is well)."""
        return self._flow.state.attempt

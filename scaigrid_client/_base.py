"""What every call does, whatever the flavour: the part of the call path
that the async `Transport` (`_transport.py`) and the sync one
(`sync/_transport.py`) share.

Here are the call's state, its metadata, the deadline across attempts, the
retry decision (statuses, attempts, pushback, the retry budget), the error
decoding, and what a resumable stream does after a failure. The flavours add
only what must differ: awaiting or blocking, sleeping, iterating, and the
grpc channel of their stack.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf import message as _message

from scaigrid_client import _telemetry, errors
from scaigrid_client._channel import Proxy, is_loopback, parse_target
from scaigrid_client._config import Keepalive, RetryEvent, RetryPolicy, TLSConfig
from scaigrid_client._version import __version__

__all__ = ["BaseTransport", "CallInfo", "MetadataArg", "Method"]

logger = logging.getLogger("scaigrid_client")

Req = TypeVar("Req", bound=_message.Message)
Resp = TypeVar("Resp", bound=_message.Message)

MetadataArg = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]
"""Extra metadata a caller may pass: a mapping or (key, value) pairs."""


class NotGiven:
    """The type of `NOT_GIVEN`: an option the caller left out (as opposed to
    None, which for ``timeout=`` means no deadline)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()

PUSHBACK_KEY = "grpc-retry-pushback-ms"
DEFAULT_KEEPALIVE = Keepalive()
_CLIENT_HEADER = ("x-scaigrid-client", f"scaigrid-client/{__version__} python")


class Method(Generic[Req, Resp]):
    """One RPC: its name, path, message types and shape. Built once."""

    __slots__ = ("default_timeout", "name", "path", "request_type", "response_type", "streaming")

    def __init__(
        self,
        *,
        name: str,
        path: str,
        request_type: type[Req],
        response_type: type[Resp],
        streaming: bool,
        default_timeout: float | None = None,
    ) -> None:
        self.name = name
        # The deadline of a call given none by the caller or the client.
        self.default_timeout = default_timeout
        self.path = path
        self.request_type = request_type
        self.response_type = response_type
        self.streaming = streaming

    def __repr__(self) -> str:
        return f"Method({self.path!r})"

    def callable_on(self, channel: Any) -> Any:
        """grpc's multi-callable for this RPC on ``channel`` (either stack's)."""
        factory = channel.unary_stream if self.streaming else channel.unary_unary
        return factory(
            self.path,
            request_serializer=self.request_type.SerializeToString,
            response_deserializer=self.response_type.FromString,
        )

    @classmethod
    def of(
        cls, service_module: Any, service: str, rpc: str, default_timeout: float | None = None
    ) -> Method[Any, Any]:
        descriptor = service_module.DESCRIPTOR.services_by_name[service].methods_by_name[rpc]
        from google.protobuf import message_factory

        return Method(
            name=f"{service}.{rpc}",
            path=f"/{descriptor.containing_service.full_name}/{rpc}",
            request_type=message_factory.GetMessageClass(descriptor.input_type),
            response_type=message_factory.GetMessageClass(descriptor.output_type),
            streaming=descriptor.server_streaming,
            default_timeout=default_timeout,
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


def _never_retried(error: errors.ScaiGridError) -> bool:
    """Failures the same settings meet every time: bad TLS settings, an
    unknown host, a proxy that refuses the credentials (407) or the host (403)."""
    if isinstance(error, errors.ProxyError):
        return error.http_status in (403, 407)
    return isinstance(error, _NEVER_RETRIED)


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
        return not _never_retried(error)
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
        # Sync callers share a client across threads, and async ones across
        # loops in threads: updates take the lock (a full bucket needs none).
        self._lock = threading.Lock()

    def success(self) -> None:
        if self.tokens < self.max_tokens:
            with self._lock:
                self.tokens = min(self.max_tokens, self.tokens + self.ratio)
                if self.warned and self.allows_retry():
                    self.warned = False

    def failure(self) -> None:
        with self._lock:
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
        "telemetry",
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
        self.telemetry: _telemetry.CallTelemetry | None = None

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


# -- fork ---------------------------------------------------------------------------------
#
# grpc cannot be used in a process forked from one that had channels open: the
# child's grpc waits forever for threads that did not survive the fork. A child
# of a parent that had none open works. So the open channels are counted, and
# a child forked while any was open refuses every call at once, saying why.

_open_channels = 0
_ever_opened = False
_used_at_fork = False
# grpcio 1.85 and newer can start afresh in a child whose parent closed its
# channels before forking; older ones sometimes hang there (measured on 1.70).
_FRESH_CHILD_OK = tuple(int(part) for part in grpc.__version__.split(".")[:2]) >= (1, 85)
_open_lock = threading.Lock()
_forked_from: int | None = None  # the parent's pid, in a child forked with channels open
_live_transports: weakref.WeakSet[BaseTransport] = weakref.WeakSet()
_open_at_fork = 0


def channel_opened() -> None:
    global _open_channels, _ever_opened
    with _open_lock:
        _open_channels += 1
        _ever_opened = True


def channel_closed() -> None:
    global _open_channels
    with _open_lock:
        _open_channels = max(0, _open_channels - 1)


def _before_fork() -> None:
    global _open_at_fork, _used_at_fork
    _open_at_fork = _open_channels
    _used_at_fork = _ever_opened


# The parent's channels, kept from the garbage collector in a forked child:
# their finalizers would close them, and touching grpc there crashes or hangs.
_inherited: list[object] = []


def _after_fork_in_child() -> None:
    global _forked_from, _open_channels, _open_lock
    _open_lock = threading.Lock()  # it may have been held by a thread that is gone
    if _open_at_fork or (_used_at_fork and not _FRESH_CHILD_OK):
        _forked_from = os.getppid()
        for transport in list(_live_transports):
            _inherited.append(transport.forget_channels())
    _open_channels = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def live_transports() -> list[BaseTransport]:
    """Every client transport alive in this process (for the budget gauge)."""
    return list(_live_transports)


def check_not_forked() -> None:
    """Raise ForkError in a child forked while grpc channels were open."""
    if _forked_from is not None:
        raise errors.ForkError(
            f"this process was forked from process {_forked_from} while that process had "
            "gRPC channels open (with grpcio older than 1.85: after it had used any), and "
            "gRPC cannot be used in such a child: it would hang. "
            "Create clients in the child only (gunicorn: no --preload of clients; Celery: "
            "create them in worker_process_init), close them before forking, or use the "
            "'spawn' start method (multiprocessing.get_context('spawn'))"
        )


class BaseTransport:
    """Credentials, policies and decisions shared by a flavour's clients."""

    _token: Any  # a str or the flavour's token provider

    def __init__(
        self,
        target: str | None,
        *,
        token: Any,
        tls: bool | TLSConfig,
        retry: RetryPolicy | None,
        timeout: float | None,
        channel: object | None,
        keepalive: Keepalive | None,
        resolve_token: Callable[[Any], Any],
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
            self._auth_header = auth_header(self._token)
        self.tls = tls
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._budget = _RetryBudget(self.retry.budget_max_tokens, self.retry.budget_token_ratio)
        self._owns_channel = channel is None
        self._proxy: Proxy = None  # proxy=, set by the flavour
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
        _live_transports.add(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, tls={self.tls!r})"

    @property
    def closed(self) -> bool:
        return self._closed

    def forget_channels(self) -> object:
        """In a forked child: stop using the parent's channels, without
        touching them; returns them, for the caller to keep alive."""
        return None

    def connected(self) -> bool:
        """Whether the channel has a connection now (the flavour knows)."""
        return True

    # -- metadata ----------------------------------------------------------------------

    def metadata(
        self, state: _CallState, auth: tuple[str, str]
    ) -> tuple[tuple[str, str | bytes], ...]:
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
        if state.telemetry is not None:
            md += state.telemetry.headers()  # the span's traceparent, on every attempt
        return md + state.extra if state.extra else md

    # -- telemetry (see _telemetry: nothing runs unless something listens) -------------

    def observe(self, state: _CallState) -> None:
        """Start the call's telemetry, if anything listens."""
        state.telemetry = _telemetry.start(state.method.name, state.method.path, state.request_id)

    def attempt_done(self, state: _CallState, error: errors.ScaiGridError | None) -> None:
        telemetry = state.telemetry
        if telemetry is not None:
            pushback = None if error is None else _pushback(error)
            telemetry.attempt_finished(state.attempt, error, pushback)

    def call_done(self, state: _CallState, error: BaseException | None) -> None:
        """The logical call ended: with ``error``, or None; a stream that
        ended neither normally nor with an error was ended by its caller."""
        telemetry = state.telemetry
        if telemetry is None:
            return
        state.telemetry = None
        if isinstance(error, errors.CancelledError) and self._closed:
            # the client was closed under the call: the caller's doing
            telemetry.finished(state.attempt, None, cancelled=True)
        elif error is None or isinstance(error, errors.ScaiGridError):
            telemetry.finished(state.attempt, error)
        elif isinstance(error, (GeneratorExit, KeyboardInterrupt)) or type(error).__name__ == (
            "CancelledError"
        ):
            telemetry.finished(state.attempt, None, cancelled=True)  # the caller's doing
        else:  # a bug in a callback (a token function, on_retry): no answer
            telemetry.finished(
                state.attempt,
                errors.UnknownError(
                    f"ended by {type(error).__name__}", request_id=state.request_id
                ),
            )

    def budget_tokens(self) -> float:
        return self._budget.tokens

    def new_state(
        self,
        method: Method[Any, Any],
        timeout: float | NotGiven | None,
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
        if isinstance(timeout, NotGiven):
            # Left out: the client's timeout=, else the method's default (for
            # unary calls only). An explicit None is no deadline.
            is_default = use_default
            timeout = (self.timeout or method.default_timeout) if use_default else None
        else:
            if timeout is not None and not timeout > 0:
                raise ValueError(
                    f"timeout: must be a positive number of seconds or None, got {timeout!r}"
                )
            is_default = False
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
            and not isinstance(self._token, str)
            and error.code in (None, "token_expired", "invalid_token")
        ):
            # One refresh-and-retry: the provider's cached token went stale.
            state.refreshed = True
            self._token.invalidate()
            return 0.0
        if error.status not in policy.retry_on or _never_retried(error):
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
            self._budget_stopped(state, error)
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

    def _budget_stopped(self, state: _CallState, error: errors.ScaiGridError) -> None:
        _telemetry.count("budget_stopped", state.method.path)
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
        if logger.isEnabledFor(logging.INFO):
            fields = {
                "event": "resume" if resume else "retry",
                "method": state.method.name,
                "request_id": state.request_id,
                "attempt": state.attempt,
                "max_attempts": policy.max_attempts,
                "status": error.status.name,
                "code": error.code,
                "delay_ms": round(delay * 1000, 3),
            }
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
                extra={"scaigrid": fields},
            )
        if state.telemetry is not None:
            state.telemetry.retried(state.attempt, error, delay, resume)
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

    def stream_state(
        self,
        method: Method[Any, Any],
        timeout: float | NotGiven | None,
        request_id: str | None,
        metadata: MetadataArg | None,
        idle_timeout: float | None,
    ) -> _CallState:
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(
                f"idle_timeout: must be a positive number of seconds, got {idle_timeout!r}"
            )
        # The client's default timeout is for unary calls: a stream that tails
        # events for hours gets a deadline only from its own timeout=.
        return self.new_state(method, timeout, request_id, metadata, use_default=False)

    def tenacity_retry(self, state: _CallState) -> Callable[[Any], bool]:
        """tenacity's retry predicate for the rest of a call's attempts."""

        def should_retry(retry_state: Any) -> bool:
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

        return should_retry

    def before_retry(self, state: _CallState) -> float:
        """Announce the retry about to be made; the seconds to sleep first."""
        error = state.last_error
        assert error is not None
        self.announce_retry(state, error, state.next_delay)
        state.attempt += 1
        state.last_error = None
        return state.next_delay

    def idle_error(self, state: _CallState, idle_timeout: float | None) -> errors.ScaiGridError:
        _telemetry.count("idle_timeouts", state.method.path)
        return errors.StreamIdleTimeoutError(
            f"no message for {idle_timeout}s",
            request_id=state.request_id,
            attempts=state.attempt,
        )

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

    # -- errors ------------------------------------------------------------------------

    def decode(self, exc: grpc.RpcError, state: _CallState) -> errors.ScaiGridError:
        """The typed error for a failed attempt, saying what ran out where
        grpc's own words do not."""
        error = errors.from_rpc_error(exc, request_id=state.request_id, attempts=state.attempt)
        status = error.status
        if status is grpc.StatusCode.UNAVAILABLE:
            if isinstance(self._proxy, str) and _never_connected(error):
                # grpc's words name an address, not that it is the proxy's.
                from scaigrid_client._channel import redact_proxy

                error.add_detail(
                    f"the connection goes through the HTTP proxy {redact_proxy(self._proxy)} "
                    "(proxy=): check that it is running and reachable"
                )
            return error
        self._reached = True  # the gateway answered: the connection works
        if status is grpc.StatusCode.DEADLINE_EXCEEDED and error.code is None:
            remaining = state.remaining()
            # grpc's "Deadline Exceeded" on a call whose own deadline is up
            # (not a gateway that ran out of its own time): say which.
            if remaining is not None and remaining <= _DEADLINE_SLACK:
                return self._deadline_error(state, error.metadata)
        return error

    def should_probe(self, error: errors.ScaiGridError) -> bool:
        """Whether a probe may tell what grpc calls "Socket closed" (see _diagnose)."""
        if self._reached or not self._owns_channel or not _closed_at_setup(error):
            return False
        if self._setup_failure is not None:
            return True
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + _PROBE_INTERVAL
        return True

    def probe_timeout(self, state: _CallState) -> float:
        remaining = state.remaining()
        return _PROBE_TIMEOUT if remaining is None else min(_PROBE_TIMEOUT, remaining)

    def explained(self, error: errors.ScaiGridError, reason: str | None) -> errors.ScaiGridError:
        """``error`` as the TLS failure a probe found, if it found one."""
        if reason is None:
            return error
        self._setup_failure = reason
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
        if not state.timeout_is_default:
            source = "timeout= of this call"
        elif self.timeout is not None:
            source = "the client's default timeout=; pass timeout= to the call to change it"
        else:
            rpc = state.method.name.rpartition(".")[2]  # AllocateGPUs -> allocate_gpus
            name = "".join(
                f"_{c}" if c.isupper() and i and rpc[i - 1].islower() else c
                for i, c in enumerate(rpc)
            ).lower()
            source = f"the default deadline of {name}; pass timeout= to change it"
        when = {0: "before the first attempt", 1: "after 1 attempt"}.get(
            made, f"after {made} attempts"
        )
        return errors.DeadlineExceededError(
            f"the call's deadline of {state.timeout:g} s ran out {when} ({source})",
            request_id=state.request_id,
            metadata=metadata,
            attempts=max(made, 1),
        )

    # -- streams -----------------------------------------------------------------------

    def after_stream_error(
        self,
        state: _CallState,
        error: errors.ScaiGridError,
        *,
        resumable: bool,
        delivered: bool,
        progressed: bool,
        opened: float,
    ) -> tuple[float, bool]:
        """What a stream does after ``error``: ``(delay, resume)``, or raise it.

        A resumable stream whose link broke resumes (``resume`` True: the
        caller waits for the channel before reopening). Any other stream is
        retried like a unary call until its first message.
        """
        if self._closed:
            raise self.closed_error(state)
        if resumable and _lost_link(error):
            return self._resume_delay(state, error, progressed, opened), True
        if delivered or isinstance(error, errors.StreamIdleTimeoutError):
            raise error
        delay = self.retry_delay(state, error)
        if delay is None:
            raise error
        return delay, False

    def _resume_delay(
        self, state: _CallState, error: errors.ScaiGridError, progressed: bool, opened: float
    ) -> float:
        """Reopening a resumable stream is not a retry: it spends nothing
        from the retry budget, so a restart that breaks a thousand streams
        is one event, not a thousand failures. What protects the gateway
        instead: no stream reopens until the channel is connected again (one
        reconnect, made by grpc, for all of them), reopenings are spread at
        random over ``initial_backoff``, and attempts that fail without the
        link ever working back off and count towards ``max_attempts``.
        """
        policy = self.retry
        pushback = _pushback(error)
        if pushback is False:
            raise error
        # The link had worked if it delivered, or stayed up for a while (a
        # stall past the idle timeout included): this is a new episode.
        established = (
            progressed
            or isinstance(error, errors.StreamIdleTimeoutError)
            or time.monotonic() - opened >= _ESTABLISHED_AFTER
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
        return delay

    def outage_wait(self, state: _CallState) -> float:
        """How long the next wait for the channel to connect may take."""
        return self.retry.backoff(state.attempt, random.random())

    def outage_continues(self, state: _CallState, error: errors.ScaiGridError) -> None:
        """The channel did not connect within one wait: count it as an
        attempt, or raise ``error`` when they are used up."""
        if self._closed:
            raise self.closed_error(state)
        if state.attempt >= self.retry.max_attempts:
            error.attempts = state.attempt
            raise error
        state.attempt += 1


class StreamFlowBase(Generic[Req, Resp]):
    """The state of one server stream across its attempts, whatever the
    flavour; each flavour's subclass adds the generator that reads it.

    Kept apart from the ServerStream the caller holds, so that the generator
    never refers back to it: dropping either never leaves a cycle, and a
    generator abandoned by ``break`` is closed (and its call cancelled) at
    once.
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
        transport: Any,
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

    def next_request(self) -> Req:
        """The request of the next attempt: after the last message delivered."""
        if self.last is not None and self.resume is not None:
            return self.resume(self.request, self.last)
        return self.request

    def on_progress(self) -> None:
        """The first message of an attempt: the call is healthy again."""
        state = self.state
        if not self.delivered or state.attempt > 1:
            self.transport.record_success()
            state.attempt = 1  # progress: the attempt count starts over
        self.delivered = True

    def after_error(self, error: errors.ScaiGridError, progressed: bool) -> tuple[float, bool]:
        """``(delay, resume)`` before the next attempt (announced), or raise."""
        self.call = None
        transport, state = self.transport, self.state
        delay, resume = transport.after_stream_error(
            state,
            error,
            resumable=self.resume is not None,
            delivered=self.delivered,
            progressed=progressed,
            opened=self.opened,
        )
        transport.announce_retry(state, error, delay, resume=resume)
        return delay, resume


class ServerStreamBase(Generic[Req, Resp]):
    """What a server stream offers in both flavours."""

    __slots__ = ("_flow", "_messages")

    _flow: StreamFlowBase[Req, Resp]

    @property
    def request_id(self) -> str:
        return self._flow.state.request_id

    def cancel(self) -> None:
        """Cancel the call; iteration then ends (safe from another task or thread)."""
        self._flow.cancel()

    @property
    def attempts(self) -> int:
        """Attempts made since the last message delivered (1 while all is well)."""
        return self._flow.state.attempt


def jittered(interval: float, jitter: float) -> float:
    """``interval`` plus or minus a random share of up to ``jitter``."""
    return interval * (1 + jitter * (2 * random.random() - 1))


def auth_header(token: str) -> tuple[str, str]:
    header = ("authorization", f"Bearer {token}")
    _check_header(*header, what="token")
    return header


def provider_failed(exc: Exception) -> errors.TokenProviderError:
    return errors.TokenProviderError(f"the token provider failed: {type(exc).__name__}")

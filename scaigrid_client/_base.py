"""`BaseTransport`: a client's settings, and what every call asks of them
whatever the flavour: the metadata of each attempt, the call's state, the
retry decision (with the one token refresh), telemetry hooks, and the typed
errors a transport itself raises.

The parts are their own modules: the call and its checks (`_call`), the
retry policy at work (`_retry`), decoding failed attempts (`_failures`),
fork accounting (`_fork`). The call loop that uses them is `_call_loop.py`;
the channel is each flavour's `Transport`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc

from scaigrid_client import _telemetry, errors
from scaigrid_client._call import (
    CallState,
    Metadata,
    MetadataArg,
    Method,
    NotGiven,
    auth_header,
    check_header,
    new_request_id,
    validate_metadata,
)
from scaigrid_client._channel import Proxy, is_loopback, parse_target
from scaigrid_client._config import Keepalive, RetryPolicy, TLSConfig
from scaigrid_client._failures import FailureDecoder
from scaigrid_client._fork import register_transport
from scaigrid_client._retry import Retrier, pushback
from scaigrid_client._tls_files import TLSFiles, TLSStatus
from scaigrid_client._tls_rotation import Lease, Rotation
from scaigrid_client._version import __version__
from scaigrid_client._xds import check_xds_settings, is_xds

__all__ = ["DEFAULT_KEEPALIVE", "BaseTransport"]

logger = logging.getLogger("scaigrid_client")

DEFAULT_KEEPALIVE = Keepalive()
_CLIENT_HEADER = ("x-scaigrid-client", f"scaigrid-client/{__version__} python")


def _check_settings(tls: object, timeout: float | None, keepalive: object, retry: object) -> None:
    if not isinstance(tls, (bool, TLSConfig, TLSFiles)):
        raise TypeError(
            f"tls: expected True, False, a TLSConfig or a TLSFiles, got {type(tls).__name__}"
        )
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout: must be a positive number of seconds or None, got {timeout!r}")
    if keepalive is not None and not isinstance(keepalive, Keepalive):
        raise TypeError(f"keepalive: expected a Keepalive or None, got {type(keepalive).__name__}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry: expected a RetryPolicy or None, got {type(retry).__name__}")


class BaseTransport:
    """Credentials, policies and decisions shared by a flavour's clients."""

    _token: Any  # a str or the flavour's token provider

    @staticmethod
    def _resolve_token(token: Any) -> Any:
        """The flavour's token source for ``token=`` (see `_auth`)."""
        raise NotImplementedError

    def __init__(
        self,
        target: str | None,
        *,
        token: Any,
        tls: bool | TLSConfig | TLSFiles,
        retry: RetryPolicy | None,
        timeout: float | None,
        channel: Any = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[Any] | None = None,
        compression: grpc.Compression | None = None,
        keepalive: Keepalive | None = DEFAULT_KEEPALIVE,
        proxy: Proxy = None,
    ) -> None:
        self.target = parse_target(target) if channel is None or target is not None else "<channel>"
        _check_settings(tls, timeout, keepalive, retry)
        if channel is None and is_xds(self.target):
            check_xds_settings(self.target, proxy)
        self._keepalive = keepalive
        self._given = channel
        self._channel_options = tuple(channel_options)
        self._interceptors = list(interceptors) if interceptors else None
        self._compression = compression
        self._token = self._resolve_token(token)
        self._auth_header: tuple[str, str] | None = None
        if isinstance(self._token, str):
            self._auth_header = auth_header(self._token)
        self.tls = tls
        self._rotation: Rotation | None = None
        if isinstance(tls, TLSFiles):
            if channel is not None:
                raise ValueError(
                    "tls: a TLSFiles rotates the channels the client builds; with your own "
                    "channel=, build it from tls.config() and replace it yourself"
                )
            self._rotation = Rotation(tls, self._close_lease)
        self.retrier = Retrier(retry or RetryPolicy(), self.target)
        self._budget = self.retrier.budget
        self.timeout = timeout
        self._owns_channel = channel is None
        self._proxy = proxy
        self.failures = FailureDecoder(
            proxy=proxy,
            client_timeout=timeout,
            may_probe=channel is None and not is_xds(self.target),
        )
        self._closed = False
        # Checked once here, not per call: warn on the first call that sends a
        # token in plaintext to a host off this machine.
        self._warn_plaintext = (
            tls is False and self.target != "<channel>" and not is_loopback(self.target)
        )
        # grpc.primary_user_agent names the SDK on channels we build; a
        # caller's own channel gets the header instead.
        self._static_headers: Metadata = () if channel is None else (_CLIENT_HEADER,)
        register_transport(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, tls={self.tls!r})"

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force (the retrier's)."""
        return self.retrier.policy

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self.retrier.policy = policy

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

    def budget_tokens(self) -> float:
        return self._budget.tokens

    # -- TLS material that rotates (tls=TLSFiles; see _tls_rotation) -------------------

    def channel_tls(self) -> bool | TLSConfig:
        """What the next channel is built with: ``tls=``, or the material
        of a TLSFiles in use now."""
        if self._rotation is not None:
            return self._rotation.current()[0]
        assert not isinstance(self.tls, TLSFiles)
        return self.tls

    def _close_lease(self, lease: Lease) -> None:
        """Close a retired channel whose last call has ended (the flavour's way)."""
        raise NotImplementedError

    def tls_status(self) -> TLSStatus | None:
        return None if self._rotation is None else self._rotation.status()

    def tls_expires_in(self) -> float | None:
        return None if self._rotation is None else self._rotation.expires_in()

    # -- a call's state and each attempt's metadata ------------------------------------

    def new_state(
        self,
        method: Method[Any, Any],
        timeout: float | NotGiven | None,
        request_id: str | None,
        metadata: MetadataArg | None,
        retry: RetryPolicy | None = None,
        use_default: bool = True,
    ) -> CallState:
        if request_id is None:
            request_id = new_request_id()
        else:
            if not isinstance(request_id, str) or not request_id:
                raise ValueError("request_id: must be a non-empty str")
            check_header("x-request-id", request_id, "request_id")
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
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry: expected a RetryPolicy or None, got {type(retry).__name__}")
        state = CallState(method, request_id, timeout, is_default, validate_metadata(metadata))
        state.policy = retry
        return state

    def stream_state(
        self,
        method: Method[Any, Any],
        timeout: float | NotGiven | None,
        request_id: str | None,
        metadata: MetadataArg | None,
        retry: RetryPolicy | None,
        idle_timeout: float | None,
    ) -> CallState:
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(
                f"idle_timeout: must be a positive number of seconds, got {idle_timeout!r}"
            )
        # The client's default timeout is for unary calls: a stream that tails
        # events for hours gets a deadline only from its own timeout=.
        return self.new_state(method, timeout, request_id, metadata, retry, use_default=False)

    def metadata(self, state: CallState, auth: tuple[str, str]) -> Metadata:
        if self._warn_plaintext:
            self._warn_plaintext = False
            logger.warning(
                "sending the service token in plaintext to %s; use TLS outside loopback%s",
                self.target,
                " (or a mesh whose xDS security config gives mTLS)" if is_xds(self.target) else "",
            )
        md: Metadata = (auth, ("x-request-id", state.request_id), *self._static_headers)
        if state.attempt > 1:
            md += (("grpc-previous-rpc-attempts", str(state.attempt - 1)),)
        if state.telemetry is not None:
            md += state.telemetry.headers()  # the span's traceparent, on every attempt
        return md + state.extra if state.extra else md

    # -- decisions ---------------------------------------------------------------------

    def retry_delay(self, state: CallState, error: errors.ScaiGridError) -> float | None:
        """Seconds to wait before retrying, or None to raise ``error``."""
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
        return self.retrier.delay(state, error, connected=self.connected())

    def record_success(self) -> None:
        self._budget.success()
        self.failures.reached = True

    def outage_wait(self, state: CallState) -> float:
        """How long the next wait for the channel to connect may take."""
        return self.retrier.outage_wait(state)

    def outage_continues(self, state: CallState, error: errors.ScaiGridError) -> None:
        """The channel did not connect within one wait: count it as an
        attempt, or raise ``error`` when they are used up."""
        if self._closed:
            raise self.closed_error(state)
        if state.attempt >= self.retrier.policy_for(state).max_attempts:
            error.attempts = state.attempt
            raise error
        state.attempt += 1

    # -- the errors a transport raises itself ------------------------------------------

    def idle_error(self, state: CallState, idle_timeout: float | None) -> errors.ScaiGridError:
        _telemetry.count("idle_timeouts", state.method.path)
        return errors.StreamIdleTimeoutError(
            f"no message for {idle_timeout}s",
            request_id=state.request_id,
            attempts=state.attempt,
        )

    def closed_error(self, state: CallState) -> errors.CallCancelledError:
        """For a call or stream whose client was closed under it."""
        return errors.CallCancelledError(
            f"the client was closed while the {'stream was open' if state.method.streaming else 'call was in flight'}",
            request_id=state.request_id,
            attempts=state.attempt,
        )

    # -- telemetry (see _telemetry: nothing runs unless something listens) -------------

    def observe(self, state: CallState) -> None:
        """Start the call's telemetry, if anything listens."""
        state.telemetry = _telemetry.start(state.method.name, state.method.path, state.request_id)

    def attempt_done(self, state: CallState, error: errors.ScaiGridError | None) -> None:
        telemetry = state.telemetry
        if telemetry is not None:
            telemetry.attempt_finished(
                state.attempt, error, None if error is None else pushback(error)
            )

    def attempt_abandoned(self, state: CallState) -> None:
        """A stream's attempt its reader left (break, cancel(), close()): it
        ended too, CANCELLED by the caller."""
        cancelled = errors.CallCancelledError(
            "the reader left the stream", request_id=state.request_id, attempts=state.attempt
        )
        self.attempt_done(state, cancelled)

    def call_done(self, state: CallState, error: BaseException | None) -> None:
        """The logical call ended: with ``error``, or None; a stream that
        ended neither normally nor with an error was ended by its caller."""
        telemetry = state.telemetry
        if telemetry is None:
            return
        state.telemetry = None
        if isinstance(error, errors.CallCancelledError) and self._closed:
            # the client was closed under the call: the caller's doing
            telemetry.finished(None, cancelled=True)
        elif error is None or isinstance(error, errors.ScaiGridError):
            telemetry.finished(error)
        elif isinstance(error, (GeneratorExit, KeyboardInterrupt)) or type(error).__name__ == (
            "CancelledError"  # asyncio's (the sync flavour does not import asyncio)
        ):
            telemetry.finished(None, cancelled=True)  # the caller's doing
        else:  # a bug in a callback (a token function, on_retry): no answer
            telemetry.finished(
                errors.UnknownError(
                    f"ended by {type(error).__name__}", request_id=state.request_id
                ),
            )

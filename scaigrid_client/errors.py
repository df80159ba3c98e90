"""Typed exceptions for ScaiGrid errors.

Every failed call raises a subclass of :class:`ScaiGridError`: one class per
gRPC status, and finer subclasses for known ``scaigrid-error-code`` values.
:func:`from_rpc_error` is the single place a transport error becomes one of
these; it never raises, whatever the server sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import grpc

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "ApiKeyNotAcceptedError",
    "AuthenticationError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "CallCancelledError",
    "ClientClosedError",
    "ClientStateError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "ForkError",
    "HistoryResetError",
    "InsufficientGPUsError",
    "InternalError",
    "InvalidArgumentError",
    "NameResolutionError",
    "NoEventLoopError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "ProxyError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ScaiGridError",
    "ServiceDrainingError",
    "StreamIdleTimeoutError",
    "TLSVerificationError",
    "TokenExpiredError",
    "TokenProviderError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "from_rpc_error",
]

ERROR_CODE_KEY = "scaigrid-error-code"


class ScaiGridError(Exception):
    """A call to ScaiGrid failed.

    Attributes:
        status: the gRPC status code.
        code: the ``scaigrid-error-code`` trailer, or None.
        message: the status message.
        request_id: the call's ``x-request-id``.
        metadata: the trailing metadata, as ``(key, value)`` pairs.
        attempts: how many attempts were made.
    """

    status: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        status: grpc.StatusCode | None = None,
        code: str | None = None,
        request_id: str | None = None,
        metadata: Sequence[tuple[str, str | bytes]] = (),
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.metadata = tuple(metadata)
        self.attempts = attempts

    def __str__(self) -> str:
        parts = [self.status.name]
        if self.code:
            parts.append(self.code)
        text = f"{self.message} ({', '.join(parts)}; request_id={self.request_id}"
        if self.attempts > 1:
            text += f"; after {self.attempts} attempts"
        return text + ")"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status.name}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r}, attempts={self.attempts})"
        )

    def add_detail(self, text: str) -> None:
        """Append ``text`` to the message (the SDK's own findings, such as
        why a call was not retried).

        Args:
            text: the finding, appended after ``"; "``.
        """
        self.message = f"{self.message}; {text}"
        self.args = (self.message,)

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process pools. Exception's default pickling calls
        # cls(*args), which loses the keyword-only fields (and fails for a
        # subclass with required ones); rebuild from the instance's state.
        return (_restore, (type(self), self.message, self.__dict__.copy()))


def _restore(cls: type[ScaiGridError], message: str, state: dict[str, Any]) -> ScaiGridError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class AuthenticationError(ScaiGridError):
    """UNAUTHENTICATED: the service token is missing, malformed, unknown or expired."""

    status = grpc.StatusCode.UNAUTHENTICATED


class TokenExpiredError(AuthenticationError):
    """The service token expired (``token_expired``)."""


class ApiKeyNotAcceptedError(AuthenticationError):
    """An HTTP API key was sent; the gRPC API takes ScaiKey service tokens."""


class TokenProviderError(AuthenticationError):
    """The token provider could not obtain a token (nothing was sent)."""


class PermissionDeniedError(ScaiGridError):
    """PERMISSION_DENIED: the token is not scoped for this, or a budget is spent."""

    status = grpc.StatusCode.PERMISSION_DENIED


class BudgetExceededError(PermissionDeniedError):
    """The account's budget is spent (``budget_exceeded``)."""


class NotFoundError(ScaiGridError):
    """NOT_FOUND: an unknown model, job, core, node or allocation."""

    status = grpc.StatusCode.NOT_FOUND


class InvalidArgumentError(ScaiGridError, ValueError):
    """INVALID_ARGUMENT: the request failed validation; the message names the field."""

    status = grpc.StatusCode.INVALID_ARGUMENT


class RateLimitError(ScaiGridError):
    """RESOURCE_EXHAUSTED: rate-limited, or a quota or capacity is exhausted."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class QuotaExhaustedError(RateLimitError):
    """A quota is used up (``quota_exhausted``); waiting will not help soon."""


class InsufficientGPUsError(RateLimitError):
    """Fewer GPUs are free than were asked for (``insufficient_gpus``)."""


class UnavailableError(ScaiGridError):
    """UNAVAILABLE: the backend is down or unreachable."""

    status = grpc.StatusCode.UNAVAILABLE


class ServiceDrainingError(UnavailableError):
    """The gateway is draining (``service_draining``); reconnecting helps."""


class BackendUnavailableError(UnavailableError):
    """The backend behind the gateway is down (``backend_unavailable``)."""


class TLSVerificationError(UnavailableError):
    """The connection's security could not be set up; ``reason`` says why.

    ``reason`` is one of:

    - ``"unknown_ca"``: the gateway's certificate is not signed by a trusted CA;
    - ``"hostname_mismatch"``: the certificate does not name the host;
    - ``"not_tls"``: TLS is on, but the gateway answered in plaintext;
    - ``"tls_required"``: TLS is off, but the gateway speaks only TLS;
    - ``"client_cert_required"``: the gateway wants a client certificate (mTLS);
    - ``"client_cert_rejected"``: it did not accept the one sent;
    - ``"client_cert_expired"``: the one sent has expired (or is not valid yet);
    - ``"client_key_mismatch"``: the client key does not belong to the certificate;
    - ``"certificate_expired"``: the gateway's certificate has expired (or is
      not valid yet).

    The same settings fail the same way every time, so it is never retried.

    Args:
        message: what failed, in words.
        reason: one of the reasons above.
        **kwargs: the fields of `ScaiGridError` (``request_id``, ...).
    """

    def __init__(self, message: str, *, reason: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class NameResolutionError(UnavailableError):
    """The gateway's host name does not resolve (``host`` names it). Never retried.

    Args:
        message: what failed, in words.
        host: the name that did not resolve.
        **kwargs: the fields of `ScaiGridError` (``request_id``, ...).
    """

    def __init__(self, message: str, *, host: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.host = host


class ProxyError(UnavailableError):
    """The HTTP proxy (``proxy=`` or the environment's ``https_proxy``) did
    not open the tunnel to the gateway; ``http_status`` is its answer: 407
    (it wants credentials, or rejected them), 403 (it does not allow this
    host and port), 502 or 503 (it could not reach the gateway).

    Args:
        message: what failed, in words.
        http_status: the proxy's HTTP status.
        **kwargs: the fields of `ScaiGridError` (``request_id``, ...).
    """

    def __init__(self, message: str, *, http_status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.http_status = http_status


class DeadlineExceededError(ScaiGridError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's deadline passed."""

    status = grpc.StatusCode.DEADLINE_EXCEEDED


class StreamIdleTimeoutError(DeadlineExceededError):
    """A stream delivered nothing for longer than its idle timeout."""


class InternalError(ScaiGridError):
    """INTERNAL: an unexpected server error."""

    status = grpc.StatusCode.INTERNAL


class CallCancelledError(ScaiGridError):
    """CANCELLED: the call was cancelled (by the gateway, or by closing the
    client under it). Not `asyncio.CancelledError`, which cancels a task and
    is never turned into this. Was ``CancelledError`` before 1.0; that name is
    a deprecated alias until 1.1."""

    status = grpc.StatusCode.CANCELLED


class UnknownError(ScaiGridError):
    """UNKNOWN status."""

    status = grpc.StatusCode.UNKNOWN


class FailedPreconditionError(ScaiGridError):
    """FAILED_PRECONDITION: the target is in the wrong state (``invalid_state``)."""

    status = grpc.StatusCode.FAILED_PRECONDITION


class HistoryResetError(FailedPreconditionError):
    """A stream was resumed against a history that is not the one its cursor
    came from (``history_reset``): the gateway lost or reset the core's events
    or the job's metrics, and their sequences started over. Nothing was
    skipped or repeated; start again from 0 (``after_sequence=0``), knowing
    that what arrives may cover events you have seen, under a new epoch."""


class AlreadyExistsError(ScaiGridError):
    """ALREADY_EXISTS."""

    status = grpc.StatusCode.ALREADY_EXISTS


class AbortedError(ScaiGridError):
    """ABORTED."""

    status = grpc.StatusCode.ABORTED


class OutOfRangeError(ScaiGridError):
    """OUT_OF_RANGE."""

    status = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(ScaiGridError):
    """UNIMPLEMENTED: the server does not know this method."""

    status = grpc.StatusCode.UNIMPLEMENTED


class DataLossError(ScaiGridError):
    """DATA_LOSS."""

    status = grpc.StatusCode.DATA_LOSS


class ClientStateError(ScaiGridError, RuntimeError):
    """The client cannot make the call in its present state, and nothing was
    sent: the subclass says why. Also a ``RuntimeError``, as these were
    before 1.0. ``status`` is FAILED_PRECONDITION, the status that describes
    it; ``request_id`` is None."""

    status = grpc.StatusCode.FAILED_PRECONDITION

    def __str__(self) -> str:
        return self.message


class ForkError(ClientStateError):
    """This process was forked while its parent had gRPC channels open, and
    gRPC cannot be used in such a child (it would hang). Raised at once by
    every call; the message names the fixes."""


class ClientClosedError(ClientStateError):
    """The client (or the ScaiGrid facade it belongs to) was closed before
    this call; make a new one."""


class NoEventLoopError(ClientStateError):
    """An async client's method was called with no running event loop: await
    it inside a coroutine (``asyncio.run``), or use `scaigrid_client.sync`."""


# One class per status; a status not listed (there are none today) gets the base.
STATUS_CLASSES: dict[grpc.StatusCode, type[ScaiGridError]] = {
    cls.status: cls
    for cls in (
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        InvalidArgumentError,
        RateLimitError,
        UnavailableError,
        DeadlineExceededError,
        InternalError,
        CallCancelledError,
        UnknownError,
        FailedPreconditionError,
        AlreadyExistsError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        DataLossError,
    )
}
# Finer classes for known ScaiGrid codes, used only under their own status.
CODE_CLASSES: dict[tuple[grpc.StatusCode, str], type[ScaiGridError]] = {
    (grpc.StatusCode.UNAUTHENTICATED, "token_expired"): TokenExpiredError,
    (grpc.StatusCode.UNAUTHENTICATED, "api_key_not_accepted"): ApiKeyNotAcceptedError,
    (grpc.StatusCode.PERMISSION_DENIED, "budget_exceeded"): BudgetExceededError,
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "quota_exhausted"): QuotaExhaustedError,
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "insufficient_gpus"): InsufficientGPUsError,
    (grpc.StatusCode.UNAVAILABLE, "service_draining"): ServiceDrainingError,
    (grpc.StatusCode.UNAVAILABLE, "backend_unavailable"): BackendUnavailableError,
    (grpc.StatusCode.FAILED_PRECONDITION, "history_reset"): HistoryResetError,
}


def _error_code(metadata: Sequence[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key == ERROR_CODE_KEY:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            code = value.strip()
            # A malformed code (empty, huge, control characters) is ignored.
            if code and len(code) <= 128 and code.isprintable():
                return code
            return None
    return None


def _as_pairs(metadata: Any) -> tuple[tuple[str, str | bytes], ...]:
    pairs: list[tuple[str, str | bytes]] = []
    try:
        for item in metadata or ():
            key, value = item
            if isinstance(key, str) and isinstance(value, (str, bytes)):
                pairs.append((key, value))
    except (TypeError, ValueError):
        pass
    return tuple(pairs)


# What each TLS failure means, in the SDK's terms (the CLI says the same with
# its flags).
TLS_FAILURE_TEXT: dict[str, str] = {
    "unknown_ca": "the gateway's certificate is not signed by a trusted CA; pass "
    "TLSConfig(ca_cert=...) with the CA that signed it",
    "certificate_expired": "the gateway's certificate has expired (or is not yet valid)",
    "hostname_mismatch": "the gateway's certificate does not name the host connected to; "
    "use the name in its certificate or TLSConfig(server_name=...)",
    "not_tls": "the gateway did not answer with TLS; if it is plaintext, use tls=False",
    "tls_required": "the gateway speaks TLS but this client is plaintext (tls=False); "
    "use tls=True, or a TLSConfig for a private CA",
    "client_cert_required": "the gateway requires a client certificate (mutual TLS); "
    "pass TLSConfig(client_cert=..., client_key=...)",
    "client_cert_rejected": "the gateway did not accept the client certificate; it must be "
    "signed by a CA the gateway trusts for clients",
    "client_cert_expired": "the client certificate has expired (or is not valid yet); renew "
    "it, or use TLSFiles so that renewed files are picked up while the client runs",
    "client_key_mismatch": "the client certificate and key cannot be used together; "
    "the key must be the certificate's own",
}

# grpc-core's handshake failures, as they appear in the status message. The
# wording changed across grpcio releases; every known form is listed.
_TLS_MARKERS = (
    ("certificate has expired", "certificate_expired"),
    ("certificate is not yet valid", "certificate_expired"),
    ("CERTIFICATE_VERIFY_FAILED", "unknown_ca"),
    ("Hostname Verification Check failed", "hostname_mismatch"),
    ("is not in peer certificate", "hostname_mismatch"),
    ("WRONG_VERSION_NUMBER", "not_tls"),
    ("Failed to create security handshaker", "client_key_mismatch"),
)
# A name that does not exist, as the native and c-ares resolvers say it.
_NXDOMAIN_MARKERS = (
    "Domain name not found",
    "Name or service not known",
    "nodename nor servname provided",
    "No address associated with hostname",
)
# grpc-core's words for a CONNECT the proxy answered with other than 200.
_PROXY_REFUSED = re.compile(r"HTTP proxy returned response code (\d{3})")
_PROXY_TEXT = {
    403: "the HTTP proxy refused the tunnel to the gateway (403 Forbidden): it does not "
    "allow connections to this host and port",
    407: "the HTTP proxy wants credentials, or rejected the ones given (407 Proxy "
    "Authentication Required): use proxy='http://user:password@host:port'",
}
_RESOLVED_HOST = re.compile(r"(?:resolving|resolution failed for|lookup failed for) (\S+?):")


def tls_error(reason: str, detail: str, **kwargs: Any) -> TLSVerificationError:
    """The TLSVerificationError for ``reason``, with grpc's ``detail`` kept."""
    text = f"TLS: {TLS_FAILURE_TEXT[reason]}"
    return TLSVerificationError(f"{text} ({detail})" if detail else text, reason=reason, **kwargs)


def _connection_setup_error(
    message: str,
    metadata: tuple[tuple[str, str | bytes], ...],
    request_id: str | None,
    attempts: int,
) -> ScaiGridError | None:
    """An UNAVAILABLE that no retry can fix: bad TLS settings, an unknown host."""
    status = grpc.StatusCode.UNAVAILABLE
    for marker, reason in _TLS_MARKERS:
        if marker in message:
            return tls_error(
                reason,
                message,
                status=status,
                request_id=request_id,
                metadata=metadata,
                attempts=attempts,
            )
    refused = _PROXY_REFUSED.search(message)
    if refused is not None:
        http_status = int(refused.group(1))
        text = _PROXY_TEXT.get(
            http_status,
            f"the HTTP proxy could not open a tunnel to the gateway (HTTP {http_status})",
        )
        return ProxyError(
            f"{text} ({message})",
            http_status=http_status,
            status=status,
            request_id=request_id,
            metadata=metadata,
            attempts=attempts,
        )
    if any(marker in message for marker in _NXDOMAIN_MARKERS):
        found = _RESOLVED_HOST.search(message)
        host = found.group(1) if found else None
        named = f" {host!r}" if host else ""
        return NameResolutionError(
            f"the gateway's host name{named} does not resolve; check the target for a "
            f"typo, or the DNS ({message})",
            host=host,
            status=status,
            request_id=request_id,
            metadata=metadata,
            attempts=attempts,
        )
    return None


def _safe_call(obj: object, name: str) -> object:
    try:
        return getattr(obj, name)()
    except Exception:
        return None


def from_rpc_error(
    error: grpc.RpcError | grpc.aio.AioRpcError | Any,
    *,
    request_id: str | None = None,
    attempts: int = 1,
) -> ScaiGridError:
    """Turn a transport error into the matching :class:`ScaiGridError`.

    The status picks the class; a known ``scaigrid-error-code`` under that
    status picks a finer one. Anything missing or malformed falls back to the
    status-level class (or ``UnknownError``); this function never raises.

    Args:
        error: what grpc raised (``grpc.RpcError`` or ``grpc.aio.AioRpcError``;
            anything else becomes an `UnknownError`).
        request_id: the call's ``x-request-id``, kept on the error.
        attempts: how many attempts the call made.

    Returns:
        The `ScaiGridError` subclass for the status and error code.
    """
    status: object = _safe_call(error, "code")
    if not isinstance(status, grpc.StatusCode):
        status = grpc.StatusCode.UNKNOWN
    details = _safe_call(error, "details")
    message = details if isinstance(details, str) else ""
    metadata = _as_pairs(_safe_call(error, "trailing_metadata"))
    code = _error_code(metadata)
    if status is grpc.StatusCode.UNAVAILABLE and code is None:
        setup_error = _connection_setup_error(message, metadata, request_id, attempts)
        if setup_error is not None:
            return setup_error
    cls = CODE_CLASSES.get((status, code or "")) or STATUS_CLASSES.get(status, ScaiGridError)
    return cls(
        message or status.name.lower(),
        status=status,
        code=code,
        request_id=request_id,
        metadata=metadata,
        attempts=attempts,
    )


def __getattr__(name: str) -> Any:
    # Deprecated names, kept working (with a warning) for one minor release.
    if name == "CancelledError":
        import warnings

        warnings.warn(
            "scaigrid_client.errors.CancelledError is deprecated: use "
            "errors.CallCancelledError (the name no longer looks like asyncio.CancelledError)",
            DeprecationWarning,
            stacklevel=2,
        )
        return CallCancelledError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""What one call is: its RPC (`Method`), its per-call state across attempts
(`CallState`), and the checks on what a caller may put in its metadata.

Pure data and checks, shared by both flavours; nothing here touches grpc's
channels.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf import message as _message

from scaigrid_client import errors

if TYPE_CHECKING:
    from scaigrid_client._config import RetryPolicy
    from scaigrid_client._telemetry import CallTelemetry

__all__ = [
    "CAPTURE",
    "NOT_GIVEN",
    "CallInfo",
    "CallState",
    "MetadataArg",
    "Method",
    "NotGiven",
    "OptionsTimeout",
    "RawResponse",
    "auth_header",
    "call_details",
    "check_header",
    "check_unary_method",
    "new_request_id",
    "provider_failed",
    "validate_metadata",
]

Req = TypeVar("Req", bound=_message.Message)
Resp = TypeVar("Resp", bound=_message.Message)

MetadataArg = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]
"""Extra metadata a caller may pass: a mapping or (key, value) pairs."""

Metadata = tuple[tuple[str, str | bytes], ...]
"""Metadata as received: (key, value) pairs; values of ``-bin`` keys are bytes."""


class NotGiven:
    """The type of `NOT_GIVEN`: an option the caller left out (as opposed to
    None, which for ``timeout=`` means no deadline)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


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

    @property
    def python_name(self) -> str:
        """The client method's name: AllocateGPUs -> allocate_gpus."""
        rpc = self.name.rpartition(".")[2]
        return "".join(
            f"_{c}" if c.isupper() and i and rpc[i - 1].islower() else c for i, c in enumerate(rpc)
        ).lower()

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


class OptionsTimeout(float):
    """A ``timeout=`` that ``with_options()`` set, not the call: a deadline
    error then says where it came from."""

    __slots__ = ()


@dataclass
class CallInfo:
    """Details of a finished call. Deprecated as ``call_info=``: use
    `raw_response()`, which returns them with the result."""

    request_id: str | None = None
    """The ``x-request-id`` every attempt carried (None until the call ends)."""
    attempts: int = 0
    """Attempts the call took (0 until it ends)."""
    initial_metadata: Metadata = ()
    """The gateway's response headers, as (key, value) pairs."""
    trailing_metadata: Metadata = ()
    """The gateway's trailers, as (key, value) pairs."""


# Where raw_response() wants the details of the unary call it makes; the
# clients' one unary path reads it (a context variable: right per task and
# per thread).
CAPTURE: ContextVar[CallInfo | None] = ContextVar("scaigrid_client_capture", default=None)

T = TypeVar("T")


@dataclass(frozen=True)
class RawResponse(Generic[T]):
    """A unary call's result and what the call was (from `raw_response()`).

    Attributes:
        result: what the method returns (a ``Job``, a ``ChatReply``, ...).
        request_id: the ``x-request-id`` the call sent (every attempt sends
            the same one).
        attempts: how many attempts the call took (1 when the first succeeded).
        initial_metadata: the response's headers, as (key, value) pairs.
        trailing_metadata: the response's trailers, as (key, value) pairs.

    For a ``list_*`` method that reads several pages, the details are those
    of the call that read the last page.
    """

    result: T
    request_id: str
    attempts: int
    initial_metadata: Metadata
    trailing_metadata: Metadata

    @classmethod
    def _of(cls, result: T, info: CallInfo) -> RawResponse[T]:
        return cls(
            result,
            info.request_id or "",
            info.attempts,
            info.initial_metadata,
            info.trailing_metadata,
        )


def call_details(options: Mapping[str, Any]) -> CallInfo | None:
    """The deprecated ``call_info=`` out-parameter, if given (with its
    warning); raw_response()'s capture is read by the call loop itself."""
    if "call_info" in options:
        warnings.warn(
            "call_info= is deprecated and goes in 2.0: use raw_response(method, ...), "
            "which returns the result with its request id, attempts and metadata",
            DeprecationWarning,
            stacklevel=4,
        )
        return options["call_info"]  # type: ignore[no-any-return]
    return None


# What the methods that are not one unary call return (as annotated).
_NOT_UNARY = ("ServerStream", "Pager", "HeartbeatLoop", "Self", "None")


@functools.cache
def _returns_one_result(function: Callable[..., Any]) -> bool:
    annotation = getattr(function, "__annotations__", {}).get("return")
    return isinstance(annotation, str) and not annotation.startswith(_NOT_UNARY)


def check_unary_method(method: Callable[..., Any]) -> None:
    """Refuse, before anything is sent, what is not one of the SDK's unary calls."""
    owner = getattr(method, "__self__", None)
    function = getattr(method, "__func__", None)
    name = getattr(method, "__name__", repr(method))
    if (
        function is None
        or not type(owner).__module__.startswith("scaigrid_client.")
        or name.startswith("_")
        or not _returns_one_result(function)
    ):
        raise TypeError(
            f"raw_response: {name} is not a unary method of a scaigrid_client client; pass "
            "one such as grid.coordinator.get_job (a stream's handle has its own .request_id "
            "and .initial_metadata)"
        )


class CallState:
    """Per-call bookkeeping across attempts: the request id, the deadline,
    the attempt count and the retry decision in force.

    A plain slotted class: one is made for every call.
    """

    __slots__ = (
        "attempt",
        "deadline",
        "extra",
        "method",
        "next_delay",
        "policy",
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
        extra: Metadata,
    ) -> None:
        self.method = method
        self.request_id = request_id
        self.timeout = timeout
        self.timeout_is_default = timeout_is_default
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.extra = extra
        self.attempt = 1
        self.refreshed = False  # the one token refresh-and-retry was made
        self.next_delay: float | None = None  # the wait before the next attempt, decided
        self.policy: RetryPolicy | None = None  # this call's retry=, else the client's
        self.telemetry: CallTelemetry | None = None

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


UNARY_OPTIONS = ("timeout", "request_id", "metadata", "retry", "call_info")
STREAM_OPTIONS = ("timeout", "request_id", "metadata", "retry", "idle_timeout")


def unknown_options(method: Method[Any, Any], unknown: Mapping[str, object]) -> TypeError:
    """The TypeError for keywords neither the method nor its call options
    know: named from the caller's side, not the transport's."""
    names = ", ".join(repr(name) for name in sorted(unknown))
    valid = STREAM_OPTIONS if method.streaming else UNARY_OPTIONS
    return TypeError(
        f"{method.python_name}() got an unexpected keyword argument {names}: it takes its "
        f"own arguments (see help()) and the call options {', '.join(valid)}"
    )


def new_request_id() -> str:
    return os.urandom(16).hex()


def check_header(key: str, value: object, what: str) -> None:
    """Raise ValueError, naming ``what``, for a header grpc would reject or
    that would corrupt the request."""
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


def validate_metadata(metadata: MetadataArg | None) -> Metadata:
    if not metadata:
        return ()
    pairs = tuple(metadata.items()) if isinstance(metadata, Mapping) else tuple(metadata)
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError("metadata: pass a mapping or (key, value) pairs")
        key, value = pair
        check_header(key, value, "metadata")
        if key in ("authorization", "x-request-id"):
            raise ValueError(f"metadata: {key!r} is set by the client; use token= or request_id=")
    return pairs


def auth_header(token: str) -> tuple[str, str]:
    header = ("authorization", f"Bearer {token}")
    check_header(*header, what="token")
    return header


def provider_failed(exc: Exception) -> errors.TokenProviderError:
    # The provider's own message may hold a secret: name its type only.
    return errors.TokenProviderError(f"the token provider failed: {type(exc).__name__}")

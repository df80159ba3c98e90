"""Dispatch: every RPC through one wrapper that does what the gateway does
around a call.

It journals the attempt, authenticates, applies injected delays and faults,
honours the request id as idempotency key, echoes the request id and
``x-echo-*`` metadata, turns a `FakeError` into its status with the
`scaigrid-error-code` trailer, and records how every handler ended. The
per-RPC code in `_rpcs` is only domain logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

import grpc
from google.protobuf import message as _message, message_factory

from scaigrid_client.testing._auth import Tokens
from scaigrid_client.testing._calls import Call, CallJournal
from scaigrid_client.testing._errors import FakeError
from scaigrid_client.testing._faults import Fault, Faults, OpenStream
from scaigrid_client.testing._rpcs import RPCS, Gateway
from scaigrid_client.testing._services import IDEMPOTENT_BY_REQUEST_ID, SERVICES

__all__ = ["Dispatcher", "Served"]

_ECHO_PREFIX = "x-echo-"
# How long no call may start before a draining fake counts as quiet: the
# time grpc.aio takes to hand over a call its core has accepted (see drain).
_QUIET = 0.01


class Served(Gateway, Protocol):
    """What dispatch sees of the fake: what an RPC sees, and whether each
    call keeps the responses it sent (read per call: it may be changed)."""

    record_responses: bool


class Dispatcher:
    """The gRPC handlers of every RPC, each wrapped the same way."""

    def __init__(
        self, gateway: Served, journal: CallJournal, tokens: Tokens, faults: Faults
    ) -> None:
        self._gateway = gateway
        self._journal = journal
        self._tokens = tokens
        self._faults = faults
        self._draining: FakeError | None = None
        self._running = 0
        self._last_started = 0.0

    def handlers(self) -> Iterable[grpc.GenericRpcHandler]:
        for service, (module, scope) in SERVICES.items():
            descriptor = module.DESCRIPTOR.services_by_name[service]
            handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
            for method in descriptor.methods:
                name = f"{service}.{method.name}"
                impl = RPCS[name]
                request_type = message_factory.GetMessageClass(method.input_type)
                if method.server_streaming:
                    handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                        self._stream(name, scope, impl),
                        request_deserializer=request_type.FromString,
                        response_serializer=_serialize,
                    )
                else:
                    handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                        self._unary(name, scope, impl),
                        request_deserializer=request_type.FromString,
                        response_serializer=_serialize,
                    )
            yield grpc.method_handlers_generic_handler(descriptor.full_name, handlers)

    def serve(self) -> None:
        """Answer calls (again, after a drain)."""
        self._draining = None
        self._last_started = 0.0

    async def drain(self, error: FakeError, limit: float) -> float:
        """Answer every call from now on with ``error``, and wait until the
        calls that have reached the server are answered, for up to ``limit``
        seconds; return the seconds of ``limit`` left.

        grpc-core ends CANCELLED a call it accepted but had not yet handed to
        a handler when its server stops; a draining gateway answers it
        UNAVAILABLE, which a client retries. So the server stops only once no
        call has started for a moment (_QUIET) and none is running. A server
        that has had no call stops at once: an unused fixture costs no more.
        """
        self._draining = error
        if self._last_started == 0.0 and self._running == 0:
            return limit
        began = time.monotonic()
        while (now := time.monotonic()) - began < limit:
            if self._running == 0 and now - max(began, self._last_started) >= _QUIET:
                break
            await asyncio.sleep(_QUIET / 4)
        return max(0.0, limit - (time.monotonic() - began))

    async def _prologue(self, method: str, scope: str, call: Call) -> Fault | None:
        """Authenticate and apply delays; return the fault this attempt takes."""
        if self._draining is not None:
            raise self._draining
        self._tokens.authorize(scope, call.metadata)
        return await self._faults.next(method)

    @contextlib.asynccontextmanager
    async def _journaled(self, call: Call, context: Any) -> AsyncIterator[None]:
        """Answer a FakeError raised by the handler, and journal how the call ended."""
        self._running += 1
        self._last_started = time.monotonic()
        try:
            yield
        except FakeError as error:
            call.status, call.code = error.status, error.code or None
            trailers = _response_metadata(call)
            if error.code:
                trailers.append(("scaigrid-error-code", error.code))
            if error.pushback_ms is not None:
                trailers.append(("grpc-retry-pushback-ms", str(error.pushback_ms)))
            await context.abort(error.status, error.message, trailing_metadata=tuple(trailers))
        except BaseException as exc:
            call.status = _abort_status(context, exc)
            raise
        finally:
            self._running -= 1
            call.ended = time.time()

    def _unary(
        self, method: str, scope: str, impl: Callable[[Gateway, Any], Awaitable[Any]]
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        idempotent = method in IDEMPOTENT_BY_REQUEST_ID

        async def handle(request: Any, context: Any) -> Any:
            call = self._journal.begin(method, request, context)
            async with self._journaled(call, context):
                fault = await self._prologue(method, scope, call)
                if fault is not None and not fault.after_effect:
                    raise fault.error()
                backend = self._gateway._domain
                key = (method, call.request_id)
                response = backend.replies.get(key) if idempotent else None
                if response is None:
                    response = await impl(self._gateway, request)
                    if idempotent:
                        backend.remember_reply(key, response)
                if fault is not None:
                    raise fault.error()
                echo = _response_metadata(call)
                await context.send_initial_metadata(echo)
                context.set_trailing_metadata(echo)
                call.status = grpc.StatusCode.OK
                self._journal.sent(call, response, keep=self._gateway.record_responses)
                return response

        return handle

    def _stream(
        self,
        method: str,
        scope: str,
        impl: Callable[[Gateway, Any, OpenStream], AsyncIterator[Any]],
    ) -> Callable[[Any, Any], AsyncIterator[Any]]:
        async def handle(request: Any, context: Any) -> AsyncIterator[Any]:
            call = self._journal.begin(method, request, context)
            with self._faults.open_stream() as stream:
                async with self._journaled(call, context):
                    fault = await self._prologue(method, scope, call)
                    fail_at = -1
                    if fault is not None:
                        if fault.after_messages == 0 and not fault.after_effect:
                            raise fault.error()  # Trailers-Only: no headers were sent
                        fail_at = fault.after_messages
                    await context.send_initial_metadata(_response_metadata(call))
                    async for response in impl(self._gateway, request, stream):
                        if call.messages == fail_at and fault is not None:
                            raise fault.error()
                        yield response
                        self._journal.sent(call, response, keep=self._gateway.record_responses)
                    if fault is not None:
                        raise fault.error()
                    context.set_trailing_metadata(_response_metadata(call))
                    call.status = grpc.StatusCode.OK

        return handle


def _response_metadata(call: Call) -> list[tuple[str, str | bytes]]:
    md: list[tuple[str, str | bytes]] = [("x-request-id", call.request_id)]
    md.extend((k, v) for k, v in call.metadata.items() if k.startswith(_ECHO_PREFIX))
    return md


def _abort_status(context: Any, exc: BaseException) -> grpc.StatusCode:
    """The status a handler that did not finish ends with, as the client sees it."""
    # A cancelled call raises CancelledError in the handler, or, when it is
    # cancelled while a stream handler waits at a `yield`, closes the handler.
    if not isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.UNKNOWN  # a bug in the fake: grpc answers UNKNOWN
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _serialize(message: _message.Message) -> bytes:
    return message.SerializeToString()

"""What a case gets: the gateway (as ``ScaiGrid`` clients), the run's unique
names, the chat model, the fake's control plane if any, and fixtures shared
by several cases, made once and cleaned up when the run ends."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from scaigrid_client import ScaiGrid, errors
from scaigrid_client._conformance._fake_control import FakeControl
from scaigrid_client._conformance._registry import CaseSkipped

__all__ = ["Connect", "Context", "LastCall", "RewriteAuthorization"]

# A ScaiGrid for the run's target and TLS, with another token or interceptors.
Connect = Callable[..., ScaiGrid]


class RewriteAuthorization(grpc.aio.UnaryUnaryClientInterceptor):
    """Sends ``value`` as the ``authorization`` metadata instead of the
    client's (None: none at all), to see how the gateway answers a missing
    or malformed one, which the SDK itself never sends."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        pairs = [(k, v) for k, v in (details.metadata or ()) if k != "authorization"]
        if self.value is not None:
            pairs.append(("authorization", self.value))
        return await continuation(details._replace(metadata=grpc.aio.Metadata(*pairs)), request)


class LastCall:
    """Remembers the RPC last started (``Service.Method``), so that a call
    failing where a case expected success is named in its detail. Give the
    channel its `interceptors` (one per call kind: grpc.aio files an
    interceptor under the first kind it is an instance of)."""

    def __init__(self) -> None:
        self.method = ""
        self.interceptors: list[Any] = [_NoteUnary(self), _NoteStream(self)]

    def note(self, details: Any) -> None:
        path = details.method
        path = path.decode() if isinstance(path, bytes) else str(path)
        service, _, method = path.strip("/").partition("/")
        self.method = f"{service.rpartition('.')[2]}.{method}"


class _NoteUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, last: LastCall) -> None:
        self.last = last

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        self.last.note(details)
        return await continuation(details, request)


class _NoteStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, last: LastCall) -> None:
        self.last = last

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        self.last.note(details)
        return await continuation(details, request)


@dataclass
class Context:
    """A run's shared state, handed to every case.

    Attributes:
        grid: the gateway, with the run's token.
        connect: another ``ScaiGrid`` on the same target and TLS, taking
            ``token=`` and ``interceptors=`` (closed by the case).
        run_id: unique to the run; every name a case creates starts with it.
        model: the chat model given by ``--model``, or None.
        control: the fake's control plane (``--fake-control``), or None.
        last_call: what ``grid``'s last call was, if it records that.
    """

    grid: ScaiGrid
    connect: Connect
    run_id: str = field(default_factory=lambda: "conformance-" + secrets.token_hex(4))
    model: str | None = None
    control: FakeControl | None = None
    last_call: LastCall | None = None
    _shared: dict[str, Any] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def name(self, what: str) -> str:
        """A name unique to this run: ``conformance-1a2b3c4d-what``."""
        return f"{self.run_id}-{what}"

    def request_id(self, what: str) -> str:
        """A request id unique to this call of this run."""
        return f"{self.run_id}-{what}-{secrets.token_hex(4)}"

    def fake(self) -> FakeControl:
        """The control plane; a fake_only case is skipped before it runs
        without one, so this is for the type checker."""
        if self.control is None:
            raise CaseSkipped("needs the fake's control plane: pass --fake-control URL")
        return self.control

    def on_cleanup(self, undo: Callable[[], Awaitable[Any]]) -> None:
        """Run ``undo`` when the run ends (best effort: its errors are ignored)."""
        self._cleanups.append(undo)

    async def shared(self, key: str, make: Callable[[Context], Awaitable[Any]]) -> Any:
        """The fixture ``key``, made by ``make(self)`` the first time it is asked for.
        A fixture that failed to be made fails every case that asks for it."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._shared:
                try:
                    self._shared[key] = await make(self)
                except Exception as exc:  # not a cancellation: a later case may try again
                    self._shared[key] = exc
            value = self._shared[key]
        if isinstance(value, Exception):
            raise value
        return value

    async def chat_model(self) -> str:
        """``--model``, else the first model the gateway lists for chat."""
        if self.model:
            return self.model

        async def first(ctx: Context) -> str:
            models = await ctx.grid.inference.list_models(capability="chat")
            if not models:
                raise CaseSkipped("the gateway lists no chat model; pass --model M")
            return models[0].id

        model: str = await self.shared("chat_model", first)
        return model

    async def cleanup(self) -> None:
        """Undo what the run created, newest first."""
        while self._cleanups:
            undo = self._cleanups.pop()
            with contextlib.suppress(errors.ScaiGridError, ValueError, asyncio.TimeoutError):
                await asyncio.wait_for(undo(), 10)

"""What only the async flavour does in the call loop (`_call_loop.py`
imports this module as ``flavour``; the sync loop imports
`sync/_blocking.py` under that name): how an attempt is awaited, sleeping,
how a stream's idle timeout is enforced, what a cancellation means, and
running the blocking TLS probe off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._call import Metadata, Req, Resp
from scaigrid_client._streams import StreamFlowBase

__all__ = ["STREAM_FAILURES", "FlowBase", "invoke", "probe_setup_failure", "release", "sleep"]

# What ends a stream's attempt other than its end: grpc's error, the idle
# timeout (`_within`), and a cancellation (see FlowBase.failed).
STREAM_FAILURES = (grpc.aio.AioRpcError, asyncio.TimeoutError, asyncio.CancelledError)

sleep = asyncio.sleep


async def invoke(
    fn: Any, request: Any, timeout: float | None, metadata: Metadata, with_call: bool
) -> tuple[Any, Any]:
    """One unary attempt: ``(response, call)``; the call is for its metadata."""
    call = fn(request, timeout=timeout, metadata=metadata)
    return await call, call


async def release(messages: Any) -> None:
    """Close an attempt's message iterator (grpc's async generator, or
    `_within`'s). One left suspended holds its call in a reference cycle,
    and with it the call's connection, even once its channel is closed,
    until the garbage collector runs; rotated channels must not linger so."""
    aclose = getattr(messages, "aclose", None)
    if aclose is not None and not getattr(messages, "ag_running", True):
        await aclose()


async def probe_setup_failure(target: str, tls: Any, timeout: float) -> str | None:
    """The TLS probe (`_diagnose`) is blocking: it runs in a worker thread."""
    from scaigrid_client import _diagnose

    return await asyncio.to_thread(_diagnose.probe_setup_failure, target, tls, timeout)


class FlowBase(StreamFlowBase[Req, Resp]):
    """A stream's state, with what the async flavour does differently."""

    __slots__ = ()

    def watched(self, call: Any) -> AsyncIterator[Resp]:
        """The call's messages, each within the idle timeout of the one before."""
        return call if self.idle_timeout is None else _within(call, self.idle_timeout)

    async def pause(self, delay: float) -> None:
        await asyncio.sleep(delay)

    async def failed(self, exc: BaseException, call: Any) -> errors.ScaiGridError | None:
        """The typed error that ended an attempt, or None when cancel() ended it."""
        transport, state = self.transport, self.state
        if isinstance(exc, asyncio.CancelledError):
            # A call cancelled by cancel() (while the caller held a message,
            # or from another task) raises CancelledError on its next read:
            # that ends the iteration. The task's own cancellation propagates.
            if self.call is None and not cancelling():
                return None
            if cancelling() or not transport.closed:
                raise exc
            # grpc cancels the calls of a channel being closed.
            return transport.closed_error(state)  # type: ignore[no-any-return]
        if isinstance(exc, asyncio.TimeoutError):
            call.cancel()
            return transport.idle_error(state, self.idle_timeout)  # type: ignore[no-any-return]
        return await transport.failure(exc, state)  # type: ignore[no-any-return]


async def _within(call: Any, idle_timeout: float) -> AsyncGenerator[Any, None]:
    """The call's messages, each within ``idle_timeout`` of the one before."""
    messages = call.__aiter__()
    try:
        while True:
            try:
                yield await asyncio.wait_for(messages.__anext__(), idle_timeout)
            except StopAsyncIteration:
                return
    finally:
        await release(messages)


def cancelling() -> bool:
    """Whether the current task itself is being cancelled (Python 3.11+)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False

"""Run one test body against both flavours of the SDK.

The async tests drive a `ScaiGrid`; for the sync flavour they get a
`scaigrid_client.sync.ScaiGrid` seen through `Threaded`, which runs each
blocking call in a worker thread (the fake serves on the test's own loop,
so a blocking call on that loop would starve it). Nothing else changes:
same calls, same results, same errors.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

from scaigrid_client import ScaiGrid, sync as sync_sdk

FLAVOURS = ["async", "sync"]
_SERVICES = ("inference", "heartbeat", "coordinator", "cluster", "core")
_DONE = object()


class ThreadedStream:
    """A sync ServerStream behind `async for`/`async with`."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._iterator: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    @property
    def pages(self) -> ThreadedStream:
        """A sync Pager's pages, behind `async for`."""
        return ThreadedStream(self.stream.pages)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self.stream)
        item = await asyncio.to_thread(next, self._iterator, _DONE)
        if item is _DONE:
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> ThreadedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    async def initial_metadata(self) -> Any:
        return self.stream.initial_metadata()

    async def trailing_metadata(self) -> Any:
        return self.stream.trailing_metadata()


class ThreadedLoop:
    def __init__(self, loop: Any) -> None:
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)

    async def stop(self) -> None:
        await asyncio.to_thread(self.loop.stop)


class Threaded:
    """A sync client whose methods are awaited like the async client's."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name in _SERVICES and not inspect.ismethod(attr):
            return Threaded(attr)
        if name.startswith("_") or not callable(attr):
            return attr
        if name.startswith(("stream_", "iter_")):
            return lambda *args, **kwargs: ThreadedStream(attr(*args, **kwargs))
        if name == "with_options":
            return lambda *args, **kwargs: Threaded(attr(*args, **kwargs))
        if name == "start_heartbeats":
            return lambda *args, **kwargs: ThreadedLoop(attr(*args, **kwargs))

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(attr, *args, **kwargs)

        return call

    async def __aenter__(self) -> Threaded:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.client.close)


def client(flavour: str, cls: str, *args: Any, **kwargs: Any) -> Any:
    """A client of either flavour by class name, e.g. client(f, "ScaiGrid", target, ...)."""
    if flavour == "async":
        import scaigrid_client

        return getattr(scaigrid_client, cls)(*args, **kwargs)
    return Threaded(getattr(sync_sdk, cls)(*args, **kwargs))


def is_async(grid: object) -> bool:
    return isinstance(grid, ScaiGrid)


async def raw_response(grid: Any, path: str, *args: Any, **kwargs: Any) -> Any:
    """``raw_response`` of the method at ``path`` ("coordinator.list_jobs") of
    either flavour's client (the sync one's real method, in a thread)."""
    import scaigrid_client

    owner = grid if is_async(grid) else grid.client
    for name in path.split("."):
        owner = getattr(owner, name)
    if is_async(grid):
        return await scaigrid_client.raw_response(owner, *args, **kwargs)
    return await asyncio.to_thread(sync_sdk.raw_response, owner, *args, **kwargs)

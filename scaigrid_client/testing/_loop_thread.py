"""Running the fake on a thread of its own, with its own event loop, so that
sync tests (and the pytest fixture) can use it whatever loop they run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

_T = TypeVar("_T")


class LoopThread:
    """A daemon thread that runs one event loop until stopped."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    def start(
        self,
        start: Callable[[], Coroutine[Any, Any, object]],
        stop: Callable[[], Coroutine[Any, Any, object]],
    ) -> None:
        """Run ``start()`` on the loop and return once it has (raising what it
        raised, with the thread gone); ``stop()`` runs when `stop` is called."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = self._loop

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(start())
            except BaseException as exc:
                loop.close()
                started.set_exception(exc)
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(stop())
            loop.close()

        thread = threading.Thread(target=serve, name=self._name, daemon=True)
        self._thread = thread
        thread.start()
        try:
            started.result()
        except BaseException:
            thread.join()
            raise

    def stop(self) -> None:
        """Run ``stop()`` on the loop, close it, and wait for the thread."""
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the loop (it touches loop-bound state) and return its result."""
        if threading.current_thread() is self._thread:
            return fn()

        async def run() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def run(self, fn: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run the coroutine ``fn()`` on the loop and wait for its result."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("this blocks the fake's own loop: await it there instead")
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result()

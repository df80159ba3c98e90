"""`Pager`: the items of a paged list (`iter_jobs`, `iter_nodes`), fetched a
page at a time, as GAPIC's pagers do.

This is the async source; tools/unasync.py writes `sync/_pager.py` from it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Generic, TypeVar

from google.protobuf import message as _message

from scaigrid_client import errors
from scaigrid_client._call import Method

__all__ = ["Pager"]

Item = TypeVar("Item")


class Pager(Generic[Item]):
    """The items of a paged list, one call per page: ``async for item in
    pager``. ``pager.pages`` gives the pages themselves (the list
    responses, each with ``next_page_token``). Each page is a call of its
    own, with its own retries and deadline; the caller's ``request_id``
    goes to the first. ``aclose()`` stops before the next page.
    """

    _transport: Any
    _method: Method[Any, Any]
    _request: _message.Message
    _items_field: str
    _options: dict[str, Any]
    _closed: bool
    _started: bool

    def __init__(self) -> None:
        """Not made by hand: ``iter_jobs()`` and ``iter_nodes()`` return one.

        Raises:
            TypeError: always.
        """
        raise TypeError("a Pager is returned by iter_jobs() and iter_nodes(), not made by hand")

    @classmethod
    def _walk(
        cls,
        transport: Any,
        method: Method[Any, Any],
        request: _message.Message,
        items_field: str,
        options: dict[str, Any],
    ) -> Pager[Any]:
        """The pager of ``method``'s pages of ``request``, items in ``items_field``."""
        pager = cls.__new__(cls)
        pager._transport = transport
        pager._method = method
        pager._request = request
        pager._items_field = items_field
        pager._options = options
        pager._closed = False
        pager._started = False
        return pager

    def __repr__(self) -> str:
        return f"Pager({self._method.python_name}, closed={self._closed})"

    @property
    def pages(self) -> AsyncIterator[Any]:
        """The list responses, page by page (iterate once: a pager is one walk)."""
        return self._pages()

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._items()

    async def _pages(self) -> AsyncGenerator[Any, None]:
        if self._started:
            raise errors.ClientStateError(
                "this pager was iterated already: call the iter_ method again"
            )
        self._started = True
        request, options = self._request, dict(self._options)
        while not self._closed:
            page = await self._transport.unary(self._method, request, **options)
            yield page
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token  # type: ignore[attr-defined]
            options.pop("request_id", None)  # one request id is one call

    async def _items(self) -> AsyncGenerator[Item, None]:
        async for page in self._pages():
            for item in getattr(page, self._items_field):
                yield item

    async def aclose(self) -> None:
        """Stop: no page is fetched after this (one already in flight finishes)."""
        self._closed = True

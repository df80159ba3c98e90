"""`raw_response()`: any unary call's result with its request id, attempts
and response metadata (the async source of `sync/_raw.py`).

One typed route for every unary method, in the spirit of openai-python's
``with_raw_response``: the method and its arguments go in, a `RawResponse`
comes out, typed by the method's own result (``ParamSpec``), so no method
needs a twin and no caller fills a mutable out-parameter. The details are
captured through a context variable (`_call.CAPTURE`) that the clients'
one unary path reads, so a call made without it pays one lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from typing_extensions import ParamSpec

from scaigrid_client._call import CAPTURE, CallInfo, RawResponse, check_unary_method

__all__ = ["RawResponse", "raw_response"]

P = ParamSpec("P")
T = TypeVar("T")


async def raw_response(
    method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
) -> RawResponse[T]:
    """Call ``method(*args, **kwargs)``; return its result with the call's details.

    ``raw = await raw_response(grid.coordinator.get_job, "job-1")``, then
    ``raw.result.state``, ``raw.request_id``, ``raw.attempts`` and
    ``dict(raw.initial_metadata)``.

    Args:
        method: a unary method of a client, bound (``grid.coordinator.get_job``).
        *args: its positional arguments.
        **kwargs: its keyword arguments and call options.

    Returns:
        A `RawResponse` whose ``result`` is what the method returns.

    Raises:
        TypeError: ``method`` is not a unary method of an SDK client (a
            stream, a pager, ``close``...); nothing is sent.
        errors.ScaiGridError: what the method raises.
    """
    check_unary_method(method)
    info = CallInfo()
    token = CAPTURE.set(info)
    try:
        result = await method(*args, **kwargs)
    finally:
        CAPTURE.reset(token)
    return RawResponse._of(result, info)

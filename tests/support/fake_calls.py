"""Small helpers for tests that call the fake over the raw stubs and read its journal."""

from __future__ import annotations

import asyncio

import grpc

from scaigrid_client.testing import Call


def auth(token: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *extra.items())


def error_code(err: grpc.aio.AioRpcError) -> str | None:
    """The call's ``scaigrid-error-code`` trailer, if any."""
    # tuple() first: on grpcio 1.70 a grpc.aio.Metadata's keys() yields
    # (key, value) pairs, so dict() of it raises KeyError; iterating works.
    return dict(tuple(err.trailing_metadata() or ())).get("scaigrid-error-code")  # type: ignore[return-value]


async def ended(call: Call, within: float = 2.0) -> Call:
    """The journaled call, once the fake has seen it end (or ``within`` passed)."""
    for _ in range(int(within / 0.01)):
        if call.ended is not None:
            break
        await asyncio.sleep(0.01)
    return call

"""Small helpers for tests that call the fake over the raw stubs and read its journal."""

from __future__ import annotations

import asyncio

from scaigrid_client.testing import Call


def auth(token: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *extra.items())


async def ended(call: Call, within: float = 2.0) -> Call:
    """The journaled call, once the fake has seen it end (or ``within`` passed)."""
    for _ in range(int(within / 0.01)):
        if call.ended is not None:
            break
        await asyncio.sleep(0.01)
    return call

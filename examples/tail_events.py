"""Tail a core's events, as an observability tool does, resuming after drops.

    python examples/tail_events.py [CORE_ID] [--limit N]

Against a real gateway (SCAIGRID_TARGET), the core must exist: invoke it
once first (`scaigrid cores invoke CORE_ID`), or the tail ends with
NotFoundError. Against the fake, a background task invokes the core and the
gateway drops every stream twice; the tail resumes from the last sequence it printed, with
no gap and no duplicate (the INFO lines show each resume).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

import grpc
from _common import connect

from scaigrid_client import ScaiGrid
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore


async def drive(grid: ScaiGrid, fake: FakeScaiGrid, core_id: str) -> None:
    """Make events happen, and restart the gateway twice while the tail runs."""
    for i in range(1, 100):
        await grid.core.invoke_core(core_id, payload={"tick": i})
        if i in (3, 6):
            fake.drop_streams(grpc.StatusCode.UNAVAILABLE, code="service_draining")
        await asyncio.sleep(0.05)


async def main(core_id: str, limit: int) -> None:
    async with connect() as (grid, fake):
        driver = None
        if fake is not None:
            await grid.core.invoke_core(core_id, payload={"tick": 0})
            driver = asyncio.create_task(drive(grid, fake, core_id))
        seen = []
        async with grid.core.stream_events(core_id) as events:
            async for event in events:
                seen.append(event.sequence)
                kind = scaicore.EventType.Name(event.type).removeprefix("EVENT_TYPE_")
                print(f"#{event.sequence:<4} {kind:<12} {dict(event.attributes)}")
                if len(seen) >= limit:
                    break
        if driver is not None:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        gapless = seen == list(range(seen[0], seen[0] + len(seen)))
        print(f"{len(seen)} events, sequences {seen[0]}..{seen[-1]}, gapless: {gapless}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="  [%(levelname)s] %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("core_id", nargs="?", default="core-demo")
    parser.add_argument("--limit", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.core_id, args.limit))

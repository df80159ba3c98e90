"""Save a tail's cursor, continue from it later, and notice a lost history.

    python examples/cursors.py

A cursor is the last event's `sequence` and its history's `epoch`. Reopened
with both, the stream continues after that event; a gateway whose history
is not the cursor's any more answers HistoryResetError instead. Against the
fake, the gateway is restarted without its state (a new epoch) to show it;
runs against the bundled fake only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from scaigrid_client import ScaiGrid, errors
from scaigrid_client.testing import FakeScaiGrid

CORE = "core-cursor"


@dataclass
class Cursor:
    """What a tool saves (a file, a database row) between its runs."""

    sequence: int = 0
    epoch: str = ""


async def tail(grid: ScaiGrid, cursor: Cursor, count: int) -> None:
    """Print ``count`` events after ``cursor``, moving it along."""
    stream = grid.core.stream_events(CORE, after_sequence=cursor.sequence, epoch=cursor.epoch)
    async with stream:
        async for event in stream:
            print(f"  #{event.sequence} (epoch {event.epoch[:8]}...)")
            cursor.sequence, cursor.epoch = event.sequence, event.epoch
            count -= 1
            if count == 0:
                break  # leaving the loop cancels the call


async def main() -> None:
    async with FakeScaiGrid() as fake, fake.client() as grid:
        for tick in range(3):
            await grid.core.invoke_core(CORE, payload={"tick": tick})
        cursor = Cursor()
        print("first run:")
        await tail(grid, cursor, 2)
        print(f"saved cursor: sequence {cursor.sequence}, epoch {cursor.epoch[:8]}...")

        print("second run, from the cursor:")
        await tail(grid, cursor, 2)

        await fake.restart(keep_state=False)  # the gateway lost its history
        await grid.core.invoke_core(CORE, payload={"tick": 0})
        print("third run, from the cursor, after the history was lost:")
        try:
            await tail(grid, cursor, 1)
        except errors.HistoryResetError as exc:
            print(f"  HistoryResetError ({exc.code}): {exc.message}")
            cursor = Cursor()  # this tool chooses to start again
            await tail(grid, cursor, 1)


if __name__ == "__main__":
    asyncio.run(main())

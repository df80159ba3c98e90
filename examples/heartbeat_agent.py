"""A node agent that heartbeats in the background and rides out gateway trouble.

    python examples/heartbeat_agent.py [--seconds S]

Against the fake, after ``--seconds`` the gateway fails every heartbeat for
a while (as during a restart); the agent logs it and carries on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random

import grpc
from _common import connect

from scaigrid_client import RetryPolicy
from scaigrid_client.v1 import scaiinfer


def capacity() -> dict[str, object]:
    """What this node reports; a real agent reads its GPUs here."""
    used = random.randint(20, 60) << 30
    return {
        "health": scaiinfer.NODE_HEALTH_HEALTHY,
        "loaded_models": ["scailabs/poolnoodle-omni"],
        "gpu_count": 8,
        "gpu_memory_total_bytes": 8 * (80 << 30),
        "gpu_memory_used_bytes": used,
        "gpu_utilization": round(random.random(), 2),
        "queue_depth": random.randint(0, 12),
    }


async def main(seconds: float) -> None:
    # Three quick attempts per heartbeat: the next heartbeat is a retry too.
    async with connect(retry=RetryPolicy(max_attempts=3, initial_backoff=0.05)) as (grid, fake):
        loop = grid.heartbeat.start_heartbeats(node_id="node-a1", capacity=capacity, interval=0.2)
        await asyncio.sleep(seconds)
        if fake is not None:
            # A gateway restart: every attempt fails for a while, retries
            # included, so two heartbeats fail; the agent carries on.
            fake.fail("HeartbeatService.Heartbeat", grpc.StatusCode.UNAVAILABLE, times=6)
            sent_before = loop.sent
            deadline = asyncio.get_running_loop().time() + 30
            # Poll the loop's counters: a demo, so no event plumbing for it.
            while (loop.failed < 2 or loop.sent <= sent_before) and (  # noqa: ASYNC110
                asyncio.get_running_loop().time() < deadline
            ):
                await asyncio.sleep(0.05)
        await loop.stop()
        print(f"heartbeats sent: {loop.sent}, failed: {loop.failed}")
        if loop.last is not None:
            print(f"last acknowledged: sequence {loop.last.sequence}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="  [%(levelname)s] %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    asyncio.run(main(parser.parse_args().seconds))

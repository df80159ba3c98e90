"""A dead link, for real: run inside a private network namespace
(``unshare -n``), where a ``tc`` blackhole qdisc on the namespace's own
loopback drops every packet without a RST, as a middlebox that lost the
connection does. Prints one JSON line of findings; tests/streams/test_dead_links.py
runs it.

    unshare -n python tests/support/netns_blackhole.py {outage SECONDS | permanent}
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from scaigrid_client import Keepalive, RetryEvent, RetryPolicy, ScaiGrid, errors
from scaigrid_client.testing import FakeScaiGrid

STEPS = 120
STEP_INTERVAL = 0.05


def blackhole(on: bool) -> None:
    action = ["add", "dev", "lo", "root", "blackhole"] if on else ["del", "dev", "lo", "root"]
    subprocess.run(["tc", "qdisc", *action], check=True)


async def follow(
    fake: FakeScaiGrid, *, outage: float | None, idle_timeout: float | None
) -> dict[str, object]:
    resumes: list[tuple[float, str]] = []
    started_dark = 0.0

    def on_retry(event: RetryEvent) -> None:
        resumes.append((time.monotonic() - started_dark, event.status.name))

    policy = RetryPolicy(initial_backoff=0.2, max_backoff=1.0, on_retry=on_retry)
    keepalive = Keepalive(interval=1.0, timeout=1.0)
    async with ScaiGrid(
        fake.target, token=fake.token, tls=False, retry=policy, keepalive=keepalive
    ) as grid:
        job = await grid.coordinator.submit_job(
            name="dark", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=STEPS
        )
        steps: list[int] = []
        arrivals: list[float] = []
        outcome = "completed"
        try:
            async for point in grid.coordinator.stream_metrics(job.id, idle_timeout=idle_timeout):
                steps.append(point.step)
                arrivals.append(time.monotonic())
                if point.step == 20:
                    started_dark = time.monotonic()
                    blackhole(True)
                    if outage is not None:
                        asyncio.get_running_loop().call_later(outage, blackhole, False)
        except errors.ScaiGridError as error:
            outcome = f"{type(error).__name__}: {error.status.name}"
        ended = time.monotonic() - started_dark
    lit = started_dark + (outage or 0.0)
    after = [t for t in arrivals if t > lit] if outage is not None else []
    return {
        "steps_in_order": steps == list(range(1, len(steps) + 1)),
        "last_step": steps[-1] if steps else 0,
        "outcome": outcome,
        "first_noticed_s": resumes[0][0] if resumes else None,
        "resumes": len(resumes),
        "recovered_s": (after[0] - lit) if after else None,
        "ended_s": ended,
    }


def main() -> None:
    mode = sys.argv[1]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with FakeScaiGrid(step_interval=STEP_INTERVAL, min_ping_interval=0.5) as fake:
        if mode == "outage":
            found = asyncio.run(follow(fake, outage=float(sys.argv[2]), idle_timeout=1.0))
        else:
            found = asyncio.run(follow(fake, outage=None, idle_timeout=None))
    print(json.dumps(found), flush=True)


if __name__ == "__main__":
    main()

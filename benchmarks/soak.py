"""Soak: hold event streams and heartbeats for a long time under faults, and
watch the client's memory.

    python benchmarks/soak.py [--minutes M] [--streams N] [--report-every S]
                              [--fault-every S] [--restart-every S]

A fake gateway runs in a child process and, every few seconds, drops every
open stream or fails a burst of calls. With ``--restart-every``, the gateway
is also SIGKILLed that often and started again on the same port and state
directory, as a crashing gateway is. This process is the client: it tails
N cores' events (resuming after every drop), keeps a heartbeat loop going,
invokes the cores so events keep flowing, and prints its RSS over time. At
the end it checks that every tail saw each core's events exactly once, in
order, and says whether memory stayed flat. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import random
import socket
import subprocess
import sys
import tempfile
import time

import grpc

TOKEN = "sgst_soak_token"  # noqa: S105 - the fake's token, not a secret


def rss_mib() -> float:
    pages = int(pathlib.Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


# -- the gateway, in a child process --------------------------------------------------


async def serve(port: int, fault_every: float, state_dir: str) -> None:
    from scaigrid_client.testing import FakeScaiGrid

    rng = random.Random()
    # The journal keeps the newest calls only: this gateway runs for hours.
    # Its state lives in state_dir, so a SIGKILLed gateway comes back with it.
    async with FakeScaiGrid(port=port, token=TOKEN, max_calls=10_000, state_dir=state_dir) as fake:
        print("ready", flush=True)
        while True:
            await asyncio.sleep(fault_every)
            fault = rng.choice(["drop", "fail", "drain"])
            if fault == "drop":
                fake.drop_streams()
            elif fault == "drain":
                fake.drop_streams(grpc.StatusCode.UNAVAILABLE, code="service_draining")
            else:
                for method in ("HeartbeatService.Heartbeat", "CoreRuntimeService.InvokeCore"):
                    fake.fail(method, grpc.StatusCode.UNAVAILABLE, times=rng.randint(1, 3))


# -- the client, measured --------------------------------------------------------------


class Gateway:
    """The fake gateway's child process, which can be killed and restarted."""

    def __init__(self, args: argparse.Namespace, state_dir: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.command = [
            sys.executable,
            __file__,
            "--serve",
            str(self.port),
            "--fault-every",
            str(args.fault_every),
            "--state-dir",
            state_dir,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the fake gateway did not start")

    def kill_and_restart(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=20)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


async def soak(args: argparse.Namespace, gateway: Gateway) -> int:
    from scaigrid_client import ScaiGrid, errors

    target = f"127.0.0.1:{gateway.port}"
    cores = [f"soak-core-{i}" for i in range(args.streams)]
    # The last sequence each tail saw, and whether every event so far came
    # right after it: O(1) memory, so the soak measures the SDK, not itself.
    last: dict[str, int] = dict.fromkeys(cores, 0)
    in_order = True
    events = 0
    resumes = 0

    def count_resume(_event: object) -> None:
        nonlocal resumes
        resumes += 1

    from scaigrid_client import RetryPolicy

    retry = RetryPolicy(initial_backoff=0.05, max_backoff=1.0, on_retry=count_resume)
    async with ScaiGrid(target, token=TOKEN, tls=False, retry=retry) as grid:
        for core in cores:
            await grid.core.invoke_core(core_id=core)

        async def tail(core: str) -> None:
            nonlocal in_order, events
            async for event in grid.core.stream_events(core):
                in_order = in_order and event.sequence == last[core] + 1
                last[core] = event.sequence
                events += 1

        async def drive() -> None:
            while True:
                core = random.choice(cores)
                with contextlib.suppress(errors.ScaiGridError):
                    await grid.core.invoke_core(core_id=core, payload={"t": time.time()})
                await asyncio.sleep(0.02)

        async def restart() -> None:
            while True:
                await asyncio.sleep(args.restart_every)
                await asyncio.to_thread(gateway.kill_and_restart)

        heartbeats = grid.heartbeat.start_heartbeats(
            node_id="soak-node", capacity=lambda: {"gpu_count": 8, "queue_depth": 1}, interval=0.2
        )
        tasks = [asyncio.create_task(tail(c)) for c in cores] + [asyncio.create_task(drive())]
        if args.restart_every:
            tasks.append(asyncio.create_task(restart()))
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        print(
            f"{'minutes':>8} {'RSS MiB':>8} {'events':>8} {'heartbeats':>10} "
            f"{'resumes':>8} {'restarts':>8}"
        )
        while (elapsed := time.monotonic() - start) < args.minutes * 60:
            await asyncio.sleep(args.report_every)
            elapsed = time.monotonic() - start
            samples.append((elapsed, rss_mib()))
            print(
                f"{elapsed / 60:8.2f} {samples[-1][1]:8.1f} {events:8d} "
                f"{heartbeats.sent:10d} {resumes:8d} {gateway.restarts:8d}",
                flush=True,
            )
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await heartbeats.stop()

    for task in failed:
        print(f"a task ended with {task.exception()!r}")
    exact = in_order and all(n > 0 for n in last.values()) and not failed
    print(f"every tail exactly 1..N, in order: {exact}")
    # Flat: after the first quarter (warm-up), the last quarter's mean RSS is
    # within 10% (or 8 MiB) of the second quarter's.
    quarter = max(1, len(samples) // 4)
    early = [rss for _, rss in samples[quarter : 2 * quarter]] or [samples[0][1]]
    late = [rss for _, rss in samples[-quarter:]]
    early_mean, late_mean = sum(early) / len(early), sum(late) / len(late)
    flat = late_mean - early_mean <= max(8.0, 0.1 * early_mean)
    print(f"RSS {early_mean:.1f} MiB -> {late_mean:.1f} MiB: {'flat' if flat else 'GROWING'}")
    return 0 if exact and flat else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--report-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--fault-every", type=float, default=5.0, help="seconds")
    parser.add_argument(
        "--restart-every",
        type=float,
        default=0.0,
        help="seconds between SIGKILL restarts (0: none)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.fault_every, args.state_dir))
        return 0
    with tempfile.TemporaryDirectory(prefix="scaigrid-soak-") as state_dir:
        gateway = Gateway(args, state_dir)
        gateway.start()
        try:
            return asyncio.run(soak(args, gateway))
        finally:
            gateway.stop()


if __name__ == "__main__":
    sys.exit(main())

"""What the pytest fixtures cost a test: `scaigrid_fake` (a fresh fake on
its own thread, started and stopped), and `scaigrid_client` plus one call,
each against a bare `grpc.aio` server fixture with one handler, run the
same way (its own thread and loop, a raw channel for the call).

    python benchmarks/fixture_cost.py [--rounds N] [--tests N] [--write]

Each side sets up and tears down `--tests` fixtures in a row per round, the
sides interleaved in alternating order; the table gives the median per-test
milliseconds and the median of the per-round ratios to the bare server
(min-max). Two more rows split the fake's own start-up: a bare server with
the health and reflection services the fake adds, and the fake's state
(FakeBackend) alone. Printed; `--write` appends it to RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import grpc  # noqa: E402

from scaigrid_client.testing import FakeScaiGrid  # noqa: E402
from scaigrid_client.testing._grpc_server import _add_health_and_reflection  # noqa: E402
from scaigrid_client.testing._loop_thread import LoopThread  # noqa: E402
from scaigrid_client.testing._plugin import _close  # noqa: E402
from scaigrid_client.testing._state._backend import FakeBackend  # noqa: E402


async def _ping(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


class BareServer:
    """The baseline fixture: a grpc.aio server with one unary handler, on its
    own thread and loop as `scaigrid_fake` runs, optionally with the health
    and reflection services the fake adds."""

    def __init__(self, *, health: bool = False) -> None:
        self.health = health
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._thread = LoopThread("bare-server")

    async def _start(self) -> None:
        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(_ping)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("bench.Echo", {"Ping": handler}),)
        )
        if self.health:
            await _add_health_and_reflection(server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0.5)

    def __enter__(self) -> BareServer:
        self._thread.start(self._start, self._stop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.stop()


def bare_fixture(health: bool = False) -> None:
    with BareServer(health=health):
        pass


def bare_and_call() -> None:
    with BareServer() as server:

        async def call() -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                ping = channel.unary_unary("/bench.Echo/Ping")
                await ping(b"ping", timeout=5)

        asyncio.run(call())


def fake_fixture() -> None:
    with FakeScaiGrid():
        pass


def fake_and_client_call() -> None:
    with FakeScaiGrid() as fake:
        grid = fake.client()  # the scaigrid_client fixture
        asyncio.run(grid.inference.list_models())
        _close(grid)


def fake_state_only() -> None:
    FakeBackend().close()


SIDES: dict[str, Callable[[], None]] = {
    "bare": bare_fixture,
    "bare+call": bare_and_call,
    "fake": fake_fixture,
    "fake+client+call": fake_and_client_call,
    "bare+health+reflection": lambda: bare_fixture(health=True),
    "fake state only": fake_state_only,
}
# Which side each is compared with.
BASELINE = {
    "bare": "bare",
    "bare+call": "bare+call",
    "fake": "bare",
    "fake+client+call": "bare+call",
    "bare+health+reflection": "bare",
    "fake state only": "bare",
}
LABELS = {
    "bare": "bare `grpc.aio` server fixture, one handler",
    "bare+call": "bare server + raw channel + one call",
    "fake": "`scaigrid_fake` (FakeScaiGrid on its own thread)",
    "fake+client+call": "`scaigrid_fake` + `scaigrid_client` + one `list_models`",
    "bare+health+reflection": "of which: bare server + health + reflection",
    "fake state only": "of which: the fake's state (FakeBackend) alone",
}


def per_test_ms(fn: Callable[[], None], tests: int) -> float:
    start = time.perf_counter()
    for _ in range(tests):
        fn()
    return (time.perf_counter() - start) / tests * 1000


def measure(rounds: int, tests: int) -> dict[str, list[float]]:
    for fn in SIDES.values():  # warm: imports, first channel, first server
        fn()
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    names = list(SIDES)
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else list(reversed(names))
        for side in order:
            times[side].append(per_test_ms(SIDES[side], tests))
    return times


def table(times: dict[str, list[float]], rounds: int, tests: int) -> list[str]:
    lines = [
        f"Fixture cost per test (`benchmarks/fixture_cost.py`), {time.strftime('%Y-%m-%d')}: "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"grpcio {grpc.__version__}; {rounds} interleaved rounds of {tests} tests per side.",
        "",
        "| fixture | ms per test (median) | /baseline, median of per-round ratios (min-max) |",
        "|---|---|---|",
    ]
    for side, samples in times.items():
        base = times[BASELINE[side]]
        ratios = [s / b for s, b in zip(samples, base, strict=True)]
        lines.append(
            f"| {LABELS[side]} | {statistics.median(samples):.2f} | "
            f"**{statistics.median(ratios):.2f}** ({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--tests", type=int, default=20, help="fixtures per side per round")
    parser.add_argument("--write", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args()
    lines = table(measure(args.rounds, args.tests), args.rounds, args.tests)
    print("\n".join(lines))
    if args.write:
        with open(HERE / "RESULTS.md", "a") as results:
            results.write("\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What telemetry costs a unary call: the SDK without opentelemetry-api, with
it but no provider set, and with the OpenTelemetry SDK recording spans and
metrics, each against the raw stub.

    python benchmarks/telemetry_cost.py [--turns N] [--calls N]

OpenTelemetry's providers are process-global, so each side runs in a child
process of its own, against one fake server. The children stay up and take
short turns (``--calls`` calls each, A B C D D C B A ...), as the unary rows
of run.py do: a turn lasts tens of milliseconds, so the turns of a round see
the same machine. The table gives the median rate of each side and the
median of its per-round ratios to the raw stub, with the interquartile
range. Printed, and appended to RESULTS.md by `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import pathlib
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TOKEN = "sgst_benchmark_token"  # noqa: S105 - the fake's token, not a secret
SIDES = ("raw", "no-api", "no-provider", "provider")


class _NoOpenTelemetry(importlib.abc.MetaPathFinder):
    """Makes `import opentelemetry` fail, as if it were not installed."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"{name} hidden for the benchmark")
        return None


def child(side: str, target: str) -> None:
    """Serve turns: for each line ``N`` read, make N calls and print the
    seconds they took; end at end of input."""
    if side == "no-api":
        sys.meta_path.insert(0, _NoOpenTelemetry())
    if side == "provider":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    import grpc

    from scaigrid_client import InferenceClient
    from scaigrid_client.v1 import scaiinfer

    async def serve(call: Callable[[], Awaitable[object]]) -> None:
        for _ in range(200):  # warm-up
            await call()
        print("ready", flush=True)
        # Between turns the loop waits on stdin: nothing else runs on it.
        for line in sys.stdin:
            start = time.perf_counter()
            for _ in range(int(line)):
                await call()
            print(time.perf_counter() - start, flush=True)

    async def run() -> None:
        if side == "raw":
            async with grpc.aio.insecure_channel(target) as channel:
                stub = scaiinfer.InferenceServiceStub(channel)
                request = scaiinfer.ListModelsRequest()
                md = (("authorization", f"Bearer {TOKEN}"), ("x-request-id", "bench"))
                await serve(lambda: stub.ListModels(request, metadata=md))
            return
        async with InferenceClient(target, token=TOKEN, tls=False) as client:
            await serve(client.list_models)

    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=401, help="turns per side")
    parser.add_argument("--calls", type=int, default=16, help="calls per turn")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args.side, args.target)
        return 0
    from tests.support.standalone import Standalone

    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    with Standalone(TOKEN) as gateway:
        children = {
            side: subprocess.Popen(
                [sys.executable, __file__, "--side", side, "--target", gateway.target],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for side in SIDES
        }
        try:
            for proc in children.values():
                assert proc.stdout is not None
                assert proc.stdout.readline() == "ready\n", "a side did not start"
            for turn in range(args.turns):
                for side in SIDES if turn % 2 == 0 else tuple(reversed(SIDES)):
                    proc = children[side]
                    assert proc.stdin is not None
                    assert proc.stdout is not None
                    proc.stdin.write(f"{args.calls}\n")
                    proc.stdin.flush()
                    seconds[side].append(float(proc.stdout.readline()))
        finally:
            for proc in children.values():
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=60)
    print("\n".join(table(seconds, args.turns, args.calls)))
    return 0


def table(seconds: dict[str, list[float]], turns: int, calls: int) -> list[str]:
    lines = [
        "",
        "Telemetry's cost: unary `list_models` one at a time, each side in its own process,",
        f"{turns} interleaved turns of {calls} calls (`benchmarks/telemetry_cost.py`).",
        "",
        "| side | calls/s (median) | /raw, median of per-turn ratios (IQR) |",
        "|---|---|---|",
    ]
    labels = {
        "raw": "raw generated stub",
        "no-api": "SDK, opentelemetry-api not installed",
        "no-provider": "SDK, opentelemetry-api installed, no provider set",
        "provider": "SDK, OpenTelemetry SDK recording spans and metrics",
    }
    for side in SIDES:
        # throughput ratio = raw's time over this side's, turn by turn
        ratios = [r / s for s, r in zip(seconds[side], seconds["raw"], strict=True)]
        q1, median, q3 = statistics.quantiles(ratios, n=4)
        rate = calls / statistics.median(seconds[side])
        lines.append(f"| {labels[side]} | {rate:,.0f} | **{median:.3f}** ({q1:.3f}-{q3:.3f}) |")
    return lines


if __name__ == "__main__":
    sys.exit(main())

"""What telemetry costs a unary call: the SDK without opentelemetry-api, with
it but no provider set, and with the OpenTelemetry SDK recording spans and
metrics, each against the raw stub.

    python benchmarks/telemetry_cost.py [--rounds N] [--calls N]

OpenTelemetry's providers are process-global, so each side runs in a child
process of its own, against one fake server, in interleaved rounds; the
table gives the median of the per-round rates and the ratio to the raw stub
measured in the same round. Printed, and appended to RESULTS.md by `make
bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import json
import pathlib
import statistics
import subprocess
import sys
import time

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


def child(side: str, target: str, calls: int) -> float:
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

    async def run() -> float:
        if side == "raw":
            async with grpc.aio.insecure_channel(target) as channel:
                stub = scaiinfer.InferenceServiceStub(channel)
                request = scaiinfer.ListModelsRequest()
                md = (("authorization", f"Bearer {TOKEN}"), ("x-request-id", "bench"))
                for _ in range(50):
                    await stub.ListModels(request, metadata=md)
                start = time.perf_counter()
                for _ in range(calls):
                    await stub.ListModels(request, metadata=md)
                return calls / (time.perf_counter() - start)
        async with InferenceClient(target, token=TOKEN, tls=False) as client:
            for _ in range(50):
                await client.list_models()
            start = time.perf_counter()
            for _ in range(calls):
                await client.list_models()
            return calls / (time.perf_counter() - start)

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(child(args.side, args.target, args.calls)))
        return 0
    from tests.support.standalone import Standalone

    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    with Standalone(TOKEN) as gateway:
        for round_number in range(args.rounds):
            order = SIDES if round_number % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--side",
                        side,
                        "--target",
                        gateway.target,
                        "--calls",
                        str(args.calls),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=300,
                )
                rates[side].append(json.loads(out.stdout))
    lines = [
        "",
        f"Telemetry's cost: unary `list_models`, {args.calls} calls one at a time per run,",
        f"each side in its own process, {args.rounds} interleaved rounds (`benchmarks/telemetry_cost.py`).",
        "",
        "| side | calls/s (median) | /raw, median of per-round ratios (min-max) |",
        "|---|---|---|",
    ]
    for side in SIDES:
        ratios = [a / b for a, b in zip(rates[side], rates["raw"], strict=True)]
        label = {
            "raw": "raw generated stub",
            "no-api": "SDK, opentelemetry-api not installed",
            "no-provider": "SDK, opentelemetry-api installed, no provider set",
            "provider": "SDK, OpenTelemetry SDK recording spans and metrics",
        }[side]
        lines.append(
            f"| {label} | {statistics.median(rates[side]):,.0f} | "
            f"**{statistics.median(ratios):.3f}** ({min(ratios):.3f}-{max(ratios):.3f}) |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

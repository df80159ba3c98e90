"""A long A/B of row 3b alone: the SDK, the raw stub and google-api-core's
wrapper on one stream of small chunks, many rounds in random order, with
bootstrap 95% confidence intervals of the paired medians.

    python benchmarks/ab_stream.py [--rounds 301] [--chunks 3000]

`make bench`'s 41 rounds cannot separate wrappers whose per-chunk costs
differ by a fraction of a microsecond; this says whether a difference is
there at all.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable

import grpc
from run import HI, METADATA, OMNI, TOKEN, gapic_wrap, pin, start_server

from scaigrid_client import InferenceClient
from scaigrid_client.v1 import scaiinfer


def bootstrap(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    """The 95% interval of the median, by resampling (seeded: reproducible)."""
    rng = random.Random(1)
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples)
    )
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples)]


async def measure(target: str, rounds: int, chunks: int) -> dict[str, list[tuple[float, float]]]:
    request = scaiinfer.InferenceRequest(model=OMNI, messages=HI, max_tokens=chunks)
    async with (
        InferenceClient(target, token=TOKEN, tls=False) as client,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = scaiinfer.InferenceServiceStub(channel)
        wrapped = gapic_wrap(stub.StreamInference)

        async def count(messages: object) -> int:
            n = 0
            async for _ in messages:  # type: ignore[attr-defined]
                n += 1
            return n

        async def raw() -> int:
            return await count(stub.StreamInference(request, metadata=METADATA))

        async def sdk() -> int:
            return await count(client.stream_inference(model=OMNI, messages=HI, max_tokens=chunks))

        async def peer() -> int:
            return await count(await wrapped(request, metadata=METADATA))  # type: ignore[operator, misc]

        sides: dict[str, Callable[[], Awaitable[int]]] = {"raw": raw, "sdk": sdk}
        if wrapped is not None:
            sides["google-api-core"] = peer
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for run in sides.values():  # warm-up
            await run()
        order = list(sides.items())
        for _ in range(rounds):
            random.shuffle(order)
            for name, run in order:
                cpu, start = time.thread_time(), time.perf_counter()
                n = await run()
                elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
                results[name].append((n / elapsed, cpu / n * 1e6))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=301)
    parser.add_argument("--chunks", type=int, default=3000)
    args = parser.parse_args()
    pin(1)
    server, target = start_server()
    try:
        results = asyncio.run(measure(target, args.rounds, args.chunks))
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(f"{args.rounds} rounds of one {args.chunks}-chunk stream per side, random order\n")
    print("| A against B | throughput A/B, median [95% CI] | main-thread CPU A-B per chunk |")
    print("|---|---|---|")
    pairs = [("sdk", "raw"), ("google-api-core", "raw"), ("sdk", "google-api-core")]
    for a, b in pairs:
        if a not in results or b not in results:
            continue
        ratios = [x[0] / y[0] for x, y in zip(results[a], results[b], strict=True)]
        cpu = [x[1] - y[1] for x, y in zip(results[a], results[b], strict=True)]
        (rlo, rhi), (clo, chi) = bootstrap(ratios), bootstrap(cpu)
        print(
            f"| {a} against {b} | {statistics.median(ratios):.4f} [{rlo:.4f}, {rhi:.4f}] "
            f"| {statistics.median(cpu):+.3f} us [{clo:+.3f}, {chi:+.3f}] |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

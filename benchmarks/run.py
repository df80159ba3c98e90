"""The performance suite: the SDK against the raw generated stub.

    python benchmarks/run.py [--rounds N] [--binary-gib G] [--quick]

The server (the bundled fake, streaming without pacing) runs in its own
process; this process is the client. Each row runs the SDK and the raw stub
on the same server in interleaved rounds (A B B A ...; for the unary rows,
short turns of a few calls) and reports the median of the per-round SDK/raw
ratios, with the interquartile range: on a shared, noisy machine ratios are
the result, not absolute times. A second table gives the client
main thread's CPU time per operation, where any wrapper's cost lives, and
what each wrapper adds to the raw stub's; a third counts the Python calls
per operation, which barely vary between runs. All are printed and (but
for --quick) written to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from scaigrid_client import CoreRuntimeClient, InferenceClient
from scaigrid_client.v1 import scaicore, scaiinfer

HERE = pathlib.Path(__file__).resolve().parent
TOKEN = "sgst_benchmark_token"  # noqa: S105 - the fake accepts it; not a secret
OMNI = "scailabs/poolnoodle-omni"
# What any client must send: the token and a request id.
METADATA = (("authorization", f"Bearer {TOKEN}"), ("x-request-id", "benchmark-raw"))
HI = [scaiinfer.ChatMessage(role="user", content="benchmark")]


@dataclass
class Sample:
    """One run of one side: its throughput, and the CPU time the client's main
    thread (where any wrapper runs) spent per operation, in microseconds."""

    rate: float
    cpu_us: float
    ops: int


@dataclass
class Row:
    name: str
    unit: str
    sdk: list[float]
    raw: list[float]
    peer: list[float] | None = None
    note: str = ""
    cpu: dict[str, list[float]] | None = None  # side -> main-thread CPU us/op per round
    calls: dict[str, float] | None = None  # side -> Python calls per op (deterministic)

    def cpu_cells(self) -> list[str] | None:
        """Main-thread CPU per operation: raw, and what each wrapper adds to it
        (median of the per-round differences, with the interquartile range)."""
        if not self.cpu:
            return None
        raw = self.cpu["raw"]

        def added(side: str) -> str:
            if side not in self.cpu:  # type: ignore[operator]
                return "-"
            diffs = sorted(a - b for a, b in zip(self.cpu[side], raw, strict=True))  # type: ignore[index]
            q1, _, q3 = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else diffs * 3
            return f"**{statistics.median(diffs):+.2f}** ({q1:+.2f} to {q3:+.2f})"

        return [self.name, f"{statistics.median(raw):.2f} us", added("sdk"), added("peer")]

    def calls_cells(self) -> list[str] | None:
        if not self.calls:
            return None
        raw = self.calls["raw"]

        def side(name: str) -> str:
            if name not in self.calls:  # type: ignore[operator]
                return "-"
            value = self.calls[name]  # type: ignore[index]
            return f"{value:.2f} (**{value - raw:+.2f}**)"

        return [self.name, f"{raw:.2f}", side("sdk"), side("peer")]

    def ratios(self, other: list[float]) -> list[float]:
        return [a / b for a, b in zip(other, self.raw, strict=True)]

    def cells(self) -> list[str]:
        ratios = self.ratios(self.sdk)
        cells = [
            self.name,
            f"{statistics.median(self.raw):,.0f} {self.unit}",
            f"{statistics.median(self.sdk):,.0f} {self.unit}",
            f"**{statistics.median(ratios):.3f}** ({quartiles(ratios)})",
        ]
        if self.peer:
            peer = self.ratios(self.peer)
            cells.append(f"{statistics.median(peer):.3f} ({quartiles(peer)})")
        else:
            cells.append("-")
        cells.append(self.note)
        return cells


def quartiles(values: list[float]) -> str:
    """The interquartile range: with thousands of short turns, min and max
    would show only the machine's worst moments."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"{q1:.3f}-{q3:.3f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> None:
    """Keep a process on one core, when there are two or more: the server on
    one, the client on another, so they do not preempt each other."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def start_server() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scaigrid_client._cli",
            "fake",
            "--port",
            str(port),
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: pin(0),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("target: "):
        raise RuntimeError(f"the fake did not start: {line!r}")
    return proc, line.split(": ", 1)[1].strip()


async def rate(count: int, body: Callable[[], Awaitable[int]]) -> Sample:
    """One run of ``body`` (which returns its count): operations per second,
    and main-thread CPU microseconds per operation."""
    cpu, start = time.thread_time(), time.perf_counter()
    done = await body()
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    assert done == count, (done, count)
    return Sample(count / elapsed, cpu / count * 1e6, count)


async def interleave(
    rounds: int, sides: dict[str, Callable[[], Awaitable[Sample]]], warmup: int = 1
) -> dict[str, list[Sample]]:
    """Rounds of every side in turn (A B A B ...), the order reversed every
    other round so neither side always runs first."""
    results: dict[str, list[Sample]] = {name: [] for name in sides}
    for run in sides.values():  # warm-up, not measured
        for _ in range(warmup):
            await run()
    order = list(sides.items())
    for _ in range(rounds):
        for name, run in order:
            results[name].append(await run())
        order.reverse()
    return results


async def calls_per_op(sides: dict[str, Callable[[], Awaitable[Sample]]]) -> dict[str, float]:
    """Python function calls the main thread makes per operation, counted
    under ``sys.setprofile`` in one more run of each side. Unlike times, the
    count hardly varies from run to run: it shows the work a wrapper adds
    where timing noise hides it."""
    counts: dict[str, float] = {}
    for name, run in sides.items():
        calls = 0

        def count(frame: object, event: str, arg: object) -> None:
            nonlocal calls
            if event == "call":  # Python functions, and each resumption of a coroutine
                calls += 1

        sys.setprofile(count)
        try:
            sample = await run()
        finally:
            sys.setprofile(None)
        counts[name] = calls / sample.ops
    return counts


def row(
    name: str,
    unit: str,
    samples: dict[str, list[Sample]],
    note: str = "",
    cpu: bool = True,
    calls: dict[str, float] | None = None,
) -> Row:
    rates = {side: [s.rate for s in runs] for side, runs in samples.items()}
    return Row(
        name,
        unit,
        rates["sdk"],
        rates["raw"],
        rates.get("peer"),
        note,
        {side: [s.cpu_us for s in runs] for side, runs in samples.items()} if cpu else None,
        calls,
    )


def gapic_wrap(stub_method: object) -> object | None:
    """google-api-core's wrapper, as GAPIC clients use it, if installed."""
    try:
        from google.api_core import exceptions, gapic_v1, retry_async
    except ImportError:
        return None
    retry = retry_async.AsyncRetry(
        initial=0.1,
        maximum=5.0,
        multiplier=2.0,
        predicate=retry_async.if_exception_type(exceptions.ServiceUnavailable),
        timeout=60.0,
    )
    return gapic_v1.method_async.wrap_method(stub_method, default_retry=retry, default_timeout=60.0)


# The unary rows take short turns: the machine's speed drifts over seconds
# (other tenants, frequency), and a turn of a few calls lasts tens of
# milliseconds, so the two turns of a pair see the same machine and their
# ratio is nearly free of the drift. Rounds of a thousand calls, as the
# stream rows take, left row 1 anywhere from 0.90 to 1.03 on a noisy host;
# turns of 16 gave 0.957-0.969 there in five runs.
ONE_AT_A_TIME_TURN = 16  # calls, one after another
IN_FLIGHT = 64
CONCURRENT_TURN = 4 * IN_FLIGHT  # calls, IN_FLIGHT at a time
WARMUP_CALLS = 256


async def unary_rows(target: str, calls: int) -> list[Row]:
    """Rows 1 and 2: ``calls`` unary calls per side in each, in short turns."""
    request = scaiinfer.ListModelsRequest()
    async with (
        InferenceClient(target, token=TOKEN, tls=False) as client,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = scaiinfer.InferenceServiceStub(channel)
        wrapped = gapic_wrap(stub.ListModels)

        async def sequential(call: Callable[[], Awaitable[object]]) -> Sample:
            async def body() -> int:
                for _ in range(ONE_AT_A_TIME_TURN):
                    await call()
                return ONE_AT_A_TIME_TURN

            return await rate(ONE_AT_A_TIME_TURN, body)

        async def concurrent(call: Callable[[], Awaitable[object]]) -> Sample:
            async def body() -> int:
                async def worker() -> None:
                    for _ in range(CONCURRENT_TURN // IN_FLIGHT):
                        await call()

                await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
                return CONCURRENT_TURN

            return await rate(CONCURRENT_TURN, body)

        def sdk() -> Awaitable[object]:
            return client.list_models()

        def raw() -> Awaitable[object]:
            return stub.ListModels(request, metadata=METADATA)

        sides: dict[str, Callable[[], Awaitable[Sample]]] = {
            "sdk": lambda: sequential(sdk),
            "raw": lambda: sequential(raw),
        }
        if wrapped is not None:
            sides["peer"] = lambda: sequential(lambda: wrapped(request, metadata=METADATA))  # type: ignore[operator]
        one = await interleave(
            max(1, calls // ONE_AT_A_TIME_TURN), sides, WARMUP_CALLS // ONE_AT_A_TIME_TURN
        )
        one_calls = await calls_per_op(sides)
        many = await interleave(
            max(1, calls // CONCURRENT_TURN),
            {"sdk": lambda: concurrent(sdk), "raw": lambda: concurrent(raw)},
            WARMUP_CALLS // CONCURRENT_TURN,
        )
    return [
        row("1. unary `list_models`, one at a time", "calls/s", one, calls=one_calls),
        # 64 calls share the thread: CPU per call is not one call's cost.
        row(f"2. unary `list_models`, {IN_FLIGHT} in flight", "calls/s", many, cpu=False),
    ]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) another process has used so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stream_rows(
    target: str, server_pid: int, rounds: int, chunks: int, reply_tokens: int, events: int
) -> list[Row]:
    async with (
        InferenceClient(target, token=TOKEN, tls=False) as client,
        CoreRuntimeClient(target, token=TOKEN, tls=False) as cores,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = scaiinfer.InferenceServiceStub(channel)
        core_stub = scaicore.CoreRuntimeServiceStub(channel)
        wrapped = gapic_wrap(stub.StreamInference)

        served = [0.0, 0.0]  # chunks the fake sent to the raw stub, and its CPU seconds

        def chunk_sides(tokens: int, streams: int) -> dict[str, Callable[[], Awaitable[Sample]]]:
            """``streams`` replies of ``tokens`` token chunks (plus the final one)."""
            request = scaiinfer.InferenceRequest(model=OMNI, messages=HI, max_tokens=tokens)
            total = streams * (tokens + 1)

            async def sdk() -> Sample:
                async def body() -> int:
                    n = 0
                    for _ in range(streams):
                        async for _ in client.stream_inference(
                            model=OMNI, messages=HI, max_tokens=tokens
                        ):
                            n += 1
                    return n

                return await rate(total, body)

            async def raw() -> Sample:
                async def body() -> int:
                    n = 0
                    for _ in range(streams):
                        async for _ in stub.StreamInference(request, metadata=METADATA):
                            n += 1
                    return n

                server_cpu = process_cpu(server_pid)
                sample = await rate(total, body)
                served[0] += total
                served[1] += process_cpu(server_pid) - server_cpu
                return sample

            async def peer() -> Sample:
                async def body() -> int:
                    n = 0
                    for _ in range(streams):
                        call = await wrapped(request, metadata=METADATA)  # type: ignore[operator, misc]
                        async for _ in call:
                            n += 1
                    return n

                return await rate(total, body)

            sides: dict[str, Callable[[], Awaitable[Sample]]] = {"sdk": sdk, "raw": raw}
            if wrapped is not None:
                sides["peer"] = peer
            return sides

        # Chat replies of a typical length, where opening each stream counts,
        # and one long stream, where only the per-message path does.
        reply_sides = chunk_sides(reply_tokens, max(1, chunks // reply_tokens))
        replies = await interleave(rounds, reply_sides)
        replies_calls = await calls_per_op(reply_sides)
        small_sides = chunk_sides(chunks, 1)
        small = await interleave(rounds, small_sides)
        small_calls = await calls_per_op(small_sides)

        core_id = "bench-core"
        await asyncio.gather(*(cores.invoke_core(core_id=core_id) for _ in range(events - 1)))

        async def sdk_events() -> Sample:
            async def body() -> int:
                n = 0
                async with cores.stream_events(core_id) as stream:
                    async for _ in stream:
                        n += 1
                        if n == events:
                            break
                return n

            return await rate(events, body)

        async def raw_events() -> Sample:
            async def body() -> int:
                n = 0
                call = core_stub.StreamEvents(
                    scaicore.StreamEventsRequest(core_id=core_id), metadata=METADATA
                )
                async for _ in call:
                    n += 1
                    if n == events:
                        break
                call.cancel()
                return n

            return await rate(events, body)

        event_sides: dict[str, Callable[[], Awaitable[Sample]]] = {
            "sdk": sdk_events,
            "raw": raw_events,
        }
        resumable = await interleave(rounds, event_sides)
        resumable_calls = await calls_per_op(event_sides)
    fake_rate = served[0] / served[1] if served[1] else float("nan")
    return [
        row(
            f"3a. `stream_inference` small chunks, {reply_tokens}-token replies",
            "chunks/s",
            replies,
            note=f"{max(1, chunks // reply_tokens)} replies in a row",
            calls=replies_calls,
        ),
        row(
            f"3b. `stream_inference` small chunks, one {chunks}-chunk stream",
            "chunks/s",
            small,
            calls=small_calls,
            note=f"the fake spends {1e6 / fake_rate:.0f} us "
            f"of CPU per chunk: {fake_rate:,.0f} chunks/s on one core",
        ),
        row("4. `stream_events` (resumable)", "events/s", resumable, calls=resumable_calls),
    ]


# -- rows S: the sync flavour against grpc's raw sync stub --------------------------


def rate_sync(count: int, body: Callable[[], int]) -> Sample:
    cpu, start = time.thread_time(), time.perf_counter()
    done = body()
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    assert done == count, (done, count)
    return Sample(count / elapsed, cpu / count * 1e6, count)


def interleave_sync(
    rounds: int, sides: dict[str, Callable[[], Sample]], warmup: int = 1
) -> dict[str, list[Sample]]:
    results: dict[str, list[Sample]] = {name: [] for name in sides}
    for run in sides.values():
        for _ in range(warmup):
            run()
    order = list(sides.items())
    for _ in range(rounds):
        for name, run in order:
            results[name].append(run())
        order.reverse()
    return results


THREADS = 16  # row S2's


def sync_rows(target: str, rounds: int, calls: int, chunks: int) -> list[Row]:
    """Rows S: ``calls`` unary calls per side in S1 and S2, in short turns
    (as rows 1 and 2), and ``rounds`` of one ``chunks``-chunk stream in S3."""
    from concurrent.futures import ThreadPoolExecutor

    from scaigrid_client import sync

    request = scaiinfer.ListModelsRequest()
    stream_request = scaiinfer.InferenceRequest(model=OMNI, messages=HI, max_tokens=chunks)
    with (
        sync.InferenceClient(target, token=TOKEN, tls=False) as client,
        grpc.insecure_channel(target) as channel,
        ThreadPoolExecutor(THREADS) as pool,
    ):
        stub = scaiinfer.InferenceServiceStub(channel)

        def sequential(call: Callable[[], object]) -> Sample:
            def body() -> int:
                for _ in range(ONE_AT_A_TIME_TURN):
                    call()
                return ONE_AT_A_TIME_TURN

            return rate_sync(ONE_AT_A_TIME_TURN, body)

        def threaded(call: Callable[[], object]) -> Sample:
            def worker() -> None:
                for _ in range(CONCURRENT_TURN // THREADS):
                    call()

            def body() -> int:
                for future in [pool.submit(worker) for _ in range(THREADS)]:
                    future.result()
                return CONCURRENT_TURN

            return rate_sync(CONCURRENT_TURN, body)

        def sdk() -> object:
            return client.list_models()

        def raw() -> object:
            return stub.ListModels(request, metadata=METADATA)

        def sdk_stream() -> Sample:
            def body() -> int:
                return sum(
                    1 for _ in client.stream_inference(model=OMNI, messages=HI, max_tokens=chunks)
                )

            return rate_sync(chunks + 1, body)

        def raw_stream() -> Sample:
            def body() -> int:
                return sum(1 for _ in stub.StreamInference(stream_request, metadata=METADATA))

            return rate_sync(chunks + 1, body)

        one = interleave_sync(
            max(1, calls // ONE_AT_A_TIME_TURN),
            {"sdk": lambda: sequential(sdk), "raw": lambda: sequential(raw)},
            WARMUP_CALLS // ONE_AT_A_TIME_TURN,
        )
        many = interleave_sync(
            max(1, calls // CONCURRENT_TURN),
            {"sdk": lambda: threaded(sdk), "raw": lambda: threaded(raw)},
            WARMUP_CALLS // CONCURRENT_TURN,
        )
        stream = interleave_sync(rounds, {"sdk": sdk_stream, "raw": raw_stream})
    return [
        row("S1. sync unary `list_models`, one at a time", "calls/s", one),
        row(f"S2. sync unary `list_models`, {THREADS} threads", "calls/s", many, cpu=False),
        row(f"S3. sync `stream_inference`, one {chunks}-chunk stream", "chunks/s", stream),
    ]


# -- row 5: a child process per run, so each peak RSS is its own ---------------------


def peak_rss() -> int:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec,
    # so a child would report its parent's peak.
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def current_rss() -> int:
    return int(pathlib.Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def binary_child(target: str, side: str, total: int) -> dict[str, float]:
    rss_before = current_rss()
    received = 0
    start = time.perf_counter()
    if side == "sdk":
        async with InferenceClient(target, token=TOKEN, tls=False) as client:
            async for chunk in client.stream_inference(model=OMNI, messages=HI, binary_bytes=total):
                received += len(chunk.data)
    else:
        async with grpc.aio.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 256 << 20)]
        ) as channel:
            stub = scaiinfer.InferenceServiceStub(channel)
            request = scaiinfer.InferenceRequest(
                model=OMNI,
                messages=HI,
                response_format=scaiinfer.RESPONSE_FORMAT_BINARY,
                max_output_bytes=total,
            )
            async for chunk in stub.StreamInference(request, metadata=METADATA):
                received += len(chunk.data)
    elapsed = time.perf_counter() - start
    assert received == total, (received, total)
    peak = peak_rss()
    return {"mbps": total / elapsed / 1e6, "rss_growth_mib": (peak - rss_before) / (1 << 20)}


def binary_row(target: str, rounds: int, total: int) -> Row:
    results: dict[str, list[dict[str, float]]] = {"sdk": [], "raw": []}
    for _ in range(rounds):
        for side in ("sdk", "raw"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--binary-child",
                    side,
                    "--target",
                    target,
                    "--bytes",
                    str(total),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[side].append(json.loads(out.stdout))
    growth = max(r["rss_growth_mib"] for r in results["sdk"])
    raw_growth = max(r["rss_growth_mib"] for r in results["raw"])
    return Row(
        f"5. binary stream, {total / (1 << 30):.1f} GiB in 1 MiB chunks",
        "MB/s",
        [r["mbps"] for r in results["sdk"]],
        [r["mbps"] for r in results["raw"]],
        note=f"client peak RSS growth: SDK {growth:.0f} MiB, raw {raw_growth:.0f} MiB",
    )


# -- row 6: import time in fresh interpreters -----------------------------------------


def import_ms(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    # As installed by pip: bytecode compiled. PYTHONDONTWRITEBYTECODE (set on
    # some machines) would make every run compile the SDK from source, while
    # grpc and protobuf, compiled at install, would not.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return float(out.stdout)


IMPORTS = {
    "6a": "import scaigrid_client",
    # What the first call needs: the clients, grpc.aio, protobuf and the
    # generated code of every service.
    "6b": "from scaigrid_client import ScaiGrid",
}


def import_rows(rounds: int) -> list[str]:
    """Milliseconds each SDK import adds to ``import grpc, google.protobuf``."""
    import compileall

    compileall.compile_dir(str(HERE.parent / "scaigrid_client"), quiet=1)
    rows = []
    for label, statement in IMPORTS.items():
        base, sdk = [], []
        for _ in range(max(rounds, 7)):
            base.append(import_ms("import grpc, google.protobuf"))
            sdk.append(import_ms(statement))
        added = statistics.median(s - b for s, b in zip(sdk, base, strict=True))
        rows.append(
            f"| {label}. import | {statistics.median(base):.0f} ms (`import grpc, google.protobuf`) "
            f"| {statistics.median(sdk):.0f} ms (`{statement}`) | **{added:+.0f} ms** | - "
            "| medians of fresh interpreters |"
        )
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, grpcio {grpc.__version__}"
    )


async def measure(args: argparse.Namespace, target: str, server_pid: int) -> list[Row]:
    rows = await unary_rows(target, args.calls)
    rows += await stream_rows(
        target, server_pid, args.rounds, args.chunks, args.reply_tokens, args.events
    )
    return rows


def table(caption: list[str], headers: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table after a blank line and its caption."""
    return [
        "",
        *caption,
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument(
        "--calls", type=int, default=40960, help="unary calls per side in rows 1, 2, S1 and S2"
    )
    parser.add_argument("--chunks", type=int, default=3000)
    parser.add_argument("--reply-tokens", type=int, default=256)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--binary-gib", type=float, default=2.0)
    parser.add_argument("--binary-rounds", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, to check the script runs"
    )
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--binary-child", choices=["sdk", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin(1)
    if args.binary_child:
        print(json.dumps(asyncio.run(binary_child(args.target, args.binary_child, args.bytes))))
        return 0
    if args.quick:
        args.rounds, args.calls, args.chunks, args.events = 3, 512, 500, 500
        args.reply_tokens = 100
        args.binary_gib, args.binary_rounds = 0.0625, 1
    server, target = start_server()
    try:
        rows = asyncio.run(measure(args, target, server.pid))
        rows += sync_rows(target, args.rounds, args.calls, args.chunks)
        rows.append(binary_row(target, args.binary_rounds, int(args.binary_gib * (1 << 30))))
    finally:
        server.terminate()
        server.wait(timeout=20)
    imports = import_rows(args.rounds)

    headers = ["row", "raw stub", "SDK", "SDK/raw median (IQR)", "google-api-core/raw", "note"]
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` (`python benchmarks/run.py`) on {time.strftime('%Y-%m-%d')}: {machine()}; "
        "the fake server pinned to core 0 in its own process, the client to core 1.",
        f"Rows 1, 2, S1 and S2: {args.calls:,} calls per side, in interleaved turns of "
        f"{ONE_AT_A_TIME_TURN} calls ({CONCURRENT_TURN} in rows 2 and S2); the other rows: "
        f"{args.rounds} interleaved rounds ({args.binary_rounds} for row 5).",
        "Ratios are throughput SDK/raw, the median of the per-turn (per-round) ratios with its",
        "interquartile range; higher is better, 1.0 is parity. Rows S are the sync",
        "flavour (`scaigrid_client.sync`) against grpc's raw sync stub.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    lines += imports
    lines += table(
        [
            "Client CPU: the main thread's CPU time per operation (`time.thread_time()`),",
            "where every wrapper runs; grpc's own threads are left out. What a wrapper",
            "adds is the median of its per-turn (per-round) differences from the raw stub.",
        ],
        [
            "row",
            "raw stub: main-thread CPU per op",
            "SDK adds (us, median, IQR)",
            "google-api-core adds",
        ],
        [cells for row in rows if (cells := row.cpu_cells())],
    )
    lines += table(
        [
            "Python function calls (and coroutine resumptions) the main thread makes per",
            "operation, counted with `sys.setprofile` in one extra run of each side: nearly",
            "the same in every run, so it shows the work a wrapper adds where time is noise.",
        ],
        ["row", "raw stub: Python calls per op", "SDK (added)", "google-api-core (added)"],
        [cells for row in rows if (cells := row.calls_cells())],
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        pathlib.Path(args.output).write_text(text)
        print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

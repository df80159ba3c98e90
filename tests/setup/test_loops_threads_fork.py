"""Where applications really run the SDK: several event loops, threads,
forked workers, and blocking code (the sync flavour)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time

import grpc
import pytest

from scaigrid_client import InferenceClient, ScaiGrid, ScaiKeyTokenProvider, errors, sync
from scaigrid_client.testing import FakeScaiGrid
from tests.support import SCRIPTS
from tests.support.scaikey_stub import SECRET, ScaiKeyStub
from tests.support.standalone import Standalone

TOKEN = "sgst_lifecycle"


async def _count_models(grid: ScaiGrid) -> int:
    return len(await grid.inference.list_models())


# -- one async client, many event loops ----------------------------------------------------


def test_one_client_across_two_asyncio_runs() -> None:
    with FakeScaiGrid() as fake:
        grid = ScaiGrid(fake.target, token=fake.token, tls=False)
        assert asyncio.run(_count_models(grid)) == 3
        assert asyncio.run(_count_models(grid)) == 3  # the first loop is closed by now

        async def stream_then_close() -> list[int]:
            await grid.core.invoke_core(core_id="c")
            events = grid.core.stream_events("c")
            seen = []
            async for event in events:
                seen.append(event.sequence)
                if event.sequence == 2:
                    break
            await grid.close()
            return seen

        assert asyncio.run(stream_then_close()) == [1, 2]


@pytest.mark.serial
def _without_slow_steps(stderr: str) -> str:
    """stderr less asyncio debug mode's notes that a step took over 100 ms:
    they measure how busy the machine is, not anything left behind."""
    slow = re.compile(r"^Executing <.*> took \d+\.\d+ seconds$")
    return "\n".join(line for line in stderr.splitlines() if not slow.match(line))


def test_two_asyncio_runs_leave_no_warning_behind() -> None:
    script = """
import asyncio, sys
from scaigrid_client import ScaiGrid
from scaigrid_client.testing import FakeScaiGrid
with FakeScaiGrid() as fake:
    grid = ScaiGrid(fake.target, token=fake.token, tls=False)
    async def use():
        return len(await grid.inference.list_models())
    assert asyncio.run(use()) == 3
    assert asyncio.run(use()) == 3
    asyncio.run(grid.close())
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stderr
    for complaint in ("never awaited", "ResourceWarning", "Unclosed", "Event loop is closed"):
        assert complaint not in done.stderr, done.stderr
    if tuple(int(p) for p in grpc.__version__.split(".")[:2]) >= (1, 80):
        # (grpcio 1.70's aio poller sometimes logs about the closed loop itself)
        assert _without_slow_steps(done.stderr) == "", done.stderr


def test_one_client_from_loops_in_many_threads_at_once() -> None:
    with FakeScaiGrid() as fake:
        grid = ScaiGrid(fake.target, token=fake.token, tls=False)
        results: list[int] = []
        failures: list[BaseException] = []

        def worker() -> None:
            async def calls() -> None:
                counts = await asyncio.gather(*(_count_models(grid) for _ in range(20)))
                results.extend(counts)

            try:
                asyncio.run(calls())
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert results == [3] * 160
        asyncio.run(grid.close())


_MODULE_CLIENT: dict[str, ScaiGrid] = {}


@pytest.fixture(scope="module")
def module_fake() -> object:
    with FakeScaiGrid() as fake:
        _MODULE_CLIENT["grid"] = ScaiGrid(fake.target, token=fake.token, tls=False)
        yield fake


# One worker runs all three under pytest-xdist (--dist loadgroup): they share the client.
@pytest.mark.xdist_group("module_level_client")
@pytest.mark.asyncio
@pytest.mark.parametrize("test_number", [1, 2, 3])
async def test_a_module_level_client_in_tests_with_a_loop_each(
    module_fake: object, test_number: int
) -> None:
    # pytest-asyncio gives each test its own loop; the client is shared.
    assert await _count_models(_MODULE_CLIENT["grid"]) == 3


def test_token_provider_cache_is_shared_across_loops(scaikey: ScaiKeyStub) -> None:
    stub = scaikey
    with FakeScaiGrid() as fake:
        stub.fake = fake
        provider = ScaiKeyTokenProvider(stub.url, client_id="svc", client_secret=SECRET)
        grid = InferenceClient(fake.target, token=provider, tls=False)

        async def burst() -> None:
            await asyncio.gather(*(grid.list_models() for _ in range(10)))

        asyncio.run(burst())
        asyncio.run(burst())  # a new loop: the cached token is reused
        assert len(stub.requests) == 1


def test_misuse_says_what_to_do() -> None:
    grid = ScaiGrid("localhost", token="x")
    with pytest.raises(TypeError, match="async with"), grid:
        pass
    stream = grid.core.stream_events("c")
    with pytest.raises(TypeError, match="async for"):
        for _ in stream:  # type: ignore[attr-defined]
            pass
    with pytest.raises(RuntimeError, match="running event loop"):
        grid._transport.channel  # noqa: B018 - the property raises
    with pytest.raises(TypeError, match="get_token is async"):
        sync.ScaiGrid(
            "localhost",
            token=ScaiKeyTokenProvider("https://scaikey", client_id="a", client_secret="b"),
        )


# -- fork ----------------------------------------------------------------------------------


def _grpcio_at_least(major: int, minor: int) -> bool:
    return tuple(int(part) for part in grpc.__version__.split(".")[:2]) >= (major, minor)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
@pytest.mark.skipif(
    not _grpcio_at_least(1, 85),
    reason="grpcio < 1.85 itself may abort or hang the process that forks, whatever the "
    "SDK does (seen with 1.70; docs/guides/operations.md: Processes, prefer spawn there)",
)
def test_forked_children_never_hang() -> None:
    script = str(SCRIPTS / "fork_child.py")
    with Standalone(TOKEN) as gateway:
        done = subprocess.run(
            [sys.executable, script, gateway.target, TOKEN],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    outcomes = {r["case"]: r for r in map(json.loads, done.stdout.splitlines())}
    for case in ("async: inherited", "async: new", "sync: inherited", "sync: new"):
        assert outcomes[case]["outcome"] == "ForkError", outcomes[case]
        assert outcomes[case]["seconds"] < 5
    assert outcomes["multiprocessing fork pool"]["outcome"] == "ForkError"
    assert outcomes["multiprocessing spawn"]["outcome"] == "works"
    # A parent that closed its clients first: the child works with grpcio
    # 1.85+; older grpcio sometimes hangs there, so the child refuses.
    closed_first = {outcomes[f"{f}: parent closed first"]["outcome"] for f in ("async", "sync")}
    assert closed_first == {"works"}


def test_fork_error_names_fork_and_the_fixes() -> None:
    text = str(errors.ForkError.__doc__)
    assert "fork" in text
    from scaigrid_client import _fork

    saved = _fork._forked_from
    _fork._forked_from = 4242
    try:
        with pytest.raises(errors.ForkError) as info:
            _fork.check_not_forked()
    finally:
        _fork._forked_from = saved
    message = str(info.value)
    assert "forked from process 4242" in message
    assert "spawn" in message and "gunicorn" in message and "Celery" in message


# -- the sync flavour ---------------------------------------------------------------------


def test_sync_client_inside_a_running_event_loop() -> None:
    """A notebook cell: sync code in a thread whose loop is running."""
    with FakeScaiGrid() as fake, sync.ScaiGrid(fake.target, token=fake.token, tls=False) as grid:

        async def cell() -> list[str]:
            models = grid.inference.list_models()  # blocking, on purpose
            chunks = grid.inference.stream_inference(
                model="scailabs/poolnoodle-omni",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=4,
            )
            return [m.id for m in models] + [c.delta.content for c in chunks]

        out = asyncio.run(cell())
        assert "scailabs/poolnoodle-omni" in out
        assert len(out) >= 3 + 4


def test_sync_client_from_many_threads_at_once() -> None:
    with FakeScaiGrid() as fake, sync.ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=5)
        results: list[int] = []
        request_ids: list[str] = []

        def worker(n: int) -> None:
            for i in range(10):
                info = sync.raw_response(grid.inference.list_models)
                results.append(len(info.result))
                assert info.request_id
                request_ids.append(info.request_id)
                job = grid.coordinator.submit_job(
                    name=f"t{n}-{i}", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=1
                )
                assert job.id

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [3] * 160
        assert len(set(request_ids)) == 160
        assert len(fake.state.jobs) == 160
        assert time.monotonic() - started < 60


def test_sync_stream_cancel_from_another_thread_and_idle_timeout() -> None:
    with FakeScaiGrid() as fake, sync.ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        grid.core.invoke_core(core_id="quiet")
        stream = grid.core.stream_events("quiet", after_sequence=2)
        threading.Timer(0.3, stream.cancel).start()
        assert list(stream) == []  # ended cleanly by the other thread
    # A reply whose tokens come slower than idle_timeout= allows.
    with (
        FakeScaiGrid(token_interval=1.0) as slow,
        sync.ScaiGrid(slow.target, token=slow.token, tls=False) as grid,
    ):
        started = time.monotonic()
        with pytest.raises(errors.StreamIdleTimeoutError):
            for _ in grid.inference.stream_inference(
                model="scailabs/poolnoodle-omni",
                messages=[{"role": "user", "content": "hi"}],
                idle_timeout=0.2,
            ):
                pass
        assert time.monotonic() - started < 3


def test_sync_scaikey_provider_shares_one_fetch_between_threads(scaikey: ScaiKeyStub) -> None:
    stub = scaikey
    stub.delay = 0.2
    with FakeScaiGrid() as fake:
        stub.fake = fake
        provider = sync.ScaiKeyTokenProvider(stub.url, client_id="svc", client_secret=SECRET)
        with sync.InferenceClient(fake.target, token=provider, tls=False) as client:
            threads = [threading.Thread(target=client.list_models) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert len(stub.requests) == 1
            assert SECRET not in repr(provider)


def test_sync_heartbeats_in_the_background() -> None:
    with FakeScaiGrid() as fake, sync.ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        loop = grid.heartbeat.start_heartbeats(
            node_id="n1", capacity=lambda: {"gpu_count": 4}, interval=0.05
        )
        time.sleep(0.4)
        loop.stop()
        assert not loop.running
        assert loop.sent >= 3
        assert len(fake.state.heartbeats["n1"]) == loop.sent

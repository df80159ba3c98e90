"""1,000 resumable streams on one client through a SIGKILL restart of a
standalone fake on its state directory, then through repeated drops: every
stream sees every event once, in order, and the retry budget is untouched."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import time

import httpx
import pytest

from scaigrid_client import RetryEvent, RetryPolicy, ScaiGrid
from tests.support.standalone import Standalone, free_port

TOKEN = "sgst_restart_at_scale"
CORES = int(os.environ.get("SCALE_CORES", "100"))
TAILS_PER_CORE = 10  # 1,000 streams


async def _tail(grid: ScaiGrid, core_id: str, last: int, seen: list[int]) -> None:
    async for event in grid.core.stream_events(core_id):
        seen.append(event.sequence)
        if event.sequence >= last:
            return


async def _invoke_all(grid: ScaiGrid, cores: list[str]) -> None:
    await asyncio.gather(*(grid.core.invoke_core(core_id=c) for c in cores))


async def _until_seen(seen: dict[tuple[str, int], list[int]], count: int) -> None:
    for _ in range(600):
        if min(len(s) for s in seen.values()) >= count:
            return
        await asyncio.sleep(0.05)
    behind = {k: v for k, v in seen.items() if len(v) < count}
    raise AssertionError(f"{len(behind)} tails behind, e.g. {next(iter(behind.items()))}")


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_thousand_tails_through_sigkill_and_drops(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    control_port = free_port()
    gateway = Standalone(
        TOKEN, "--state-dir", str(tmp_path), "--control-port", str(control_port)
    ).start()
    control = f"http://127.0.0.1:{control_port}"
    resumes: list[RetryEvent] = []
    cores = [f"core-{i:03d}" for i in range(CORES)]
    try:
        async with ScaiGrid(
            gateway.target, token=TOKEN, tls=False, retry=RetryPolicy(on_retry=resumes.append)
        ) as grid:
            await _invoke_all(grid, cores)  # events 1, 2 (activated, invoked) on every core
            seen = {(c, i): [] for c in cores for i in range(TAILS_PER_CORE)}
            tails = [
                asyncio.ensure_future(_tail(grid, core, 7, sequences))
                for (core, _), sequences in seen.items()
            ]
            await _until_seen(seen, 2)
            await _invoke_all(grid, cores)  # 3
            await _until_seen(seen, 3)

            # SIGKILL mid-stream, and back on the same port and state.
            killed = time.monotonic()
            gateway.kill()
            await asyncio.to_thread(gateway.start)
            await _invoke_all(grid, cores)  # 4
            await _until_seen(seen, 4)
            recovered = time.monotonic() - killed

            # Two drops 0.5 s apart, the tails idle in between, then more events.
            async with httpx.AsyncClient(base_url=control) as http:
                for _ in range(2):
                    answer = await http.post("/drop_streams", json={"status": "UNAVAILABLE"})
                    assert answer.json()["dropped"] > 0
                    await asyncio.sleep(0.5)
            for _ in range(3):  # 5, 6, 7
                await _invoke_all(grid, cores)
            await asyncio.wait_for(asyncio.gather(*tails), 60)

            wrong = {k: v for k, v in seen.items() if v != list(range(1, 8))}
            assert not wrong, f"{len(wrong)} tails out of order, e.g. {next(iter(wrong.items()))}"
            budget = grid._transport._budget
            assert budget.tokens == budget.max_tokens, resumes[-5:]
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert not warnings
    finally:
        gateway.stop()
    resumed = [e for e in resumes if e.method == "CoreRuntimeService.StreamEvents"]
    assert (
        len(resumed) >= 2 * CORES * TAILS_PER_CORE
    )  # the kill, the first drop, most of the second
    print(f"\n1000 tails: back in order {recovered:.2f} s after SIGKILL; {len(resumed)} resumes")


@pytest.mark.asyncio
async def test_tails_through_a_graceful_restart(tmp_path: pathlib.Path) -> None:
    """SIGTERM: the fake drains (GOAWAY, then UNAVAILABLE service_draining)
    and comes back on its state directory."""
    gateway = Standalone(TOKEN, "--state-dir", str(tmp_path)).start()
    cores = [f"core-{i}" for i in range(10)]
    try:
        async with ScaiGrid(gateway.target, token=TOKEN, tls=False) as grid:
            await _invoke_all(grid, cores)  # 1, 2
            seen = {(c, i): [] for c in cores for i in range(10)}
            tails = [
                asyncio.ensure_future(_tail(grid, core, 4, sequences))
                for (core, _), sequences in seen.items()
            ]
            await _until_seen(seen, 2)
            await asyncio.to_thread(gateway.stop)
            await asyncio.to_thread(gateway.start)
            await _invoke_all(grid, cores)  # 3
            await _invoke_all(grid, cores)  # 4
            await asyncio.wait_for(asyncio.gather(*tails), 60)
            assert all(s == [1, 2, 3, 4] for s in seen.values())
    finally:
        gateway.stop()

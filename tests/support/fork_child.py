"""Fork a child after the parent has used a client, and report what the child
saw: one JSON line per case. tests/setup/test_loops_threads_fork.py runs it in its own
process (forking the test runner itself would be unsafe), against a
standalone fake at argv[1] with token argv[2].

Each child is bounded: the parent kills it after 15 s, so a hang is a
finding ("hung"), never a stuck suite.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable

from scaigrid_client import ScaiGrid, errors, sync

warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads

TARGET, TOKEN = sys.argv[1], sys.argv[2]


async def models(grid: ScaiGrid) -> int:
    return len(await grid.inference.list_models())


def in_child(case: str, work: Callable[[], object]) -> dict[str, object]:
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = 0 if work() == 3 else 4
        except errors.ForkError:
            code = 10
        except BaseException:
            code = 5
        os._exit(code)
    while time.monotonic() - started < 15:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            outcome = {0: "works", 10: "ForkError"}.get(os.waitstatus_to_exitcode(status), "failed")
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        outcome = "hung"
    return {"case": case, "outcome": outcome, "seconds": round(time.monotonic() - started, 2)}


def fresh_async() -> int:
    return asyncio.run(models(ScaiGrid(TARGET, token=TOKEN, tls=False)))


def fresh_sync() -> int:
    with sync.ScaiGrid(TARGET, token=TOKEN, tls=False) as grid:
        return len(grid.inference.list_models())


def pool_worker(_: int) -> str:
    try:
        return "works" if fresh_sync() == 3 else "failed"
    except errors.ForkError:
        return "ForkError"


def main() -> None:
    results = []
    grid = ScaiGrid(TARGET, token=TOKEN, tls=False)
    assert asyncio.run(models(grid)) == 3
    results.append(in_child("async: inherited", lambda: asyncio.run(models(grid))))
    results.append(in_child("async: new", fresh_async))
    blocking = sync.ScaiGrid(TARGET, token=TOKEN, tls=False)
    assert len(blocking.inference.list_models()) == 3
    results.append(in_child("sync: inherited", lambda: len(blocking.inference.list_models())))
    results.append(in_child("sync: new", fresh_sync))
    # multiprocessing with fork, as a pool of workers: each refuses at once.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        outcome = pool.map_async(pool_worker, range(2)).get(timeout=30)
    results.append({"case": "multiprocessing fork pool", "outcome": ",".join(sorted(set(outcome)))})
    # Closed before forking: the child works.
    asyncio.run(grid.close())
    blocking.close()
    results.append(in_child("async: parent closed first", fresh_async))
    results.append(in_child("sync: parent closed first", fresh_sync))
    # spawn never inherits anything.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        results.append({"case": "multiprocessing spawn", "outcome": pool.apply(pool_worker, (0,))})
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Worker processes: each makes its own client, after it starts.

    python examples/workers.py

gRPC channels do not survive fork(), so a client is never handed from a
parent to its children: each worker of the pool creates one in its
initializer (as a Celery `worker_process_init` handler or a gunicorn
`post_fork` hook would) and uses it for every task it runs. Against the
fake, the parent serves it and the workers connect to it.
"""

from __future__ import annotations

import multiprocessing
import os

from scaigrid_client.sync import ScaiGrid

_grid: ScaiGrid | None = None


def start_worker(target: str, token: str, plaintext: bool) -> None:
    """Runs once in each worker process, before its first task."""
    global _grid
    _grid = ScaiGrid(target, token=token, tls=not plaintext)


def embed(text: str) -> tuple[int, str, int]:
    """A task: runs in a worker, on that worker's client."""
    assert _grid is not None
    (vector,) = _grid.inference.embed(model="scailabs/embed-small", inputs=[text])
    return os.getpid(), text, len(vector)


def run(target: str, token: str, plaintext: bool) -> None:
    # spawn: a fresh interpreter per worker, the start method that is safe
    # with any grpcio (this process has gRPC open: the fake, at least).
    context = multiprocessing.get_context("spawn")
    texts = ["first", "second", "third", "fourth"]
    with context.Pool(2, initializer=start_worker, initargs=(target, token, plaintext)) as pool:
        results = pool.map(embed, texts)
    for pid, text, size in results:
        print(f"worker {pid}: {text!r} -> {size} dimensions")
    print(f"{len(results)} tasks on {len({pid for pid, _, _ in results})} worker(s)")


if __name__ == "__main__":
    if os.environ.get("SCAIGRID_TARGET"):
        run(
            os.environ["SCAIGRID_TARGET"],
            os.environ["SCAIGRID_SERVICE_TOKEN"],
            os.environ.get("SCAIGRID_PLAINTEXT") == "1",
        )
    else:
        from scaigrid_client.testing import FakeScaiGrid

        with FakeScaiGrid() as fake:  # on its own thread, in this process
            print(f"(running against the bundled fake ScaiGrid at {fake.target})")
            run(fake.target, fake.token, plaintext=True)

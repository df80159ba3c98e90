"""Quickstart, blocking flavour: the same as quickstart.py with
`scaigrid_client.sync`, for scripts, web views, task queues and notebooks.

Runs against the bundled fake ScaiGrid by default. Set SCAIGRID_TARGET and
SCAIGRID_SERVICE_TOKEN (and SCAIGRID_PLAINTEXT=1 for a plaintext gateway) to
run it against a real one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from scaigrid_client.sync import ScaiGrid

MODEL = "scailabs/poolnoodle-omni"


def chat(grid: ScaiGrid) -> None:
    models = grid.inference.list_models()
    print("models:", ", ".join(m.id for m in models))
    print(f"\n{MODEL}> ", end="", flush=True)
    with grid.inference.stream_inference(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hello to a new user of the sync SDK."}],
        max_tokens=40,
    ) as stream:
        for chunk in stream:
            print(chunk.delta.content, end="", flush=True)
            time.sleep(0.03)  # reading speed: the fake streams as fast as it can
    print(f"\n\n(request id {stream.request_id})")


def main() -> None:
    if os.environ.get("SCAIGRID_TARGET"):
        plaintext = os.environ.get("SCAIGRID_PLAINTEXT") == "1"
        with ScaiGrid(tls=not plaintext) as grid:
            chat(grid)
        return
    from scaigrid_client.testing import FakeScaiGrid

    with FakeScaiGrid() as fake:  # the fake on its own thread; this code blocks
        print(f"(running against the bundled fake ScaiGrid at {fake.target})")
        with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
            chat(grid)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
    sys.exit(0)

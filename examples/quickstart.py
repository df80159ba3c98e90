"""Quickstart: list the models and stream a chat reply to the terminal.

Runs against the bundled fake ScaiGrid by default. Set SCAIGRID_TARGET and
SCAIGRID_SERVICE_TOKEN (and SCAIGRID_PLAINTEXT=1 for a plaintext gateway) to
run it against a real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from scaigrid_client import ScaiGrid

MODEL = "scailabs/poolnoodle-omni"


async def chat(grid: ScaiGrid) -> None:
    models = await grid.inference.list_models()
    print("models:", ", ".join(m.id for m in models))
    print(f"\n{MODEL}> ", end="", flush=True)
    stream = grid.inference.stream_inference(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are ScaiGrid's friendly gateway."},
            {"role": "user", "content": "Say hello to a new user of the Python SDK."},
        ],
        max_tokens=40,
    )
    async for chunk in stream:
        print(chunk.delta.content, end="", flush=True)
        # The fake streams as fast as the transport allows; slow it to
        # reading speed so the streaming is visible.
        await asyncio.sleep(0.03)
    print(f"\n\n(request id {stream.request_id})")


async def main() -> None:
    if os.environ.get("SCAIGRID_TARGET"):
        plaintext = os.environ.get("SCAIGRID_PLAINTEXT") == "1"
        async with ScaiGrid(tls=not plaintext) as grid:
            await chat(grid)
        return
    from scaigrid_client.testing import FakeScaiGrid

    async with FakeScaiGrid() as fake:
        print(f"(running against the bundled fake ScaiGrid at {fake.target})")
        async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
            await chat(grid)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    sys.exit(0)

"""Deadlines, cancellation, per-client defaults and a call's details.

    python examples/deadlines.py

Against the fake, the gateway is made slow on purpose so that a deadline
runs out; against a real one (SCAIGRID_TARGET) that part may just succeed.
"""

from __future__ import annotations

import asyncio

from _common import connect

from scaigrid_client import errors, raw_response

MODEL = "scailabs/poolnoodle-omni"
HELLO = [{"role": "user", "content": "Hello"}]


async def main() -> None:
    async with connect() as (grid, fake):
        # 1. A deadline: timeout= covers the whole call, retries included.
        if fake is not None:
            fake.delay("InferenceService.ListModels", seconds=2.0)
        try:
            await grid.inference.list_models(timeout=0.5)
        except errors.DeadlineExceededError as exc:
            print("deadline:", exc.message)
            print("  request id:", exc.request_id)

        # 2. A client with other defaults, on the same channel: a longer
        #    deadline and a header on every call.
        tenant = grid.inference.with_options(timeout=60, metadata=[("x-tenant", "acme")])
        reply = await tenant.infer(model=MODEL, messages=HELLO, max_tokens=5)
        print("with_options:", repr(reply.content), "request id", reply.request_id)

        # 3. Any unary call's request id, attempts and response headers.
        raw = await raw_response(grid.inference.list_models, request_id="my-trace-42")
        print(f"raw_response: {len(raw.result)} models, {raw.request_id}, {raw.attempts} attempt")

        # 4. Cancel a stream from another task: the reader's loop just ends.
        stream = grid.inference.stream_inference(model=MODEL, messages=HELLO, max_tokens=500)
        asyncio.get_running_loop().call_later(0.2, stream.cancel)
        received = 0
        async for _chunk in stream:
            received += 1
            await asyncio.sleep(0.01)  # a slow reader
        print(f"cancelled after {received} of up to 500 chunks")

        if fake is not None:
            sent = fake.calls("InferenceService.Infer")[-1].metadata
            print("the gateway saw x-tenant:", sent.get("x-tenant"))


if __name__ == "__main__":
    asyncio.run(main())

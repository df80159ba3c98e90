"""An async web endpoint that streams a chat reply as Server-Sent Events (Starlette).

    pip install scaigrid-client starlette
    python examples/sse_endpoint.py          # one request, through httpx's ASGI transport
    uvicorn sse_endpoint:app                 # or serve it (from examples/), with any ASGI server

The app opens one ScaiGrid for its lifetime (SCAIGRID_TARGET and
SCAIGRID_SERVICE_TOKEN; SCAIGRID_PLAINTEXT=1 for a plaintext gateway) and
shares it between requests. Run as a script without SCAIGRID_TARGET, it
starts the bundled fake first and points the app at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from scaigrid_client import ScaiGrid, errors

MODEL = "scailabs/poolnoodle-omni"


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    plaintext = os.environ.get("SCAIGRID_PLAINTEXT") == "1"
    async with ScaiGrid(tls=not plaintext) as grid:  # one channel for every request
        app.state.grid = grid
        yield


async def chat(request: Request) -> StreamingResponse:
    grid: ScaiGrid = request.app.state.grid
    stream = grid.inference.stream_inference(
        model=MODEL,
        messages=[{"role": "user", "content": request.query_params.get("prompt", "Hello")}],
        max_tokens=12,
        timeout=120,  # streams get no default deadline
    )

    async def events() -> AsyncIterator[str]:
        # Leaving this block (the reply is done, or the browser went away and
        # Starlette stopped iterating) cancels the gRPC call.
        async with stream:
            try:
                async for chunk in stream:
                    if chunk.delta.content:
                        yield f"data: {json.dumps(chunk.delta.content)}\n\n"
            except errors.ScaiGridError as exc:
                # The response has started: report the failure as an event.
                failure = {"error": type(exc).__name__, "request_id": exc.request_id}
                yield f"event: error\ndata: {json.dumps(failure)}\n\n"
                return
        yield "event: done\ndata: {}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"x-request-id": stream.request_id}
    )


app = Starlette(routes=[Route("/chat", chat)], lifespan=lifespan)


async def demo() -> None:
    import httpx

    async with lifespan(app):  # what the ASGI server does at startup: the app connects
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            response = await http.get("/chat", params={"prompt": "Hello from the web"})
    print(response.status_code, response.headers["content-type"])
    print("x-request-id:", response.headers["x-request-id"])
    for line in response.text.splitlines():
        if line:
            print(line)


async def main() -> None:
    if os.environ.get("SCAIGRID_TARGET"):
        await demo()
        return
    from scaigrid_client.testing import FakeScaiGrid

    async with FakeScaiGrid() as fake:
        print(f"(running against the bundled fake ScaiGrid at {fake.target})")
        os.environ |= {
            "SCAIGRID_TARGET": fake.target,
            "SCAIGRID_SERVICE_TOKEN": fake.token,
            "SCAIGRID_PLAINTEXT": "1",
        }
        await demo()


if __name__ == "__main__":
    asyncio.run(main())

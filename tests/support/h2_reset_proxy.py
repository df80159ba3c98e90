"""A TCP proxy for plaintext HTTP/2 that resets streams the way a proxy or
load balancer does: with a real RST_STREAM frame, sent to both sides.

It reads the gateway's frames (9-byte header: length, type, flags, stream
id) and forwards them unchanged until a stream has carried the armed number
of DATA frames; then it sends RST_STREAM with the armed error code to the
client and to the gateway, and drops that stream's later DATA frames. Other
frames pass, HEADERS included, so the client's HPACK state stays in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter, deque
from dataclasses import dataclass

DATA, HEADERS, RST_STREAM = 0x0, 0x1, 0x3
# HTTP/2 error codes (RFC 9113, section 7).
INTERNAL_ERROR, REFUSED_STREAM, CANCEL = 0x2, 0x7, 0x8


def rst_stream(stream_id: int, error_code: int) -> bytes:
    return (
        struct.pack(">I", 4)[1:]
        + bytes([RST_STREAM, 0])
        + struct.pack(">II", stream_id, error_code)
    )


@dataclass
class _Reset:
    after_data_frames: int
    error_code: int


class ResetProxy:
    """``async with ResetProxy(upstream_port) as proxy``; connect to
    ``proxy.target``; ``proxy.reset(after_data_frames=3, error_code=CANCEL)``
    arms one reset of the next stream that carries that many DATA frames."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed: deque[_Reset] = deque()
        self.resets_sent = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def target(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def reset(self, *, after_data_frames: int, error_code: int) -> None:
        self.armed.append(_Reset(after_data_frames, error_code))

    async def __aenter__(self) -> ResetProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        up = asyncio.ensure_future(self._pipe(client_r, server_w))
        down = asyncio.ensure_future(self._frames(server_r, client_w, server_w))
        self._tasks.update((up, down))
        try:
            await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
                self._tasks.discard(task)
            for writer in (client_w, server_w):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _frames(
        self,
        server_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_w: asyncio.StreamWriter,
    ) -> None:
        data_frames: Counter[int] = Counter()
        reset_streams: set[int] = set()
        while True:
            header = await server_r.readexactly(9)
            length = int.from_bytes(header[:3], "big")
            kind = header[3]
            stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            payload = await server_r.readexactly(length)
            if kind == DATA and stream_id in reset_streams:
                continue  # the client was told this stream is gone
            client_w.write(header + payload)
            if kind == DATA and stream_id:
                data_frames[stream_id] += 1
                armed = self.armed[0] if self.armed else None
                if armed is not None and data_frames[stream_id] >= armed.after_data_frames:
                    self.armed.popleft()
                    reset_streams.add(stream_id)
                    frame = rst_stream(stream_id, armed.error_code)
                    client_w.write(frame)
                    server_w.write(frame)
                    self.resets_sent += 1
            await client_w.drain()

"""A real HTTP CONNECT proxy, in asyncio, for tests of ``proxy=``.

``async with ConnectProxy() as proxy``: point a client at ``proxy.url``. It
accepts ``CONNECT host:port HTTP/1.1``, answers ``200`` and then copies bytes
both ways. ``credentials=("user", "pass")`` makes it require that
``Proxy-Authorization: Basic`` (else ``407``); ``refuse=403`` (or 407, 502...)
refuses every tunnel with that status; ``hosts={"gateway.test": "127.0.0.1"}``
is its own name resolution (so a client may name a host that only the proxy
can reach). ``tunnels`` counts the tunnels it opened, ``requests`` keeps each
CONNECT's target and headers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field

_REASONS = {
    200: "Connection established",
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    502: "Bad Gateway",
}


@dataclass
class ConnectRequest:
    """One CONNECT the proxy received."""

    target: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0


class ConnectProxy:
    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        refuse: int | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        self.credentials = credentials
        self.hosts = hosts or {}
        self.refuse = refuse
        self.tunnels = 0
        self.requests: list[ConnectRequest] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """``http://[user:pass@]127.0.0.1:port``."""
        auth = ""
        if self.credentials is not None:
            auth = f"{self.credentials[0]}:{self.credentials[1]}@"
        return f"http://{auth}127.0.0.1:{self.port}"

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._tunnel(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        line, *header_lines = head.split("\r\n")
        method, target, _ = [*line.split(" "), "", ""][:3]
        headers = {}
        for header in header_lines:
            if ":" in header:
                key, value = header.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        request = ConnectRequest(target, headers)
        self.requests.append(request)
        status = self._status(method, headers)
        request.status = status
        if status != 200:
            writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, 'Refused')}\r\n".encode())
            if status == 407:
                writer.write(b'Proxy-Authenticate: Basic realm="test"\r\n')
            writer.write(b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        host, _, port = target.rpartition(":")
        host = self.hosts.get(host, host.strip("[]"))
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        self.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            upstream_writer.close()

    def _status(self, method: str, headers: dict[str, str]) -> int:
        if method != "CONNECT":
            return 400
        if self.refuse is not None:
            return self.refuse
        if self.credentials is not None:
            expected = base64.b64encode(":".join(self.credentials).encode()).decode()
            if headers.get("proxy-authorization") != f"Basic {expected}":
                return 407
        return 200


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()

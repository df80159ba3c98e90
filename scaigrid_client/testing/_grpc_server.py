"""The grpc.aio server under the fake: its options, the health and
reflection services, and binding the listening address."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import grpc

from scaigrid_client.testing._address import (
    ListenAddress,
    bind_error,
    check_before_bind,
)
from scaigrid_client.testing._services import service_names

__all__ = ["replace_server", "start_server"]


async def _build(
    handlers: Iterable[grpc.GenericRpcHandler], *, min_ping_interval: float
) -> grpc.aio.Server:
    """A server with ``handlers``, health and reflection; not listening yet."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", -1),
            # SO_REUSEPORT, so that a restart binds the new server before the
            # old one closes: the port is never closed. A port in use is still
            # refused: check_before_bind probes it with a plain socket first,
            # and the kernel never shares a port picked for port 0.
            ("grpc.so_reuseport", 1),
            # Accept client keepalive pings every 10 s, as the gateway does.
            ("grpc.http2.min_ping_interval_without_data_ms", round(min_ping_interval * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            # grpc-core cancels calls that wait for a handler beyond 1000
            # (soft) and 3000 (hard); a suite's burst must not hit that.
            ("grpc.server.max_pending_requests", 50_000),
            ("grpc.server.max_pending_requests_hard_limit", 100_000),
        ]
    )
    try:
        server.add_generic_rpc_handlers(tuple(handlers))
        await _add_health_and_reflection(server)
    except BaseException:
        await server.stop(None)
        raise
    return server


async def start_server(
    handlers: Iterable[grpc.GenericRpcHandler],
    address: ListenAddress,
    credentials: Callable[[], grpc.ServerCredentials] | None,
    *,
    min_ping_interval: float,
) -> tuple[grpc.aio.Server, int]:
    """Serve ``handlers`` on ``address`` (TLS when ``credentials`` is given,
    called only once the address is known to be free); return the server and
    its TCP port (0 for a unix socket). On failure nothing is left serving."""
    server = await _build(handlers, min_ping_interval=min_ping_interval)
    try:
        port = _listen(server, address, credentials)
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    return server, port


async def replace_server(
    old: grpc.aio.Server,
    handlers: Iterable[grpc.GenericRpcHandler],
    address: ListenAddress,
    credentials: Callable[[], grpc.ServerCredentials] | None,
    *,
    min_ping_interval: float,
    switch: Callable[[], None],
) -> grpc.aio.Server:
    """Stop ``old`` and serve ``handlers`` on its ``address`` (a TCP port
    given, not 0) instead, as a restarted gateway does; return the new server.

    On TCP the new server listens first (SO_REUSEPORT), then ``old`` sends
    GOAWAY, closes its listener, and ``switch()`` is called (it ends the old
    streams): clients reconnect to the new server, and none finds the port
    closed. A unix socket's file is removed by the old server as it stops,
    so there the new one listens once the old has stopped. The old server's
    connections are closed when this returns; on failure nothing is left
    serving.
    """
    new = await _build(handlers, min_ping_interval=min_ping_interval)
    try:
        if address.unix:
            switch()
            await old.stop(0.5)
            _listen(new, address, credentials)
        else:
            _listen(new, address, credentials, check=False)
        await new.start()
    except BaseException:
        await new.stop(None)
        if not address.unix:
            switch()
            await old.stop(0.5)
        raise
    if not address.unix:
        stopping = asyncio.ensure_future(old.stop(0.5))
        await asyncio.sleep(0.005)  # GOAWAY first: streams reopen on new connections
        switch()
        await stopping
    return new


def _listen(
    server: grpc.aio.Server,
    address: ListenAddress,
    credentials: Callable[[], grpc.ServerCredentials] | None,
    *,
    check: bool = True,
) -> int:
    """Add the listening port; return the TCP port (0 for a unix socket).
    ``check=False`` skips the probe (a restart binds beside the old server)."""
    if check:
        check_before_bind(address)
    try:
        if credentials is not None:
            port = server.add_secure_port(address.bind, credentials())
        else:
            port = server.add_insecure_port(address.bind)
    except RuntimeError:  # grpc's "Failed to bind to address ..."
        port = 0
    if port == 0:
        raise bind_error(address) from None
    return 0 if address.unix else port


async def _add_health_and_reflection(server: grpc.aio.Server) -> None:
    try:
        # Imported here: they come with the testing extra, which a plain
        # install of the SDK does not have.
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        from grpc_reflection.v1alpha import reflection
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "FakeScaiGrid needs grpcio-health-checking and grpcio-reflection: "
            "pip install 'scaigrid-client[testing]'"
        ) from None
    names = service_names()
    health_servicer = health.aio.HealthServicer()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

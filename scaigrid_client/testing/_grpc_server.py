"""The grpc.aio server under the fake: its options, the health and
reflection services, and binding the listening address."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc

from scaigrid_client.testing._address import ListenAddress, bind_error, check_before_bind
from scaigrid_client.testing._services import service_names

__all__ = ["start_server"]


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
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
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
        port = _listen(server, address, credentials)
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    return server, port


def _listen(
    server: grpc.aio.Server,
    address: ListenAddress,
    credentials: Callable[[], grpc.ServerCredentials] | None,
) -> int:
    """Add the listening port; return the TCP port (0 for a unix socket)."""
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

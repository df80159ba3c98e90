"""Targets and channels."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from typing import Any

import grpc

from scaigrid_client._config import Keepalive, TLSConfig
from scaigrid_client._version import __version__

__all__ = [
    "DEFAULT_PORT",
    "build_channel",
    "build_sync_channel",
    "channel_arguments",
    "is_loopback",
    "parse_target",
]

logger = logging.getLogger("scaigrid_client")

DEFAULT_PORT = 50051
_URI_SCHEMES = ("dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:")
_HOST = re.compile(r"^[A-Za-z0-9._-]+$")

# Large outputs arrive as chunks; single large messages are allowed too.
SIZE_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", 64 << 20),
)
# After a gateway restart, reconnect within a few seconds rather than
# grpc-core's default backoff of up to 120 s.
RECONNECT_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 5_000),
)
# Several addresses are balanced by gRPC's round_robin; retries are ours, so
# grpc-core's own are off.
SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def parse_target(target: str | None) -> str:
    """Normalize a target: "host", "host:port", "[v6]:port" or a gRPC URI.

    No port means 50051; None reads SCAIGRID_TARGET.
    """
    if target is None:
        target = os.environ.get("SCAIGRID_TARGET") or None
        if target is None:
            raise ValueError("target: no gateway address; pass target= or set SCAIGRID_TARGET")
    if not isinstance(target, str):
        raise TypeError(
            f"target: expected a str such as 'gateway:50051', got {type(target).__name__}"
        )
    target = target.strip()
    if not target or any(c.isspace() or not c.isprintable() for c in target):
        raise ValueError(
            f"target: {target!r} is not an address; use 'host', 'host:port' or a gRPC URI"
        )
    if target.startswith(_URI_SCHEMES):
        return target
    import ipaddress  # here, not at import: most targets are "host:port"

    if "://" in target:
        raise ValueError(
            f"target: {target!r} has an unsupported scheme; use 'host:port' or a gRPC URI "
            "(dns:///, unix:, ipv4:, ipv6:)"
        )
    host, port = target, None
    if target.startswith("["):
        end = target.find("]")
        if end < 0:
            raise ValueError(f"target: {target!r} has an unclosed '['; use '[::1]:50051'")
        host, rest = target[1:end], target[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"target: {target!r}: expected ':port' after ']'")
        port = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"target: {host!r} in brackets is not an IPv6 address") from None
        host = f"[{host}]"
    elif target.count(":") == 1:
        host, port = target.split(":")
    elif target.count(":") > 1:
        try:
            ipaddress.IPv6Address(target)
        except ValueError:
            raise ValueError(f"target: {target!r} is not 'host:port'") from None
        return f"[{target}]:{DEFAULT_PORT}"
    if not host.startswith("[") and not _HOST.match(host):
        raise ValueError(f"target: host {host!r} is not a valid host name or address")
    if port is None or port == "":
        if port == "":
            raise ValueError(f"target: {target!r} has an empty port")
        return f"{host}:{DEFAULT_PORT}"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"target: port {port!r} must be a number from 1 to 65535")
    return f"{host}:{int(port)}"


def is_loopback(target: str) -> bool:
    import ipaddress

    host = target
    if host.startswith(("unix:", "unix-abstract:")):
        return True
    if host.startswith("dns:"):
        # dns:host:port, dns:///host:port or dns://authority/host:port
        host = host[len("dns:") :]
        if host.startswith("//"):
            host = host[2:].partition("/")[2]
    elif host.startswith(("ipv4:", "ipv6:")):
        host = host[len("ipv4:") :]
    hosts = [h.rsplit(":", 1)[0].strip("[]") for h in host.split(",")]
    for h in hosts:
        if h == "localhost":
            continue
        try:
            if not ipaddress.ip_address(h).is_loopback:
                return False
        except ValueError:
            return False
    return True


def channel_credentials(
    tls: bool | TLSConfig,
) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]]:
    if isinstance(tls, TLSConfig):
        creds = grpc.ssl_channel_credentials(
            root_certificates=tls.ca_cert,
            private_key=tls.client_key,
            certificate_chain=tls.client_cert,
        )
        options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
        return creds, options
    return grpc.ssl_channel_credentials(), []


def channel_arguments(
    tls: bool | TLSConfig, options: Sequence[tuple[str, Any]], keepalive: Keepalive | None
) -> tuple[grpc.ChannelCredentials | None, list[tuple[str, Any]]]:
    """The credentials (None: plaintext) and options of a channel the SDK
    builds; the same for both flavours."""
    merged = dict(SIZE_OPTIONS + RECONNECT_OPTIONS)
    if keepalive is not None:
        merged.update(keepalive.channel_options())
    merged["grpc.service_config"] = SERVICE_CONFIG
    merged["grpc.enable_retries"] = 0
    merged["grpc.primary_user_agent"] = f"scaigrid-client/{__version__}"
    creds = None
    if tls is not False:
        creds, extra = channel_credentials(tls)
        merged.update(extra)
    merged.update(options)
    return creds, list(merged.items())


def build_channel(
    target: str,
    tls: bool | TLSConfig,
    options: Sequence[tuple[str, Any]],
    interceptors: Sequence[grpc.aio.ClientInterceptor] | None,
    compression: grpc.Compression | None,
    keepalive: Keepalive | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel; call only with a running event loop (it is that loop's)."""
    creds, arguments = channel_arguments(tls, options, keepalive)
    if creds is None:
        return grpc.aio.insecure_channel(
            target, options=arguments, compression=compression, interceptors=interceptors
        )
    return grpc.aio.secure_channel(
        target, creds, options=arguments, compression=compression, interceptors=interceptors
    )


def build_sync_channel(
    target: str,
    tls: bool | TLSConfig,
    options: Sequence[tuple[str, Any]],
    interceptors: Sequence[Any] | None,
    compression: grpc.Compression | None,
    keepalive: Keepalive | None = None,
) -> grpc.Channel:
    """A channel of grpc's synchronous stack, usable from any thread."""
    creds, arguments = channel_arguments(tls, options, keepalive)
    if creds is None:
        channel = grpc.insecure_channel(target, options=arguments, compression=compression)
    else:
        channel = grpc.secure_channel(target, creds, options=arguments, compression=compression)
    return grpc.intercept_channel(channel, *interceptors) if interceptors else channel

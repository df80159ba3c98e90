"""Targets and channels."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from typing import Any, Literal

import grpc

from scaigrid_client._config import Keepalive, TLSConfig
from scaigrid_client._version import __version__
from scaigrid_client._xds import is_xds, parse_xds_target, xds_credentials

__all__ = [
    "DEFAULT_PORT",
    "build_channel",
    "build_sync_channel",
    "channel_arguments",
    "is_loopback",
    "parse_proxy",
    "parse_target",
    "redact_proxy",
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
    """Normalize a target: "host", "host:port", "[v6]:port", a gRPC URI or
    an xDS target ("xds:///name", see `_xds`).

    No port means 50051 (not for xds:); None reads SCAIGRID_TARGET.
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
    if is_xds(target):
        return parse_xds_target(target)
    import ipaddress  # here, not at import: most targets are "host:port"

    if "://" in target:
        raise ValueError(
            f"target: {target!r} has an unsupported scheme; use 'host:port' or a gRPC URI "
            "(dns:///, unix:, ipv4:, ipv6:, xds:///)"
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


Proxy = str | Literal[False] | None
"""What ``proxy=`` takes: ``"http://[user:password@]host:port"``; None: the
environment's (grpc_proxy, https_proxy, http_proxy; no_proxy); False: none."""


def redact_proxy(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and repr()."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<proxy>" if "@" in url else url
    userinfo, at, hostport = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostport}" if ":" in userinfo else url


def parse_proxy(proxy: object) -> Proxy:
    """Check ``proxy=`` before anything is sent; returns the URL for grpc's
    ``grpc.http_proxy`` (or None, or False). A ValueError names ``proxy``
    and never shows the password."""
    if proxy is None or proxy is False:
        return proxy
    if not isinstance(proxy, str):
        raise TypeError(
            "proxy: expected a URL such as 'http://proxy.example.com:3128', None (the "
            f"environment's) or False (none), got {type(proxy).__name__}"
        )
    from urllib.parse import urlsplit

    shown = redact_proxy(proxy)
    text = proxy.strip()
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError(f"proxy: {shown!r} is not a URL; use 'http://host:port'")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"proxy: {shown!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() != "http":
        # grpc supports only HTTP CONNECT proxies, and silently connects
        # directly when given another scheme.
        raise ValueError(
            f"proxy: {shown!r}: only 'http://' proxies (HTTP CONNECT) are supported; the "
            "tunnel still carries TLS from end to end"
        )
    if not parts.hostname:
        raise ValueError(f"proxy: {shown!r} has no host; use 'http://host:port'")
    if port is None:
        raise ValueError(f"proxy: {shown!r} has no port; use 'http://host:port', such as :3128")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"proxy: {shown!r}: a proxy URL has no path or query; use 'http://host:port'"
        )
    if parts.username is not None and not parts.username:
        raise ValueError(f"proxy: {shown!r} has an empty user name")
    return f"http://{parts.netloc}"


def _proxy_options(proxy: Proxy, target: str) -> dict[str, Any]:
    if is_xds(target):
        # grpc would hand the whole target to the proxy and never ask the
        # mesh's control plane (an explicit proxy= is refused at construction).
        return {"grpc.enable_http_proxy": 0}
    if isinstance(proxy, str):
        return {"grpc.http_proxy": proxy}
    # A proxy from the environment cannot reach this machine's loopback (its
    # 127.0.0.1 is its own): only an explicit proxy= is used for loopback.
    if proxy is False or is_loopback(target):
        return {"grpc.enable_http_proxy": 0}
    return {}


def tcp_addresses(target: str) -> str | None:
    """The ``host:port`` list of a normalized TCP target, without its
    scheme (dns:host:port, dns:///host:port, dns://authority/host:port,
    ipv4:a:p,b:p, ipv6:...); None for unix, abstract and vsock sockets,
    and for xds: targets (the mesh knows the addresses, the SDK does not)."""
    if target.startswith(("unix:", "unix-abstract:", "vsock:", "xds:")):
        return None
    if target.startswith("dns:"):
        target = target[len("dns:") :]
        if target.startswith("//"):
            target = target[2:].partition("/")[2]  # drop the DNS authority
    elif target.startswith(("ipv4:", "ipv6:")):
        target = target[len("ipv4:") :]
    return target


def is_loopback(target: str) -> bool:
    import ipaddress

    addresses = tcp_addresses(target)
    if addresses is None:
        # unix sockets are local; vsock is a VM; xds: is wherever the mesh says
        return not target.startswith(("vsock:", "xds:"))
    hosts = [h.rsplit(":", 1)[0].strip("[]") for h in addresses.split(",")]
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
    tls: bool | TLSConfig,
    options: Sequence[tuple[str, Any]],
    keepalive: Keepalive | None,
    proxy: Proxy = None,
    target: str = "",
) -> tuple[grpc.ChannelCredentials | None, list[tuple[str, Any]]]:
    """The credentials (None: plaintext) and options of a channel the SDK
    builds; the same for both flavours."""
    merged = dict(SIZE_OPTIONS + RECONNECT_OPTIONS)
    merged.update(_proxy_options(proxy, target))
    if keepalive is not None:
        merged.update(keepalive.channel_options())
    mesh = is_xds(target)
    if not mesh:
        # An xds: target's balancing is the mesh's (its clusters' lb_policy).
        merged["grpc.service_config"] = SERVICE_CONFIG
    # (with xds: too: the SDK's retries, not the mesh's route retry_policy)
    merged["grpc.enable_retries"] = 0
    merged["grpc.primary_user_agent"] = f"scaigrid-client/{__version__}"
    creds = None
    if tls is not False:
        creds, extra = channel_credentials(tls)
        merged.update(extra)
    if mesh:
        creds = xds_credentials(creds)
    merged.update(options)
    return creds, list(merged.items())


def build_channel(
    target: str,
    tls: bool | TLSConfig,
    options: Sequence[tuple[str, Any]],
    interceptors: Sequence[grpc.aio.ClientInterceptor] | None,
    compression: grpc.Compression | None,
    keepalive: Keepalive | None = None,
    proxy: Proxy = None,
) -> grpc.aio.Channel:
    """An asyncio channel; call only with a running event loop (it is that loop's)."""
    creds, arguments = channel_arguments(tls, options, keepalive, proxy, target)
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
    proxy: Proxy = None,
) -> grpc.Channel:
    """A channel of grpc's synchronous stack, usable from any thread."""
    creds, arguments = channel_arguments(tls, options, keepalive, proxy, target)
    if creds is None:
        channel = grpc.insecure_channel(target, options=arguments, compression=compression)
    else:
        channel = grpc.secure_channel(target, creds, options=arguments, compression=compression)
    return grpc.intercept_channel(channel, *interceptors) if interceptors else channel

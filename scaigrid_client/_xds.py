"""Service-mesh (xDS) targets: ``xds:///name`` and ``xds://authority/name``.

The SDK hands such a target to grpc's own xDS resolver and balancer: the
mesh's control plane (read from grpc's bootstrap, ``GRPC_XDS_BOOTSTRAP`` or
``GRPC_XDS_BOOTSTRAP_CONFIG``) says which endpoints serve ``name`` and how
calls are balanced over them. What the SDK does on such a channel is what it
does on any other: request ids, deadlines, its own retries with their budget,
resumable streams. What it leaves out is what would fight the mesh: no
round_robin default service config, no HTTP proxy (grpc would send the whole
target to the proxy and never ask the control plane), no default port, no
TLS probe of an address it does not know. Credentials are grpc's xDS
credentials: the mesh's security config when it sends one (mTLS from its
certificate providers), else the client's ``tls=`` as the fallback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import grpc

__all__ = ["check_xds_settings", "is_xds", "parse_xds_target", "xds_credentials"]

_FORMS = "use 'xds:///name' (or 'xds://authority/name' for an authority in the bootstrap)"


def is_xds(target: str) -> bool:
    return target.startswith("xds:")


def parse_xds_target(target: str) -> str:
    """``target`` unchanged if it is ``xds:///name`` or ``xds://authority/name``."""
    rest = target[len("xds:") :]
    if not rest.startswith("//"):
        raise ValueError(f"target: {target!r} is not a valid xDS target; {_FORMS}")
    authority, slash, name = rest[2:].partition("/")
    if not slash or not name.strip("/"):
        raise ValueError(f"target: {target!r} names no service; {_FORMS}")
    if "@" in authority or "?" in target or "#" in target:
        raise ValueError(
            f"target: {target!r}: an xDS target has no user, query or fragment; {_FORMS}"
        )
    # No default port: the name is the mesh's listener name, often "svc.ns:port".
    return target


def check_xds_settings(target: str, proxy: object) -> None:
    """Before anything is sent: grpc's xDS client has a bootstrap, and no
    proxy is asked for (see the module)."""
    if isinstance(proxy, str):
        raise ValueError(
            f"proxy: {target!r} is an xDS target, whose endpoints come from the mesh's "
            "control plane; grpc would send it whole to an HTTP proxy and never ask the "
            "mesh: drop proxy= (proxies from the environment are ignored for xds: targets)"
        )
    path = os.environ.get("GRPC_XDS_BOOTSTRAP")
    if path:
        if not os.path.isfile(path):
            raise ValueError(
                f"target: {target!r} is an xDS target, and GRPC_XDS_BOOTSTRAP names "
                f"{path!r}, which is not a file; point it at the mesh's bootstrap JSON"
            )
        return
    config = os.environ.get("GRPC_XDS_BOOTSTRAP_CONFIG")
    if config:
        try:
            parsed = json.loads(config)
        except ValueError as exc:
            raise ValueError(
                f"target: {target!r} is an xDS target, and GRPC_XDS_BOOTSTRAP_CONFIG is "
                f"not JSON ({exc}); it holds the bootstrap itself, not a path "
                "(a path goes in GRPC_XDS_BOOTSTRAP)"
            ) from None
        if not isinstance(parsed, dict) or not parsed.get("xds_servers"):
            raise ValueError(
                f"target: {target!r} is an xDS target, and GRPC_XDS_BOOTSTRAP_CONFIG names "
                'no control plane: its JSON needs "xds_servers": [{"server_uri": ...}]'
            )
        return
    raise ValueError(
        f"target: {target!r} is an xDS target, and grpc's xDS client has no bootstrap: set "
        "GRPC_XDS_BOOTSTRAP to the path of the mesh's bootstrap file (a proxyless mesh's "
        "injector writes one), or GRPC_XDS_BOOTSTRAP_CONFIG to its JSON"
    )


def xds_credentials(fallback: grpc.ChannelCredentials | None) -> grpc.ChannelCredentials:
    """grpc's xDS credentials: the mesh's security config where the control
    plane sends one, else ``fallback`` (None: plaintext)."""
    if fallback is None:
        from grpc import experimental

        # (untyped in grpc's stubs)
        insecure: Callable[[], grpc.ChannelCredentials] = experimental.insecure_channel_credentials
        fallback = insecure()
    return grpc.xds_channel_credentials(fallback)

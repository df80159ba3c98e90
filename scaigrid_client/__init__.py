"""scaigrid-client: the Python SDK for ScaiGrid's gRPC API.

Async clients for every service, over one call path that handles the
service token, ``x-request-id``, deadlines, retries and typed errors::

    from scaigrid_client import ScaiGrid

    async with ScaiGrid("gateway.example.com", token=token) as grid:
        async for chunk in grid.inference.stream_inference(
            model="scailabs/poolnoodle-omni",
            messages=[{"role": "user", "content": "Hello"}],
        ):
            print(chunk.delta.content, end="")

Errors are in :mod:`scaigrid_client.errors`; the raw stubs in
:mod:`scaigrid_client.v1`; the fake server in :mod:`scaigrid_client.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scaigrid_client._version import __version__

if TYPE_CHECKING:
    from scaigrid_client import enums, errors
    from scaigrid_client._auth import ScaiKeyTokenProvider, TokenProvider
    from scaigrid_client._clients import (
        ChatReply,
        ClusterClient,
        CoordinatorClient,
        CoreRuntimeClient,
        HeartbeatClient,
        HeartbeatLoop,
        InferenceClient,
        ScaiGrid,
    )
    from scaigrid_client._config import Keepalive, RetryEvent, RetryPolicy, TLSConfig
    from scaigrid_client._grpc_logs import quiet_grpc_logs
    from scaigrid_client._methods import Embeddings
    from scaigrid_client._pager import Pager
    from scaigrid_client._raw import RawResponse, raw_response
    from scaigrid_client._tls_files import TLSFiles
    from scaigrid_client._to_dict import to_dict
    from scaigrid_client._transport import CallInfo, ServerStream

# Public name -> the module that defines it. Imported on first use, so that
# `import scaigrid_client` costs almost nothing and grpc, protobuf and the
# generated code load only when a client is needed.
_LAZY = {
    "enums": "scaigrid_client.enums",
    "errors": "scaigrid_client.errors",
    "ScaiKeyTokenProvider": "scaigrid_client._auth",
    "TokenProvider": "scaigrid_client._auth",
    "ChatReply": "scaigrid_client._clients",
    "Embeddings": "scaigrid_client._methods",
    "ClusterClient": "scaigrid_client._clients",
    "CoordinatorClient": "scaigrid_client._clients",
    "CoreRuntimeClient": "scaigrid_client._clients",
    "HeartbeatClient": "scaigrid_client._clients",
    "HeartbeatLoop": "scaigrid_client._clients",
    "InferenceClient": "scaigrid_client._clients",
    "ScaiGrid": "scaigrid_client._clients",
    "Keepalive": "scaigrid_client._config",
    "RetryEvent": "scaigrid_client._config",
    "RetryPolicy": "scaigrid_client._config",
    "TLSConfig": "scaigrid_client._config",
    "TLSFiles": "scaigrid_client._tls_files",
    "CallInfo": "scaigrid_client._transport",
    "ServerStream": "scaigrid_client._transport",
    "to_dict": "scaigrid_client._to_dict",
    "quiet_grpc_logs": "scaigrid_client._grpc_logs",
    "Pager": "scaigrid_client._pager",
    "RawResponse": "scaigrid_client._raw",
    "raw_response": "scaigrid_client._raw",
}

__all__ = [
    "CallInfo",
    "ChatReply",
    "ClusterClient",
    "CoordinatorClient",
    "CoreRuntimeClient",
    "Embeddings",
    "HeartbeatClient",
    "HeartbeatLoop",
    "InferenceClient",
    "Keepalive",
    "Pager",
    "RawResponse",
    "RetryEvent",
    "RetryPolicy",
    "ScaiGrid",
    "ScaiKeyTokenProvider",
    "ServerStream",
    "TLSConfig",
    "TLSFiles",
    "TokenProvider",
    "__version__",
    "enums",
    "errors",
    "quiet_grpc_logs",
    "raw_response",
    "to_dict",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'scaigrid_client' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name in ("enums", "errors") else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

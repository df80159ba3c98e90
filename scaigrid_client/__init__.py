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

from scaigrid_client import errors
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
from scaigrid_client._config import RetryEvent, RetryPolicy, TLSConfig
from scaigrid_client._transport import CallInfo, ServerStream
from scaigrid_client._version import __version__

__all__ = [
    "CallInfo",
    "ChatReply",
    "ClusterClient",
    "CoordinatorClient",
    "CoreRuntimeClient",
    "HeartbeatClient",
    "HeartbeatLoop",
    "InferenceClient",
    "RetryEvent",
    "RetryPolicy",
    "ScaiGrid",
    "ScaiKeyTokenProvider",
    "ServerStream",
    "TLSConfig",
    "TokenProvider",
    "__version__",
    "errors",
]

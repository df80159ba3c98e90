"""The blocking flavour of the SDK, for scripts, web views, task queues and
notebooks::

    from scaigrid_client.sync import ScaiGrid

    with ScaiGrid("gateway.example.com", token=token) as grid:
        for chunk in grid.inference.stream_inference(
            model="scailabs/poolnoodle-omni",
            messages=[{"role": "user", "content": "Hello"}],
        ):
            print(chunk.delta.content, end="")

The same clients, keywords, results, typed errors, request ids, retries,
budget and resumable streams as the async clients, over grpc's synchronous
stack: no event loop and no hidden thread. One client is safe to share
between threads. Tokens come from a str, a plain function, or a provider
whose ``get_token()`` blocks (such as this module's ``ScaiKeyTokenProvider``).
"""

from __future__ import annotations

from scaigrid_client import enums, errors
from scaigrid_client._auth import (
    SyncScaiKeyTokenProvider as ScaiKeyTokenProvider,
    SyncTokenProvider as TokenProvider,
)
from scaigrid_client._call import CallInfo
from scaigrid_client._config import Keepalive, RetryEvent, RetryPolicy, TLSConfig
from scaigrid_client._methods import ChatReply, Embeddings
from scaigrid_client._tls_files import TLSFiles
from scaigrid_client._to_dict import to_dict
from scaigrid_client.sync._clients import (
    ClusterClient,
    CoordinatorClient,
    CoreRuntimeClient,
    HeartbeatClient,
    InferenceClient,
    ScaiGrid,
)
from scaigrid_client.sync._pager import Pager
from scaigrid_client.sync._raw import RawResponse, raw_response
from scaigrid_client.sync._transport import HeartbeatLoop, ServerStream

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
    "enums",
    "errors",
    "raw_response",
    "to_dict",
]

"""The five service clients and the ScaiGrid facade (async).

Each method checks its arguments and builds its request (with `_methods`),
hands it to the shared `Transport` (which does metadata, deadline, retries
and errors) and shapes the result. These modules are also the source of the
sync clients: `tools/unasync.py` writes `sync/_clients/` from them, so each
RPC is defined once. Lines between ``unasync: begin async-only`` and
``unasync: end`` markers, and lines marked ``unasync: async-only``, are left
out there.

    _client.py     _Client: construction, with_options(), closing, the call path
    _inference.py  InferenceClient, HeartbeatClient (scaiinfer.v1)
    _scaimind.py   CoordinatorClient, ClusterClient (scaimind.v1)
    _scaicore.py   CoreRuntimeClient (scaicore.v1)
    _grid.py       ScaiGrid: all five over one channel
"""

from __future__ import annotations

from scaigrid_client._clients._grid import ScaiGrid
from scaigrid_client._clients._inference import (
    _HEARTBEAT_FIELDS as _HEARTBEAT_FIELDS,  # what capacity() may return
    HeartbeatClient,
    InferenceClient,
)
from scaigrid_client._clients._scaicore import CoreRuntimeClient
from scaigrid_client._clients._scaimind import ClusterClient, CoordinatorClient
from scaigrid_client._methods import ChatReply
from scaigrid_client._transport import HeartbeatLoop

__all__ = [
    "ChatReply",
    "ClusterClient",
    "CoordinatorClient",
    "CoreRuntimeClient",
    "HeartbeatClient",
    "HeartbeatLoop",
    "InferenceClient",
    "ScaiGrid",
]

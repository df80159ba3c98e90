"""The types that appear in the public signatures, for annotating your own
code: ``def fetch(grid: ScaiGrid, **options: Unpack[CallOptions]) -> ...``.

Every name here is public and covered by the API snapshot
(docs/public-api.txt).
"""

from __future__ import annotations

from scaigrid_client._auth import SyncTokenSource, TokenSource
from scaigrid_client._call import NOT_GIVEN, Metadata, MetadataArg, NotGiven
from scaigrid_client._channel import Proxy
from scaigrid_client._methods import (
    CallOptions,
    CapabilityArg,
    EnumArg,
    EventTypeArg,
    JobStateArg,
    MessageLike,
    NodeHealthArg,
    StreamOptions,
)
from scaigrid_client._tls_files import TLSStatus

__all__ = [
    "NOT_GIVEN",
    "CallOptions",
    "CapabilityArg",
    "EnumArg",
    "EventTypeArg",
    "JobStateArg",
    "MessageLike",
    "Metadata",
    "MetadataArg",
    "NodeHealthArg",
    "NotGiven",
    "Proxy",
    "StreamOptions",
    "SyncTokenSource",
    "TLSStatus",
    "TokenSource",
]

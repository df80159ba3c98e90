"""`ScaiGrid`: all five clients over one channel (async source).

`tools/unasync.py` writes `sync/_clients/_grid.py` from it.
"""

from __future__ import annotations

from typing import TypeVar

from scaigrid_client._clients._client import _Client
from scaigrid_client._clients._inference import HeartbeatClient, InferenceClient
from scaigrid_client._clients._scaicore import CoreRuntimeClient
from scaigrid_client._clients._scaimind import ClusterClient, CoordinatorClient

__all__ = ["ScaiGrid"]


class ScaiGrid(_Client):
    """All five clients over one channel: ``.inference``, ``.heartbeat``,
    ``.coordinator``, ``.cluster``, ``.core``. Takes the same keywords as
    each client; closing it closes the shared channel."""

    _Member = TypeVar("_Member", bound=_Client)

    def _member(self, cls: type[_Member]) -> _Member:
        # Made on first use, then kept: one per facade, sharing its channel.
        member = self.__dict__.get(cls.__name__)
        if member is None:
            member = self.__dict__[cls.__name__] = cls._sharing(self, self._defaults)
        return member

    @property
    def inference(self) -> InferenceClient:
        """Chat, embeddings and the model catalogue, on this channel."""
        return self._member(InferenceClient)

    @property
    def heartbeat(self) -> HeartbeatClient:
        """Heartbeats of inference nodes, on this channel."""
        return self._member(HeartbeatClient)

    @property
    def coordinator(self) -> CoordinatorClient:
        """Training jobs and their metrics, on this channel."""
        return self._member(CoordinatorClient)

    @property
    def cluster(self) -> ClusterClient:
        """GPU nodes and allocations, on this channel."""
        return self._member(ClusterClient)

    @property
    def core(self) -> CoreRuntimeClient:
        """ScaiCore instances and their events, on this channel."""
        return self._member(CoreRuntimeClient)

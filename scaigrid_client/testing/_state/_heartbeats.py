"""HeartbeatService's domain: every report kept, per node."""

from __future__ import annotations

import time

from scaigrid_client._messages import scaiinfer
from scaigrid_client.testing._errors import invalid
from scaigrid_client.testing._state._common import Ledger, now
from scaigrid_client.testing._state._persist import heartbeat_record
from scaigrid_client.testing._state._tables import HeartbeatRecord

__all__ = ["HeartbeatDomain"]


class HeartbeatDomain:
    """Heartbeat."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._heartbeats = ledger.tables.heartbeats

    def heartbeat(self, request: scaiinfer.HeartbeatRequest) -> scaiinfer.HeartbeatResponse:
        if not request.node_id:
            raise invalid("node_id", "is required")
        if not 0 <= request.gpu_utilization <= 1:
            raise invalid("gpu_utilization", "must be between 0 and 1")
        if request.gpu_memory_used_bytes > request.gpu_memory_total_bytes:
            raise invalid("gpu_memory_used_bytes", "must not exceed gpu_memory_total_bytes")
        history = self._heartbeats.setdefault(request.node_id, [])
        record = HeartbeatRecord(scaiinfer.HeartbeatRequest(), time.time(), len(history) + 1)
        record.request.CopyFrom(request)
        self._ledger.save(heartbeat_record(record))
        history.append(record)
        return scaiinfer.HeartbeatResponse(
            node_id=request.node_id,
            sequence=record.sequence,
            received_at=now(),
            next_interval_ms=5000,
        )

"""FakeBackend: the fake's state, one object the RPCs talk to.

It opens the state directory (replaying and compacting its journal),
builds one domain per service over the shared tables, and closes them. The
rules live in the domain modules; the tables in `_tables`; the journal
mapping in `_persist`.
"""

from __future__ import annotations

import os

from google.protobuf import message as _message

from scaigrid_client.testing._scripts import ReplyScripts
from scaigrid_client.testing._state._cluster import ClusterDomain
from scaigrid_client.testing._state._common import Ledger
from scaigrid_client.testing._state._coordinator import CoordinatorDomain
from scaigrid_client.testing._state._cores import CoreRuntimeDomain
from scaigrid_client.testing._state._heartbeats import HeartbeatDomain
from scaigrid_client.testing._state._inference import MODELS, InferenceDomain
from scaigrid_client.testing._state._persist import StateLog, replay, snapshot
from scaigrid_client.testing._state._tables import Tables

__all__ = ["FakeBackend"]


class FakeBackend:
    """The state behind every RPC of the fake gateway."""

    def __init__(
        self,
        *,
        step_interval: float | None = 0.01,
        binary_chunk_size: int = 1 << 20,
        state_dir: str | os.PathLike[str] | None = None,
        fresh: bool = False,
        scripts: ReplyScripts | None = None,
    ) -> None:
        self.tables = tables = Tables(models={m.id: m for m in MODELS})
        log: StateLog | None = None
        self.restored = False
        """Whether the state was read back from ``state_dir``."""
        if state_dir is not None:
            log = StateLog(state_dir)
            if not fresh:
                records = list(log.load())
                replay(tables, records)
                self.restored = bool(records)
            log.rewrite(snapshot(tables))
        self.ledger = ledger = Ledger(tables, log)
        self.inference = InferenceDomain(
            tables.models, binary_chunk_size=binary_chunk_size, scripts=scripts
        )
        self.heartbeat = HeartbeatDomain(ledger)
        self.coordinator = CoordinatorDomain(ledger, tables.models, step_interval=step_interval)
        self.cluster = ClusterDomain(ledger)
        self.core_runtime = CoreRuntimeDomain(ledger)
        if state_dir is not None:
            self.coordinator.resume()

    @property
    def epoch(self) -> str:
        return self.ledger.epoch

    @property
    def replies(self) -> dict[tuple[str, str], _message.Message]:
        """Replies of the RPCs whose request id is their idempotency key."""
        return self.tables.replies

    def remember_reply(self, key: tuple[str, str], reply: _message.Message) -> None:
        self.ledger.remember_reply(key, reply)

    def notify(self) -> None:
        """Wake the streams that follow live state (to see a drop, say)."""
        self.ledger.notify()

    def close(self) -> None:
        self.coordinator.close()
        self.ledger.close()

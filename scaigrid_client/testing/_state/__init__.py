"""The fake gateway's domain state: models, inference, jobs, nodes, cores.

Everything here is plain, deterministic logic on one event loop. Operations
raise `FakeError` with the status, `scaigrid-error-code` and message the
real gateway would send; dispatch turns those into gRPC errors.

    _tables        the state as data (tables and their rows)
    _persist       the state on disk: records, snapshot, replay, the file
    _common        the Ledger every domain shares: journal, ids, epoch, changes
    _inference, _heartbeats, _coordinator, _cluster, _cores
                   one domain per service: its rules
    _backend       FakeBackend, which builds and closes them
"""

from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._state._backend import FakeBackend
from scaigrid_client.testing._state._coordinator import TERMINAL_JOB_STATES
from scaigrid_client.testing._state._tables import HeartbeatRecord

__all__ = ["TERMINAL_JOB_STATES", "FakeBackend", "FakeError", "HeartbeatRecord", "invalid"]

"""The fake gateway's domain state: models, inference, jobs, nodes, cores.

`_backend` holds the state and its rules, `_persist` its journal on disk.
"""

from scaigrid_client.testing._state._backend import (
    TERMINAL_JOB_STATES,
    FakeBackend,
    FakeError,
    HeartbeatRecord,
    invalid,
)

__all__ = ["TERMINAL_JOB_STATES", "FakeBackend", "FakeError", "HeartbeatRecord", "invalid"]

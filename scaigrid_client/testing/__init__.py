"""The bundled fake ScaiGrid, for integration tests.

``FakeScaiGrid`` is a real grpc.aio server on a loopback port with
believable, deterministic state, token auth like the gateway's, fault and
delay injection, and a journal of every call. See docs/testing.md.

The pytest plugin (registered automatically) adds a ``scaigrid_fake``
fixture, a running fake with fresh state for each test, and a
``scaigrid_client`` fixture, a ScaiGrid for it with fast retries
(``scaigrid_fake.client()``), and ``scaigrid_sync_client``, its sync
flavour (``scaigrid_fake.sync_client()``).
"""

from scaigrid_client.testing._scripts import ReplyCondition
from scaigrid_client.testing._secret_volume import SecretVolume
from scaigrid_client.testing._server import Call, FakeScaiGrid, FakeState, RetryOverrides
from scaigrid_client.testing._state import HeartbeatRecord
from scaigrid_client.testing._tls import ClientCert

__all__ = [
    "Call",
    "ClientCert",
    "FakeScaiGrid",
    "FakeState",
    "HeartbeatRecord",
    "ReplyCondition",
    "RetryOverrides",
    "SecretVolume",
]

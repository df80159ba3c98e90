"""scaicore.v1 messages: CoreRuntimeService."""

from scaigrid_client._gen.scaicore.v1 import runtime_pb2 as runtime_pb2
from scaigrid_client._gen.scaicore.v1.runtime_pb2 import *  # noqa: F403

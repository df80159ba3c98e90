"""scaicore.v1: CoreRuntimeService messages and stubs."""

from scaigrid_client._gen.scaicore.v1 import (
    runtime_pb2 as runtime_pb2,
    runtime_pb2_grpc as runtime_pb2_grpc,
)
from scaigrid_client._gen.scaicore.v1.runtime_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaicore.v1.runtime_pb2_grpc import *  # noqa: F403

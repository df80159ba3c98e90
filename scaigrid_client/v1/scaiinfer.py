"""scaiinfer.v1: InferenceService and HeartbeatService messages and stubs."""

from scaigrid_client._gen.scaiinfer.v1 import (
    heartbeat_pb2 as heartbeat_pb2,
    heartbeat_pb2_grpc as heartbeat_pb2_grpc,
    inference_pb2 as inference_pb2,
    inference_pb2_grpc as inference_pb2_grpc,
)
from scaigrid_client._gen.scaiinfer.v1.heartbeat_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaiinfer.v1.heartbeat_pb2_grpc import *  # noqa: F403
from scaigrid_client._gen.scaiinfer.v1.inference_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaiinfer.v1.inference_pb2_grpc import *  # noqa: F403

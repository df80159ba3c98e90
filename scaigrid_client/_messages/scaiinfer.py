"""scaiinfer.v1 messages: InferenceService and HeartbeatService."""

from scaigrid_client._gen.scaiinfer.v1 import (
    heartbeat_pb2 as heartbeat_pb2,
    inference_pb2 as inference_pb2,
)
from scaigrid_client._gen.scaiinfer.v1.heartbeat_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaiinfer.v1.inference_pb2 import *  # noqa: F403

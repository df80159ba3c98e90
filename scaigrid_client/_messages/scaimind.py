"""scaimind.v1 messages: CoordinatorService and ClusterService."""

from scaigrid_client._gen.scaimind.v1 import (
    cluster_pb2 as cluster_pb2,
    coordinator_pb2 as coordinator_pb2,
)
from scaigrid_client._gen.scaimind.v1.cluster_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaimind.v1.coordinator_pb2 import *  # noqa: F403

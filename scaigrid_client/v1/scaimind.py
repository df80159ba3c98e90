"""scaimind.v1: CoordinatorService and ClusterService messages and stubs."""

from scaigrid_client._gen.scaimind.v1 import (
    cluster_pb2 as cluster_pb2,
    cluster_pb2_grpc as cluster_pb2_grpc,
    coordinator_pb2 as coordinator_pb2,
    coordinator_pb2_grpc as coordinator_pb2_grpc,
)
from scaigrid_client._gen.scaimind.v1.cluster_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaimind.v1.cluster_pb2_grpc import *  # noqa: F403
from scaigrid_client._gen.scaimind.v1.coordinator_pb2 import *  # noqa: F403
from scaigrid_client._gen.scaimind.v1.coordinator_pb2_grpc import *  # noqa: F403

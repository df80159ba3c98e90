"""The generated messages without the gRPC stubs: what the clients import.

`Transport` builds its callables from the service descriptors, so the
clients need only the ``*_pb2`` modules; the ``*_pb2_grpc`` stubs (and their
check of grpcio's version) stay on ``scaigrid_client.v1``, for callers who
want them. One module per proto package, like ``scaigrid_client.v1``.
"""

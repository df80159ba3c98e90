"""The raw generated messages and gRPC stubs, for power users.

This is the stable import path for the v1 protos; ``scaigrid_client._gen``
is where they are generated and may move. One module per proto package::

    from scaigrid_client.v1 import scaiinfer as pb

    stub = pb.InferenceServiceStub(channel)
    req = pb.InferenceRequest(model="scailabs/poolnoodle-omni", messages=[...])
    async for chunk in stub.StreamInference(req, metadata=metadata):
        print(chunk.delta.content, end="")

Each module holds every message, enum, ``*Stub``, ``*Servicer`` and
``add_*Servicer_to_server`` of its package. The generated modules themselves
are there too, as ``scaiinfer.inference_pb2``, ``scaiinfer.inference_pb2_grpc``
and so on, for code written against protoc's usual names.
"""

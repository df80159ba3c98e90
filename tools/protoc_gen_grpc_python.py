"""protoc plugin that runs grpcio-tools' built-in gRPC-Python generator.

The gRPC-Python generator only exists inside grpcio-tools' protoc, which Buf
cannot name as a `protoc_builtin` plugin. This plugin receives Buf's
CodeGeneratorRequest, hands its descriptors to that protoc through
`--descriptor_set_in`, and returns what it writes. Everything comes from the
pinned grpcio-tools wheel, so the output is the same offline on every machine.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        descriptors = root / "descriptors.binpb"
        out = root / "out"
        out.mkdir()
        descriptors.write_bytes(
            descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString()
        )
        args = [
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptors}",
            f"--grpc_python_out={out}",
        ]
        if request.parameter:
            args.append(f"--grpc_python_opt={request.parameter}")
        status = protoc.main([*args, *request.file_to_generate])
        if status != 0:
            response.error = f"grpc_tools.protoc exited with {status}"
        else:
            for path in sorted(out.rglob("*.py")):
                response.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())

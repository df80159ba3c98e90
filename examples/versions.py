"""What a service logs at start-up: the versions it runs with, checked
against the SDK's supported window, and one call to prove the pairing works
(the guide's table says which versions `make test` proves)."""

from __future__ import annotations

import asyncio

import grpc
from _common import connect
from google.protobuf import __version__ as protobuf_version
from google.protobuf.internal import api_implementation

import scaigrid_client


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


async def main() -> None:
    print(f"scaigrid-client {scaigrid_client.__version__}")
    print(f"grpcio {grpc.__version__}")
    print(f"protobuf {protobuf_version} ({api_implementation.Type()} implementation)")
    in_window = _major_minor(grpc.__version__) >= (1, 70) and (5, 29) <= _major_minor(
        protobuf_version
    ) < (8, 0)
    print("within the supported window" if in_window else "OUTSIDE the supported window")
    async with connect() as (grid, _fake):
        models = await grid.inference.list_models()
        print(f"one call: {len(models)} models")


if __name__ == "__main__":
    asyncio.run(main())

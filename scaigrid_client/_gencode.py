"""Which generation of the protobuf messages the installed protobuf loads.

protobuf's runtime refuses gencode newer than itself, and protobuf 6.30 and
6.31 warn (UserWarning) about gencode one major older; 6.32 and later, and
7.x, load older gencode silently (measured on 5.29.0 and 6.30.0 gencode
against runtimes 5.29.0 to 7.36.2). So `make generate` writes two
generations of the same protos, and `scaigrid_client._gen` loads its modules
from the one this runtime accepts without a warning:

- ``protobuf5/``: gencode 5.29.0, for protobuf 5.29.x;
- ``protobuf6/``: gencode 6.30.0, for protobuf 6.30 and later, 7.x included.
"""

from __future__ import annotations

import os

import google.protobuf

GENERATIONS = {5: "protobuf5", 6: "protobuf6", 7: "protobuf6"}


def generation_path(package_path: list[str], protobuf_version: str | None = None) -> list[str]:
    """The ``__path__`` of ``scaigrid_client._gen`` for this protobuf runtime
    (or for ``protobuf_version``)."""
    version = protobuf_version or google.protobuf.__version__
    generation = GENERATIONS.get(int(version.split(".")[0]))
    if generation is None:
        raise ImportError(
            f"scaigrid-client needs protobuf >= 5.29.1, < 8; protobuf {version} is installed"
        )
    return [os.path.join(entry, generation) for entry in package_path]

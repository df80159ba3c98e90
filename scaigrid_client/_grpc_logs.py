"""The opt-in that turns grpc-core's own log lines off."""

from __future__ import annotations

import os
import sys

__all__ = ["quiet_grpc_logs"]


def quiet_grpc_logs() -> bool:
    """Turn off the lines grpc-core writes to stderr in its own format
    (``I1127 ... ssl_transport_security.cc ... Handshake failed``): the SDK
    raises each such failure as a typed error that says what went wrong.

    It sets ``GRPC_VERBOSITY=NONE`` in ``os.environ``, which grpc reads once,
    when it is imported: call this first thing, before anything imports
    grpc. The setting is the process's (other gRPC libraries in it go quiet
    too) and its child processes inherit it. A ``GRPC_VERBOSITY`` already
    set is left alone. The ``scaigrid`` command line calls this.

    Returns:
        True if grpc's logs are off from now on; False if the variable was
        already set to something else, or grpc was imported already (set
        the variable in the environment instead).
    """
    current = os.environ.get("GRPC_VERBOSITY")
    if current is not None:
        return current.upper() == "NONE"
    if "grpc" in sys.modules:
        return False
    os.environ["GRPC_VERBOSITY"] = "NONE"
    return True

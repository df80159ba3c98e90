"""The ``scaigrid`` command line: `main` quiets grpc-core's own log lines,
then runs `_main.main`, where the command line is."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scaigrid`` console script; returns the exit code."""
    from scaigrid_client._grpc_logs import quiet_grpc_logs

    # Before anything imports grpc, which reads GRPC_VERBOSITY once: the CLI
    # says each failure in its own words, and grpc's lines would repeat them.
    quiet_grpc_logs()
    from scaigrid_client._cli._main import main as run

    return run(argv)

"""The root parser: the global flags, the help's epilog, ``--version``, and
every command module's ``register()``; argparse's errors as JSON with --json."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from scaigrid_client._cli._common import add_global_flags
from scaigrid_client._cli._errors import EXIT_CODES, write_json_error
from scaigrid_client._cli.commands import ALL

EPILOG = """exit codes: 0 ok, 1 job did not succeed (or the fake could not listen,
or a conformance case failed), 2 usage, 3 authentication, 4 permission denied, 5 not found, 6 invalid argument
or state, 7 rate limited or exhausted, 8 unavailable, 9 deadline exceeded,
10 other server error, 130 interrupted.

With --json, results are JSON (streams: one object per line) and errors a
JSON object on stderr. -v logs retries and stream resumes; -vv more.

environment: SCAIGRID_TARGET, SCAIGRID_SERVICE_TOKEN, SCAIGRID_PLAINTEXT=1

example:
  scaigrid --plaintext --target localhost:50051 models
"""


class _JsonErrorParser(argparse.ArgumentParser):
    """argparse, with usage errors as a JSON object on stderr (for --json)."""

    def error(self, message: str) -> NoReturn:
        write_json_error("UsageError", f"{self.prog}: {message}", EXIT_CODES["usage"])
        self.exit(EXIT_CODES["usage"])


def _versions() -> str:
    """What ``scaigrid --version`` prints: the first thing a bug report needs."""
    import platform

    import grpc
    from google.protobuf import __version__ as protobuf_version
    from google.protobuf.internal import api_implementation

    from scaigrid_client._version import __version__

    return (
        f"scaigrid-client {__version__}\n"
        f"grpcio {grpc.__version__}\n"
        f"protobuf {protobuf_version} ({api_implementation.Type()} implementation)\n"
        f"Python {platform.python_version()}"
    )


def wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` was given, known before parsing so that parse
    errors can be JSON too."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The ``scaigrid`` parser; ``json_errors``: its usage errors as JSON."""
    parser_class = _JsonErrorParser if json_errors else argparse.ArgumentParser
    parser = parser_class(
        prog="scaigrid",
        description="Command line for ScaiGrid's gRPC API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_flags(parser, version=_versions())
    subcommands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=parser_class
    )
    for command in ALL:
        command.register(subcommands)
    return parser

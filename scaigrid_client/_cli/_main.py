"""The ``scaigrid`` command line (run by `scaigrid_client._cli.main`).

Global options come before the subcommand. Output is a table or progress
bar on a terminal, and plain or JSON lines when piped. Errors are one line
on stderr; exit codes are listed in ``EXIT_CODES``.

This module only runs a command: ``_parser`` builds the parser from the
modules in ``commands/`` (one per command), ``_common`` turns the shared
flags into a ``ScaiGrid`` and call options, ``_output`` writes results, and
``_errors`` is the one place where a failure becomes a message, a hint and
an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from scaigrid_client._cli._command import Handler, Standalone
from scaigrid_client._cli._common import open_grid, plaintext_source
from scaigrid_client._cli._errors import EXIT_CODES, HANDLED, report
from scaigrid_client._cli._logging import sdk_logging
from scaigrid_client._cli._output import Output
from scaigrid_client._cli._parser import build_parser, wants_json

__all__ = ["EXIT_CODES", "build_parser", "main"]


async def _run(args: argparse.Namespace, out: Output) -> int:
    async with open_grid(args) as grid:
        handler: Handler = args.handler
        return await handler(args, grid, out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scaigrid`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(json_errors=wants_json(argv))
    args = parser.parse_args(argv)
    standalone: Standalone | None = getattr(args, "standalone", None)
    if standalone is not None:  # `scaigrid fake`: no gateway to connect to
        return standalone(args, parser)
    args.plaintext_source = plaintext_source(args)
    out = Output(args.json, args.verbose)
    try:
        with sdk_logging(args.verbose):
            return asyncio.run(_run(args, out))
    except HANDLED as error:
        return report(error, args, parser)

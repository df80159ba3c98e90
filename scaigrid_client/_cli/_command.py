"""How a command module plugs into the parser: the handler type, and
``add_command``/``add_actions``, which give every command the same help
layout and let it declare the shared flag groups it takes."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeAlias

from scaigrid_client import ScaiGrid
from scaigrid_client._cli._common import SHARED_FLAGS
from scaigrid_client._cli._output import Output

# A command that calls the gateway: main() connects, then awaits it.
Handler: TypeAlias = Callable[[argparse.Namespace, ScaiGrid, Output], Awaitable[int]]
# A command that runs without a gateway (`scaigrid fake`); gets the root
# parser, for its usage errors.
Standalone: TypeAlias = Callable[[argparse.Namespace, argparse.ArgumentParser], int]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    commands: Subcommands,
    name: str,
    help_text: str,
    example: str,
    handler: Handler | None = None,
    *,
    flags: Sequence[argparse.ArgumentParser] = SHARED_FLAGS,
) -> argparse.ArgumentParser:
    """A command's parser: ``help_text`` as help and description, ``example``
    in the epilog, ``flags`` (groups from _common) accepted after its name."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        parents=list(flags),
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog="example:\n  " + example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def add_actions(parser: argparse.ArgumentParser, handlers: Mapping[str, Handler]) -> None:
    """An ``action`` positional choosing one of ``handlers``: `scaigrid nodes
    list`. Unlike subparsers, it keeps one parser, so every flag is accepted
    before or after the action and the command has one help page."""

    async def dispatch(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
        return await handlers[args.action](args, grid, out)

    parser.add_argument("action", choices=list(handlers))
    parser.set_defaults(handler=dispatch)

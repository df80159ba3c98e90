"""``scaigrid models``: list the models."""

from __future__ import annotations

import argparse

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._common import call_options
from scaigrid_client._cli._output import Output, short_name
from scaigrid_client._messages import scaiinfer


def register(commands: Subcommands) -> None:
    add_command(commands, "models", "list the models", "scaigrid models --json", run)


async def run(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    models = await grid.inference.list_models(**call_options(args))
    if out.json:
        out.json_line([to_dict(m) for m in models])
        return 0
    rows = [
        [
            m.id,
            m.owner,
            str(m.context_length),
            ",".join(
                short_name(scaiinfer.Capability, c, "CAPABILITY_").lower() for c in m.capabilities
            ),
        ]
        for m in models
    ]
    out.table(["id", "owner", "context", "capabilities"], rows)
    return 0

"""``scaigrid embed``: embed texts."""

from __future__ import annotations

import argparse
import math

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._common import call_options
from scaigrid_client._cli._output import Output
from scaigrid_client._messages import scaiinfer


def register(commands: Subcommands) -> None:
    embed = add_command(
        commands,
        "embed",
        "embed texts",
        'scaigrid embed -m scailabs/embed-small "first text" "second text"',
        run,
    )
    embed.add_argument("-m", "--model", required=True, help="an embeddings model id")
    embed.add_argument("text", metavar="TEXT", nargs="+", help="texts to embed")


async def run(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    vectors = await grid.inference.embed(model=args.model, inputs=args.text, **call_options(args))
    if out.json:
        # Through to_dict, so that the float32 values print as everywhere else.
        out.json_line(
            [
                {"input": t, "embedding": to_dict(scaiinfer.Embedding(values=v))["values"]}
                for t, v in zip(args.text, vectors, strict=True)
            ]
        )
        return 0
    for i, (text, vector) in enumerate(zip(args.text, vectors, strict=True)):
        norm = math.sqrt(sum(x * x for x in vector))
        head = ", ".join(f"{x:+.4f}" for x in vector[:4])
        short = text if len(text) <= 30 else text[:27] + "..."
        out.line(f"[{i}] {short!r}: {len(vector)} dims, norm {norm:.3f}, [{head}, ...]")
    return 0

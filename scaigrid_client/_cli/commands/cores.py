"""``scaigrid cores``: invoke, passivate or restore a core."""

from __future__ import annotations

import argparse
import sys

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_actions, add_command
from scaigrid_client._cli._common import call_options
from scaigrid_client._cli._errors import UsageError
from scaigrid_client._cli._output import Output, short_name
from scaigrid_client._messages import scaicore


def register(commands: Subcommands) -> None:
    cores = add_command(
        commands,
        "cores",
        "invoke, passivate or restore a core",
        "scaigrid cores invoke core-7 --payload '{\"q\": 1}'",
    )
    add_actions(cores, {"invoke": run_invoke, "passivate": run_passivate, "restore": run_restore})
    cores.add_argument("core_id", metavar="CORE_ID")
    cores.add_argument("--payload", help="invoke input: text, @FILE, or - for stdin")
    cores.add_argument("--content-type", help="media type of the payload (application/json)")


def _instance_line(instance: scaicore.CoreInstance) -> str:
    state = short_name(scaicore.CoreState, instance.state, "CORE_STATE_")
    return (
        f"{instance.core_id}\t{state}\tinvocations={instance.invocation_count}\t"
        f"last_sequence={instance.last_sequence}"
    )


def _print_instance(instance: scaicore.CoreInstance, out: Output) -> None:
    if out.json:
        out.json_line(to_dict(instance))
    else:
        out.line(_instance_line(instance))


def _payload(text: str | None) -> bytes | None:
    if text is None:
        return None
    if text == "-":
        return sys.stdin.buffer.read()
    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as payload_file:
                return payload_file.read()
        except OSError as exc:
            raise UsageError(f"--payload: cannot read {text[1:]!r} ({exc.strerror})") from None
    return text.encode()


async def run_invoke(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    options = call_options(args)
    payload = _payload(args.payload)
    kind = args.content_type or ("application/json" if payload is not None else None)
    result = await grid.core.invoke_core(
        core_id=args.core_id, payload=payload, content_type=kind, **options
    )
    if out.json:
        out.json_line(to_dict(result))  # output: base64, as every bytes field
    else:
        out.line(result.output.decode("utf-8", "replace"))
        if out.verbose:
            out.note(f"{result.invocation_id}: {_instance_line(result.instance)}")
    return 0


async def run_passivate(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _print_instance(await grid.core.passivate_core(args.core_id, **call_options(args)), out)
    return 0


async def run_restore(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _print_instance(await grid.core.restore_core(args.core_id, **call_options(args)), out)
    return 0

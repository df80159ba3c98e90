"""``scaigrid nodes``: list nodes, register one, or send a heartbeat."""

from __future__ import annotations

import argparse

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_actions, add_command
from scaigrid_client._cli._common import call_options, enum_flag
from scaigrid_client._cli._errors import UsageError
from scaigrid_client._cli._output import Output
from scaigrid_client._messages import scaiinfer
from scaigrid_client._methods import enum_short_names

_node_health = enum_flag(scaiinfer.NodeHealth, "--health")


def register(commands: Subcommands) -> None:
    nodes = add_command(
        commands,
        "nodes",
        "list nodes, register one, or send a heartbeat",
        "scaigrid nodes list\n"
        "  scaigrid nodes register gpu-01 --gpus 8 --gpu-type H100\n"
        "  scaigrid nodes heartbeat gpu-01 --gpus 8 --queue-depth 3",
    )
    # One parser, not subparsers as `jobs` has: `nodes --gpus 8 register n`
    # works today and the three actions share one help page.
    add_actions(nodes, {"list": run_list, "register": run_register, "heartbeat": run_heartbeat})
    nodes.add_argument("node_id", metavar="NODE_ID", nargs="?", help="(not for list)")
    nodes.add_argument("--gpus", type=int, help="GPUs on the node (required to register)")
    nodes.add_argument("--gpu-type", help="GPU model, e.g. H100")
    nodes.add_argument("--address", help="host:port of the node")
    nodes.add_argument(
        "--health",
        type=_node_health,
        metavar="HEALTH",
        help=f"{', '.join(enum_short_names(scaiinfer.NodeHealth))} (any case; default healthy)",
    )
    nodes.add_argument("--utilization", type=float, help="GPU utilisation, 0 to 1 (default 0)")
    nodes.add_argument("--queue-depth", type=int, help="requests waiting (default 0)")
    nodes.add_argument("--model", action="append", help="a loaded model (repeatable)")


# The flags each action takes (one parser serves all three): any other one
# given is refused rather than silently dropped.
_ACTION_FLAGS = {
    "list": (),
    "register": ("gpus", "gpu_type", "address"),
    "heartbeat": ("gpus", "health", "utilization", "queue_depth", "model"),
}
_ALL_FLAGS = sorted({flag for flags in _ACTION_FLAGS.values() for flag in flags})


def _only_its_flags(args: argparse.Namespace) -> None:
    allowed = _ACTION_FLAGS[args.action]
    for name in _ALL_FLAGS:
        if getattr(args, name) is not None and name not in allowed:
            flag = "--" + name.replace("_", "-")
            takes = ", ".join("--" + a.replace("_", "-") for a in allowed) or "no flags"
            raise UsageError(f"{flag} does not apply to 'nodes {args.action}' (it takes {takes})")


def _node_id(args: argparse.Namespace) -> str:
    # NODE_ID is optional in the parser because `nodes list` takes none.
    if not args.node_id:
        raise UsageError(f"NODE_ID: 'nodes {args.action}' needs the node's id")
    node_id: str = args.node_id
    return node_id


async def run_list(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _only_its_flags(args)
    nodes = await grid.cluster.list_nodes(**call_options(args))
    if out.json:
        out.json_line([to_dict(node) for node in nodes])
    else:
        out.table(
            ["node", "gpus", "free", "type", "address"],
            [[n.node_id, str(n.gpus), str(n.gpus_free), n.gpu_type, n.address] for n in nodes],
        )
    return 0


async def run_register(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _only_its_flags(args)
    node = await grid.cluster.register_node(
        node_id=_node_id(args),
        gpus=args.gpus,
        gpu_type=args.gpu_type or "",
        address=args.address or "",
        **call_options(args),
    )
    if out.json:
        out.json_line(to_dict(node))
    else:
        out.line(f"{node.node_id}\tgpus={node.gpus}\tfree={node.gpus_free}\t{node.gpu_type}")
    return 0


async def run_heartbeat(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _only_its_flags(args)
    ack = await grid.heartbeat.heartbeat(
        node_id=_node_id(args),
        health="healthy" if args.health is None else args.health,
        gpu_count=args.gpus or 0,
        gpu_utilization=args.utilization or 0.0,
        queue_depth=args.queue_depth or 0,
        loaded_models=args.model or [],
        **call_options(args),
    )
    if out.json:
        out.json_line(to_dict(ack))
    else:
        out.line(f"{ack.node_id}\theartbeat #{ack.sequence}\tnext in {ack.next_interval_ms} ms")
    return 0

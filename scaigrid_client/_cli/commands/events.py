"""``scaigrid events``: tail a core's events live, resuming by itself."""

from __future__ import annotations

import argparse

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._common import call_options
from scaigrid_client._cli._output import Output, short_name
from scaigrid_client._messages import scaicore


def register(commands: Subcommands) -> None:
    events = add_command(
        commands,
        "events",
        "tail a core's events live, resuming after dropped connections",
        "scaigrid events core-7 --after 120 --json | jq .type",
        run,
    )
    events.add_argument("core_id", metavar="CORE_ID")
    events.add_argument("--after", type=int, default=0, help="start after this sequence")
    events.add_argument(
        "--epoch",
        default="",
        help="the epoch the --after sequence was read from (an event's epoch): if the "
        "gateway's history is another one, fail with history_reset instead of skipping",
    )
    events.add_argument("--limit", type=int, help="exit after this many events")
    events.add_argument(
        "--follow",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep tailing for new events (default); --no-follow: exit once caught up "
        "with the events the core had when the command started",
    )


async def run(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    seen = 0
    until = None
    if not args.follow:  # caught up: the core's latest sequence when we started
        until = (await grid.core.get_core(args.core_id, **call_options(args))).last_sequence
        if until <= args.after:
            return 0
    stream = grid.core.stream_events(
        args.core_id, after_sequence=args.after, epoch=args.epoch, **call_options(args)
    )
    async with stream:
        async for event in stream:
            if out.json:
                out.json_line(to_dict(event))
            else:
                kind = short_name(scaicore.EventType, event.type, "EVENT_TYPE_")
                attributes = " ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()))
                out.line(
                    f"#{event.sequence}\t{event.occurred_at.ToJsonString()}\t{kind}\t"
                    f"{event.invocation_id or '-'}\t{attributes}"
                )
            seen += 1
            if args.limit is not None and seen >= args.limit:
                break
            if until is not None and event.sequence >= until:
                break
    return 0

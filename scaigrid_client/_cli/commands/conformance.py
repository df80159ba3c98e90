"""``scaigrid conformance``: run the conformance suite against a gateway
(or a fake) and report each case: pass, fail (expected vs got) or skip."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from scaigrid_client import ScaiGrid, errors
from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._common import (
    CONNECTION_FLAGS,
    OUTPUT_FLAGS,
    TIMEOUT_FLAG,
    grid_settings,
)
from scaigrid_client._cli._errors import EXIT_CODES, UsageError
from scaigrid_client._cli._output import Output


def register(commands: Subcommands) -> None:
    conformance = add_command(
        commands,
        "conformance",
        "check that a gateway keeps the contract the SDK relies on",
        "scaigrid conformance --target gateway.example.com --report report.json\n"
        "  scaigrid conformance --plaintext --target localhost:50051 --allow-writes "
        "--fake-control http://127.0.0.1:8080",
        run,
        flags=(CONNECTION_FLAGS, OUTPUT_FLAGS, TIMEOUT_FLAG),
    )
    conformance.add_argument(
        "--allow-writes",
        action="store_true",
        help="also run the cases that change state or cost something (jobs, cores, "
        "chat tokens, a registered node); without it they are reported skip",
    )
    conformance.add_argument(
        "--model", metavar="M", help="chat model for the chat cases (default: the first listed)"
    )
    conformance.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these cases (names as in the report; commas work too)",
    )
    conformance.add_argument("--report", metavar="PATH", help="write the report as JSON to PATH")
    conformance.add_argument(
        "--fake-control",
        metavar="URL",
        help="the control plane of a `scaigrid fake --control-port` at --target: "
        "runs the fake_only cases (skipped without it)",
    )


def _selected(only: Sequence[str] | None) -> list[Any]:
    from scaigrid_client._conformance import CASES

    if not only:
        return list(CASES.values())
    names = [n for word in only for n in word.split(",") if n]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise UsageError(
            f"--only: unknown case {', '.join(map(repr, unknown))}; cases: {', '.join(CASES)}"
        )
    return [c for c in CASES.values() if c.name in names]


async def _probe(grid: ScaiGrid) -> None:
    """Fail the run, with the CLI's usual message and exit code, when the
    gateway cannot be reached or refuses the token; a gateway without
    InferenceService (UNIMPLEMENTED) and the like still gets its report."""
    try:
        await grid.inference.list_models()
    except (
        errors.UnavailableError,
        errors.AuthenticationError,
        errors.DeadlineExceededError,
    ):
        raise
    except errors.ScaiGridError:
        pass


def _check_report_path(path: str | None) -> None:
    """Refuse a --report that cannot be written before running anything."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--report: {folder!r} is not a directory; create it or pick another path")


def _write_report(path: str, report: dict[str, Any]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2, ensure_ascii=False)
            file.write("\n")
    except OSError as exc:
        raise UsageError(f"--report: cannot write {path!r} ({exc.strerror or exc})") from None


async def run(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    from scaigrid_client._conformance import Context, FakeControl, LastCall

    cases = _selected(args.only)
    _check_report_path(args.report)
    settings = grid_settings(args)

    def connect(**overrides: Any) -> ScaiGrid:
        given = {k: v for k, v in overrides.items() if v is not None}
        return ScaiGrid(**{**settings, **given})

    await _probe(grid)
    last_call = LastCall()
    async with connect(interceptors=last_call.interceptors) as recorded:
        ctx = Context(
            recorded,
            connect,
            model=args.model,
            control=FakeControl(args.fake_control) if args.fake_control else None,
            last_call=last_call,
        )
        return await _run(args, ctx, cases, out)


async def _run(args: argparse.Namespace, ctx: Any, cases: list[Any], out: Output) -> int:
    from scaigrid_client._conformance import report, run_cases
    from scaigrid_client._version import __version__

    done: list[Any] = []

    def on_result(result: Any) -> None:
        done.append(result)
        if out.tty and not out.json:  # a progress line per case, on a terminal
            out.line(f"[{len(done)}/{len(cases)}] {result.outcome:4}  {result.name}")

    results = await run_cases(cases, ctx, allow_writes=args.allow_writes, on_result=on_result)
    answer = report(args.target, __version__, results)
    if args.report:
        _write_report(args.report, answer)
    if out.json:
        out.json_line(answer)
    else:
        out.table(["case", "outcome", "detail"], [[r.name, r.outcome, r.detail] for r in results])
    summary = answer["summary"]
    out.note(
        f"conformance of {args.target}: {summary['pass']} passed, "
        f"{summary['fail']} failed, {summary['skip']} skipped"
    )
    return EXIT_CODES["a conformance case failed"] if summary["fail"] else EXIT_CODES["ok"]

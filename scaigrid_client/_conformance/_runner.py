"""Running the cases: marks to skips, outcomes, the report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from scaigrid_client import errors
from scaigrid_client._conformance._checks import describe
from scaigrid_client._conformance._context import Context
from scaigrid_client._conformance._registry import FAKE_ONLY, Case, CaseFailed, CaseSkipped

__all__ = ["CASE_TIMEOUT", "Result", "report", "run_cases"]

# No case takes this long against a healthy gateway; a hung one fails, not the run.
CASE_TIMEOUT = 30.0
Outcome = Literal["pass", "fail", "skip"]

_NEEDS_FAKE = (
    "fake_only: needs the fake's controls; pass --fake-control URL "
    "(the control plane of `scaigrid fake --control-port PORT`)"
)
_NEEDS_WRITES = "changes state or costs: pass --allow-writes to run it"


@dataclass(frozen=True)
class Result:
    """One case's outcome and what it found."""

    name: str
    outcome: Outcome
    detail: str


def _skip_reason(case: Case, ctx: Context, allow_writes: bool) -> str | None:
    if case.where == FAKE_ONLY and ctx.control is None:
        return _NEEDS_FAKE
    if case.writes and not allow_writes:
        return _NEEDS_WRITES
    return None


def _failed_call(error: errors.ScaiGridError, ctx: Context) -> str:
    """The RPC that raised ``error``: the last one started when it was first
    seen (a fixture's error is raised again, later, by the cases sharing it)."""
    call: str = error.__dict__.setdefault(
        "conformance_call", ctx.last_call.method if ctx.last_call is not None else ""
    )
    return call


async def run_case(case: Case, ctx: Context, timeout: float = CASE_TIMEOUT) -> Result:
    """Run one case; every way it can end is an outcome, never an exception
    (except cancellation: Ctrl-C stops the run)."""
    try:
        note = await asyncio.wait_for(case.fn(ctx), timeout)
    except CaseFailed as failure:
        return Result(case.name, "fail", str(failure))
    except CaseSkipped as skipped:
        return Result(case.name, "skip", str(skipped))
    except errors.ScaiGridError as error:
        call = _failed_call(error, ctx)
        what = f"{call}: expected OK" if call else "expected every call to succeed"
        return Result(case.name, "fail", f"{what}, got {describe(error)}")
    except asyncio.TimeoutError:
        return Result(case.name, "fail", f"expected it to finish within {timeout:g} s; it did not")
    except Exception as exc:  # a gateway's answer the SDK could not take is a failure too
        return Result(case.name, "fail", f"expected no error, got {type(exc).__name__}: {exc}")
    return Result(case.name, "pass", note or "")


async def run_cases(
    cases: Iterable[Case],
    ctx: Context,
    *,
    allow_writes: bool,
    on_result: Callable[[Result], None] = lambda _: None,
) -> list[Result]:
    """Run ``cases`` in order (skipping those the flags rule out), then
    clean up what they created; ``on_result`` sees each result as it comes."""
    results = []
    try:
        for case in cases:
            reason = _skip_reason(case, ctx, allow_writes)
            result = Result(case.name, "skip", reason) if reason else await run_case(case, ctx)
            results.append(result)
            on_result(result)
    finally:
        await ctx.cleanup()
    return results


def report(target: str, sdk_version: str, results: Iterable[Result]) -> dict[str, Any]:
    """The JSON report: target, SDK version, every case, and the counts."""
    cases = [{"name": r.name, "outcome": r.outcome, "detail": r.detail} for r in results]
    summary = {
        outcome: sum(c["outcome"] == outcome for c in cases) for outcome in ("pass", "fail", "skip")
    }
    return {"target": target, "sdk_version": sdk_version, "cases": cases, "summary": summary}

"""``scaigrid jobs``: submit, list, get, cancel and watch training jobs."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence

from scaigrid_client import ScaiGrid, to_dict
from scaigrid_client._cli._command import Subcommands, add_command
from scaigrid_client._cli._common import call_options, enum_flag
from scaigrid_client._cli._errors import UsageError
from scaigrid_client._cli._output import Output, short_name
from scaigrid_client._messages import scaimind
from scaigrid_client._methods import enum_short_names

_job_state = enum_flag(scaimind.JobState, "--state")


def register(commands: Subcommands) -> None:
    jobs = add_command(commands, "jobs", "training jobs", "scaigrid jobs watch job-000001")
    actions = jobs.add_subparsers(
        dest="jobs_command", required=True, metavar="ACTION", parser_class=type(jobs)
    )
    submit = add_command(
        actions,
        "submit",
        "submit a training job",
        "scaigrid jobs submit --name ft-1 --base-model scailabs/poolnoodle-omni "
        "--gpus 2 --max-steps 100 --param learning_rate=3e-4",
        run_submit,
    )
    submit.add_argument("--name", required=True)
    submit.add_argument("--base-model", required=True)
    submit.add_argument("--gpus", type=int, required=True)
    submit.add_argument("--max-steps", type=int, required=True)
    submit.add_argument("--dataset")
    submit.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a hyperparameter"
    )
    listing = add_command(
        actions, "list", "list jobs, newest first", "scaigrid jobs list --state running", run_list
    )
    listing.add_argument(
        "--state",
        type=_job_state,
        metavar="STATE",
        help=f"only jobs in this state: {', '.join(enum_short_names(scaimind.JobState))} (any case)",
    )
    for name, help_text, handler in (
        ("get", "show a job", run_get),
        ("cancel", "cancel a job", run_cancel),
        ("watch", "follow a job's metrics until it ends; exit 0 if it succeeded", run_watch),
    ):
        sub = add_command(actions, name, help_text, f"scaigrid jobs {name} job-000001", handler)
        sub.add_argument("job_id", metavar="JOB_ID")


def _job_line(job: scaimind.Job) -> str:
    state = short_name(scaimind.JobState, job.state, "JOB_STATE_")
    spec = job.spec
    return (
        f"{job.id}\t{state}\tstep {job.current_step}/{spec.max_steps}\t"
        f"{spec.name}\t{spec.base_model}\tgpus={spec.gpus}"
    )


def _print_job(job: scaimind.Job, out: Output) -> None:
    if out.json:
        out.json_line(to_dict(job))
    else:
        out.line(_job_line(job))


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param: {pair!r} is not KEY=VALUE, e.g. --param learning_rate=3e-4")
        params[key] = value
    return params


async def run_submit(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    job = await grid.coordinator.submit_job(
        name=args.name,
        base_model=args.base_model,
        gpus=args.gpus,
        max_steps=args.max_steps,
        dataset=args.dataset or "",
        hyperparameters=_params(args.param),
        **call_options(args),
    )
    _print_job(job, out)
    return 0


async def run_list(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    jobs = await grid.coordinator.list_jobs(state=args.state, **call_options(args))
    if out.json:
        out.json_line([to_dict(job) for job in jobs])
    else:
        for job in jobs:
            out.line(_job_line(job))
    return 0


async def run_get(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _print_job(await grid.coordinator.get_job(args.job_id, **call_options(args)), out)
    return 0


async def run_cancel(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _print_job(await grid.coordinator.cancel_job(args.job_id, **call_options(args)), out)
    return 0


async def run_watch(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    options = call_options(args)
    job = await grid.coordinator.get_job(args.job_id, **options)
    total = job.spec.max_steps
    progress = None
    if out.tty and not out.json:
        with contextlib.suppress(ImportError):
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            progress = Progress(
                TextColumn(f"{job.id}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
            )
    task_id = progress.add_task("", total=total) if progress is not None else None
    with progress if progress is not None else contextlib.nullcontext():
        async for point in grid.coordinator.stream_metrics(job.id, **options):
            metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(point.values.items()))
            if out.json:
                out.json_line(to_dict(point))
            elif progress is not None and task_id is not None:
                progress.update(task_id, completed=point.step, description=metrics)
            else:
                out.line(f"step {point.step}/{total}\t{metrics}")
    job = await grid.coordinator.get_job(job.id, **options)
    state = short_name(scaimind.JobState, job.state, "JOB_STATE_")
    out.note(f"{job.id}: {state}")
    return 0 if job.state == scaimind.JOB_STATE_SUCCEEDED else 1

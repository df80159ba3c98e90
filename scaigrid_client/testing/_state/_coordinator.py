"""CoordinatorService's domain: training jobs and their metrics.

A job is QUEUED, then RUNNING one step per ``step_interval`` (a metrics
point each), then SUCCEEDED, on a task of the fake's loop; with
``step_interval=None`` it moves only when a test steps or finishes it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

import grpc

from scaigrid_client._messages import scaiinfer, scaimind
from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._names import enum_number, short_name
from scaigrid_client.testing._state._common import Ledger, now
from scaigrid_client.testing._state._persist import job_record, point_record
from scaigrid_client.testing._state._tables import JobEntry

__all__ = ["TERMINAL_JOB_STATES", "CoordinatorDomain"]

TERMINAL_JOB_STATES = frozenset(
    {scaimind.JOB_STATE_SUCCEEDED, scaimind.JOB_STATE_FAILED, scaimind.JOB_STATE_CANCELLED}
)


class CoordinatorDomain:
    """SubmitJob, GetJob, ListJobs, CancelJob and StreamMetrics."""

    def __init__(
        self, ledger: Ledger, models: dict[str, scaiinfer.Model], *, step_interval: float | None
    ) -> None:
        self._ledger = ledger
        self._models = models
        self.jobs = ledger.tables.jobs
        self.step_interval = step_interval

    def resume(self) -> None:
        """Run on the jobs a restarted fake found unfinished."""
        if self.step_interval is None:
            return  # they wait for the test, as before the restart
        for entry in self.jobs.values():
            if entry.job.state not in TERMINAL_JOB_STATES:
                entry.task = asyncio.get_running_loop().create_task(self._run_job(entry))

    def close(self) -> None:
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()

    def submit_job(self, request: scaimind.SubmitJobRequest) -> scaimind.Job:
        spec = request.spec
        if not spec.name:
            raise invalid("spec.name", "is required")
        if not spec.base_model:
            raise invalid("spec.base_model", "is required, for example 'scailabs/poolnoodle-omni'")
        if spec.base_model not in self._models:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND,
                "model_not_found",
                f"spec.base_model: model '{spec.base_model}' not found",
            )
        if spec.gpus < 1:
            raise invalid("spec.gpus", "must be at least 1")
        if spec.max_steps < 1:
            raise invalid("spec.max_steps", "must be at least 1")
        job = scaimind.Job(
            id=self._ledger.next_id("job"), state=scaimind.JOB_STATE_QUEUED, created_at=now()
        )
        job.spec.CopyFrom(spec)
        self._ledger.save(job_record(job))
        entry = JobEntry(job)
        self.jobs[job.id] = entry
        if self.step_interval is not None:
            entry.task = asyncio.get_running_loop().create_task(self._run_job(entry))
        self._ledger.notify()
        return job

    async def _run_job(self, entry: JobEntry) -> None:
        interval = self.step_interval
        assert interval is not None
        if entry.job.state == scaimind.JOB_STATE_QUEUED:
            await asyncio.sleep(interval)
            if entry.job.state == scaimind.JOB_STATE_QUEUED:  # (step_job may have started it)
                self._start(entry)
        # (from the step after the last one recorded: a restarted fake goes on;
        # a test's step_job may have stepped or finished it while this slept)
        while entry.job.state not in TERMINAL_JOB_STATES:
            await asyncio.sleep(interval)
            if entry.job.state not in TERMINAL_JOB_STATES:
                self._step(entry, None)

    def _start(self, entry: JobEntry) -> None:
        job = entry.job
        job.state = scaimind.JOB_STATE_RUNNING
        job.started_at.CopyFrom(now())
        self._ledger.save(job_record(job))
        self._ledger.notify()

    def _step(self, entry: JobEntry, metrics: Mapping[str, float] | None) -> None:
        """Record the job's next step (``metrics`` replacing or adding values)."""
        job = entry.job
        step = job.current_step + 1
        job.current_step = step
        if step == job.spec.max_steps:
            job.state = scaimind.JOB_STATE_SUCCEEDED
            job.finished_at.CopyFrom(now())
        progress = step / job.spec.max_steps
        lr = float(job.spec.hyperparameters.get("learning_rate", "0.0003") or 0.0003)
        values = {
            "loss": round(2.5 * math.exp(-3.0 * progress) + 0.1, 6),
            "learning_rate": lr * (1.0 - 0.9 * progress),
            "tokens_per_second": 1000.0 * job.spec.gpus,
        }
        values.update(metrics or {})
        entry.points.append(
            scaimind.StreamMetricsResponse(
                job_id=job.id,
                step=step,
                values=values,
                recorded_at=now(),
                job_state=job.state,
                epoch=self._ledger.epoch,
            )
        )
        self._ledger.save(job_record(job), point_record(job.id, entry.points[-1]))
        self._ledger.notify()

    # -- what a test does to a job (FakeScaiGrid.step_job, finish_job) -------------

    def _controlled(self, job_id: object) -> JobEntry:
        """The unfinished job a test names; ValueError or TypeError otherwise."""
        if not isinstance(job_id, str):
            raise TypeError(f"job_id: expected a str, got {type(job_id).__name__}")
        entry = self.jobs.get(job_id)
        if entry is None:
            raise ValueError(f"job_id: no job {job_id!r}; the fake has {sorted(self.jobs)}")
        if entry.job.state in TERMINAL_JOB_STATES:
            state = short_name(scaimind.JobState, entry.job.state)
            raise ValueError(f"job_id: job {job_id!r} is already {state}")
        return entry

    def step_job(
        self, job_id: str, steps: int, metrics: Mapping[str, float] | None
    ) -> scaimind.Job:
        """Start the job if queued, then record ``steps`` steps."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: must be an int of at least 1, got {steps!r}")
        overrides = _metrics(metrics)
        entry = self._controlled(job_id)
        left = entry.job.spec.max_steps - entry.job.current_step
        if steps > left:
            raise ValueError(
                f"steps: job {job_id!r} has {left} of its {entry.job.spec.max_steps} steps left"
            )
        if entry.job.state == scaimind.JOB_STATE_QUEUED:
            self._start(entry)
        for _ in range(steps):
            self._step(entry, overrides)
        return entry.job

    def finish_job(self, job_id: str, state: object, error: str | None) -> scaimind.Job:
        """End the job in a terminal ``state`` (with ``error`` if it failed)."""
        number = enum_number(state, scaimind.JobState, "state")
        if number not in TERMINAL_JOB_STATES:
            raise ValueError(
                f"state: {state!r} is not a terminal state; use succeeded, failed or cancelled"
            )
        if error is not None and not isinstance(error, str):
            raise TypeError(f"error: expected a str or None, got {type(error).__name__}")
        if error is not None and number != scaimind.JOB_STATE_FAILED:
            raise ValueError("error: only a failed job has an error message")
        entry = self._controlled(job_id)
        if entry.task is not None:
            entry.task.cancel()
        job = entry.job
        job.state = number  # type: ignore[assignment]
        job.finished_at.CopyFrom(now())
        if number == scaimind.JOB_STATE_FAILED:
            job.error_message = "job failed" if error is None else error
        self._ledger.save(job_record(job))
        self._ledger.notify()
        return job

    def job(self, job_id: str) -> JobEntry:
        if not job_id:
            raise invalid("job_id", "is required")
        entry = self.jobs.get(job_id)
        if entry is None:
            raise FakeError(grpc.StatusCode.NOT_FOUND, "job_not_found", f"job '{job_id}' not found")
        return entry

    def cancel_job(self, job_id: str) -> scaimind.Job:
        entry = self.job(job_id)
        job = entry.job
        if job.state == scaimind.JOB_STATE_CANCELLED:
            return job
        if job.state in TERMINAL_JOB_STATES:
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "invalid_state",
                f"job '{job_id}' already {short_name(scaimind.JobState, job.state)}",
            )
        if entry.task is not None:
            entry.task.cancel()
        job.state = scaimind.JOB_STATE_CANCELLED
        job.finished_at.CopyFrom(now())
        self._ledger.save(job_record(job))
        self._ledger.notify()
        return job


def _metrics(metrics: object) -> dict[str, float] | None:
    if metrics is None:
        return None
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"metrics: expected a mapping of str to float, got {type(metrics).__name__}"
        )
    for key, value in metrics.items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
        ):
            raise TypeError(f"metrics: expected a mapping of str to float, got {key!r}: {value!r}")
    return {key: float(value) for key, value in metrics.items()}

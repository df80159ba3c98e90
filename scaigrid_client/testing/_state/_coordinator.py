"""CoordinatorService's domain: training jobs and their metrics.

A job is QUEUED, then RUNNING one step per ``step_interval`` (a metrics
point each), then SUCCEEDED, on a task of the fake's loop.
"""

from __future__ import annotations

import asyncio
import math

import grpc

from scaigrid_client._messages import scaiinfer, scaimind
from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._names import short_name
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
        self, ledger: Ledger, models: dict[str, scaiinfer.Model], *, step_interval: float
    ) -> None:
        self._ledger = ledger
        self._models = models
        self.jobs = ledger.tables.jobs
        self.step_interval = step_interval

    def resume(self) -> None:
        """Run on the jobs a restarted fake found unfinished."""
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
        entry.task = asyncio.get_running_loop().create_task(self._run_job(entry))
        self._ledger.notify()
        return job

    async def _run_job(self, entry: JobEntry) -> None:
        job = entry.job
        if job.state == scaimind.JOB_STATE_QUEUED:
            await asyncio.sleep(self.step_interval)
            job.state = scaimind.JOB_STATE_RUNNING
            job.started_at.CopyFrom(now())
            self._ledger.save(job_record(job))
            self._ledger.notify()
        lr = float(job.spec.hyperparameters.get("learning_rate", "0.0003") or 0.0003)
        # (from the step after the last one recorded: a restarted fake goes on)
        for step in range(job.current_step + 1, job.spec.max_steps + 1):
            await asyncio.sleep(self.step_interval)
            job.current_step = step
            last = step == job.spec.max_steps
            if last:
                job.state = scaimind.JOB_STATE_SUCCEEDED
                job.finished_at.CopyFrom(now())
            progress = step / job.spec.max_steps
            entry.points.append(
                scaimind.StreamMetricsResponse(
                    job_id=job.id,
                    step=step,
                    values={
                        "loss": round(2.5 * math.exp(-3.0 * progress) + 0.1, 6),
                        "learning_rate": lr * (1.0 - 0.9 * progress),
                        "tokens_per_second": 1000.0 * job.spec.gpus,
                    },
                    recorded_at=now(),
                    job_state=job.state,
                    epoch=self._ledger.epoch,
                )
            )
            self._ledger.save(job_record(job), point_record(job.id, entry.points[-1]))
            self._ledger.notify()

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

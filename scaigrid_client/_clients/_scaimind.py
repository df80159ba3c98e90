"""`CoordinatorClient` and `ClusterClient`: the scaimind.v1 services (async source).

Training jobs and their metrics; GPU nodes and allocations. `tools/unasync.py`
writes `sync/_clients/_scaimind.py` from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typing_extensions import Unpack

from scaigrid_client._clients._client import _Client
from scaigrid_client._messages import scaimind
from scaigrid_client._methods import (
    ALLOCATE_GPUS,
    CANCEL_JOB,
    GET_JOB,
    LIST_JOBS,
    LIST_NODES,
    REGISTER_NODE,
    RELEASE_GPUS,
    STREAM_METRICS,
    SUBMIT_JOB,
    CallOptions,
    JobStateArg,
    StreamOptions,
    _at_least,
    _epoch,
    _resume_metrics,
    _text,
    enum_value,
)
from scaigrid_client._pager import Pager
from scaigrid_client._transport import (
    ServerStream,
)

__all__ = ["ClusterClient", "CoordinatorClient"]


class CoordinatorClient(_Client):
    """Training jobs and their live metrics."""

    async def submit_job(
        self,
        *,
        name: str,
        base_model: str,
        gpus: int,
        max_steps: int,
        dataset: str = "",
        hyperparameters: Mapping[str, str | int | float] | None = None,
        **options: Unpack[CallOptions],
    ) -> scaimind.Job:
        """Queue a training job.

        Safe to retry: the request id is its idempotency key, so a retry
        (the SDK's or yours, with the same ``request_id``) never makes a
        second job.

        Args:
            name: the job's display name.
            base_model: the model to fine-tune.
            gpus: GPUs to train on, at least 1.
            max_steps: training steps, at least 1.
            dataset: the dataset's URI.
            hyperparameters: names to values (sent as str).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The queued ``Job`` (``id``, ``state``, ``spec``, ...).

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        spec = scaimind.JobSpec(
            name=_text(name, "name"),
            base_model=_text(base_model, "base_model", "scailabs/poolnoodle-omni"),
            gpus=_at_least(gpus, 1, "gpus"),
            max_steps=_at_least(max_steps, 1, "max_steps"),
            dataset=dataset,
            hyperparameters={k: str(v) for k, v in (hyperparameters or {}).items()},
        )
        request = scaimind.SubmitJobRequest(spec=spec)
        return (await self._unary(SUBMIT_JOB, request, options)).job

    async def get_job(self, job_id: str, **options: Unpack[CallOptions]) -> scaimind.Job:
        """A job's current state and progress.

        Args:
            job_id: the job's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Job``.

        Raises:
            errors.NotFoundError: no such job.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaimind.GetJobRequest(job_id=_text(job_id, "job_id"))
        return (await self._unary(GET_JOB, request, options)).job

    async def list_jobs(
        self, *, state: JobStateArg | None = None, **options: Unpack[CallOptions]
    ) -> list[scaimind.Job]:
        """Jobs, newest first, every page of them.

        A gateway that caps its answers is asked for the next page until the
        list ends; see `iter_jobs` to read them a page at a time.

        Args:
            state: keep only jobs in this state: ``"queued"``, ``"running"``,
                ``"succeeded"``, ``"failed"``, ``"cancelled"`` (any case, the
                enum, or its number).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The jobs.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: ``state`` is not one of the names.
        """
        return [job async for job in self._jobs(state, 0, dict(options))]

    def iter_jobs(
        self,
        *,
        state: JobStateArg | None = None,
        page_size: int = 100,
        **options: Unpack[CallOptions],
    ) -> Pager[scaimind.Job]:
        """Jobs, newest first, fetched ``page_size`` at a time.

        Args:
            state: keep only jobs in this state (as in `list_jobs`).
            page_size: jobs per page, at least 1; default 100.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            A `Pager`: iterate it for the jobs, or ``.pages`` for the pages.
            Each page is a call of its own, with its retries and deadline.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.ScaiGridError: while iterating, when a page's call fails.
        """
        return self._jobs(state, _at_least(page_size, 1, "page_size"), dict(options))

    def _jobs(
        self, state: JobStateArg | None, page_size: int, options: dict[str, Any]
    ) -> Pager[scaimind.Job]:
        """``page_size`` 0: the gateway's own page size."""
        wanted = 0 if state is None else enum_value(state, scaimind.JobState, "state")
        request = scaimind.ListJobsRequest(state=wanted, page_size=page_size)  # type: ignore[arg-type]
        return Pager._walk(self._transport, LIST_JOBS, request, "jobs", self._options(options))

    async def cancel_job(self, job_id: str, **options: Unpack[CallOptions]) -> scaimind.Job:
        """Stop a queued or running job. Safe to retry.

        Args:
            job_id: the job's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Job``, now CANCELLED.

        Raises:
            errors.NotFoundError: no such job.
            errors.FailedPreconditionError: the job has already ended.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaimind.CancelJobRequest(job_id=_text(job_id, "job_id"))
        return (await self._unary(CANCEL_JOB, request, options)).job

    def stream_metrics(
        self,
        job_id: str,
        *,
        after_step: int = 0,
        epoch: str = "",
        **options: Unpack[StreamOptions],
    ) -> ServerStream[scaimind.StreamMetricsResponse]:
        """Metric points in step order; the stream ends when the job does.

        Resumes by itself after a dropped connection from the last step
        delivered: no gap, no duplicate.

        Args:
            job_id: the job's id.
            after_step: deliver the points after this step (a saved cursor:
                the last point's ``step``); default 0, from the start.
            epoch: the saved cursor's ``epoch``; the stream fails rather than
                skip or repeat when the gateway's history is another one.
            **options: stream options (`types.StreamOptions`): ``timeout``,
                ``idle_timeout``, ``request_id``, ``metadata``, ``retry``.

        Returns:
            The stream's handle; iterate it for the points.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.HistoryResetError: while reading, when ``epoch`` is not
                the gateway's.
            errors.ScaiGridError: while reading, when the stream fails.
        """
        request = scaimind.StreamMetricsRequest(
            job_id=_text(job_id, "job_id"),
            after_step=_at_least(after_step, 0, "after_step"),
            epoch=_epoch(epoch),
        )
        return self._stream(STREAM_METRICS, request, options, resume=_resume_metrics)


class ClusterClient(_Client):
    """GPU nodes and allocations."""

    async def register_node(
        self,
        *,
        node_id: str,
        gpus: int,
        address: str = "",
        gpu_type: str = "",
        gpu_memory_bytes: int = 0,
        labels: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> scaimind.Node:
        """Register a node and its GPUs, or replace its registration. Idempotent.

        Args:
            node_id: the node's id.
            gpus: its GPUs, at least 1.
            address: where it is reached (``host:port``).
            gpu_type: its GPUs' model, such as ``"H100"``.
            gpu_memory_bytes: memory per GPU, at least 0.
            labels: free-form labels.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Node`` as registered.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        request = scaimind.RegisterNodeRequest(
            node_id=_text(node_id, "node_id"),
            gpus=_at_least(gpus, 1, "gpus"),
            address=address,
            gpu_type=gpu_type,
            gpu_memory_bytes=_at_least(gpu_memory_bytes, 0, "gpu_memory_bytes"),
            labels=dict(labels or {}),
        )
        return (await self._unary(REGISTER_NODE, request, options)).node

    async def list_nodes(self, **options: Unpack[CallOptions]) -> list[scaimind.Node]:
        """Registered nodes, sorted by id, with their free GPUs; every page.

        Args:
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The nodes.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        return [node async for node in self._nodes(0, dict(options))]

    def iter_nodes(
        self, *, page_size: int = 100, **options: Unpack[CallOptions]
    ) -> Pager[scaimind.Node]:
        """Registered nodes, sorted by id, fetched ``page_size`` at a time.

        Args:
            page_size: nodes per page, at least 1; default 100.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            A `Pager`: iterate it for the nodes, or ``.pages`` for the pages.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.ScaiGridError: while iterating, when a page's call fails.
        """
        return self._nodes(_at_least(page_size, 1, "page_size"), dict(options))

    def _nodes(self, page_size: int, options: dict[str, Any]) -> Pager[scaimind.Node]:
        """``page_size`` 0: the gateway's own page size."""
        request = scaimind.ListNodesRequest(page_size=page_size)
        return Pager._walk(self._transport, LIST_NODES, request, "nodes", self._options(options))

    async def allocate_gpus(
        self, *, job_id: str, count: int, gpu_type: str = "", **options: Unpack[CallOptions]
    ) -> scaimind.Allocation:
        """Reserve GPUs for a job.

        Safe to retry: the request id is its idempotency key, so a retry
        never reserves twice.

        Args:
            job_id: the job the GPUs are for.
            count: how many, at least 1.
            gpu_type: the GPU model wanted; empty: any.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Allocation`` (``id``, ``count``, ``assignments``: node and GPU indices).

        Raises:
            errors.InsufficientGPUsError: not enough free GPUs.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        request = scaimind.AllocateGPUsRequest(
            job_id=_text(job_id, "job_id"), count=_at_least(count, 1, "count"), gpu_type=gpu_type
        )
        return (await self._unary(ALLOCATE_GPUS, request, options)).allocation

    async def release_gpus(
        self, allocation_id: str, **options: Unpack[CallOptions]
    ) -> scaimind.Allocation:
        """Return an allocation's GPUs to the pool. Releasing twice is harmless.

        Args:
            allocation_id: the allocation's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Allocation``, released.

        Raises:
            errors.NotFoundError: no such allocation.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaimind.ReleaseGPUsRequest(allocation_id=_text(allocation_id, "allocation_id"))
        return (await self._unary(RELEASE_GPUS, request, options)).allocation

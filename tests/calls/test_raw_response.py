"""raw_response(): every unary method's result with its request id, attempts
and response metadata, in both flavours, without an out-parameter; and the
deprecated call_info= still filled, with a warning."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import grpc
import pytest

from scaigrid_client import (
    CallInfo,
    ChatReply,
    RawResponse,
    RetryPolicy,
    ScaiGrid,
    raw_response,
    sync,
)
from scaigrid_client.testing import FakeScaiGrid
from tests.support import flavours

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
OMNI = "scailabs/poolnoodle-omni"


@pytest.mark.asyncio
async def test_async_details_of_a_retried_call(fake: FakeScaiGrid) -> None:
    fake.fail("CoordinatorService.SubmitJob", grpc.StatusCode.UNAVAILABLE, times=2)
    async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as grid:
        raw = await raw_response(
            grid.coordinator.submit_job,
            name="j",
            base_model=OMNI,
            gpus=1,
            max_steps=5,
            request_id="sub-1",
        )
        assert isinstance(raw, RawResponse)
        assert raw.result.spec.name == "j"
        assert (raw.request_id, raw.attempts) == ("sub-1", 3)
        assert dict(raw.initial_metadata)["x-request-id"] == "sub-1"
        got = await raw_response(grid.coordinator.get_job, raw.result.id)
        assert got.result.id == raw.result.id and got.attempts == 1
        assert got.request_id and got.request_id != "sub-1"
    assert [c.request_id for c in fake.calls("CoordinatorService.SubmitJob")] == ["sub-1"] * 3


@pytest.mark.asyncio
async def test_async_metadata_round_trips_and_chat_reply(fake: FakeScaiGrid) -> None:
    async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        raw = await raw_response(
            grid.inference.list_models,
            metadata={"x-echo-trace": "t-1", "x-echo-blob-bin": b"\x00\xff"},
        )
        assert [m.id for m in raw.result]
        for received in (dict(raw.initial_metadata), dict(raw.trailing_metadata)):
            assert received["x-echo-trace"] == "t-1"
            assert received["x-echo-blob-bin"] == b"\x00\xff"
        reply = await raw_response(
            grid.inference.infer, model=OMNI, messages=[{"role": "user", "content": "hi"}]
        )
        assert isinstance(reply.result, ChatReply)
        assert reply.result.request_id == reply.request_id != ""
        assert reply.result.attempts == reply.attempts == 1


@pytest.mark.asyncio
async def test_list_methods_give_the_last_pages_call(fake: FakeScaiGrid, grid: Any) -> None:
    """list_jobs and list_nodes read pages through a pager: the details are
    still there (those of the call that read the last page), in both flavours."""
    fake.fail("CoordinatorService.ListJobs", grpc.StatusCode.UNAVAILABLE, times=2)
    jobs = await flavours.raw_response(grid, "coordinator.list_jobs", request_id="lj-1")
    assert isinstance(jobs.result, list)
    assert (jobs.request_id, jobs.attempts) == ("lj-1", 3)
    assert dict(jobs.initial_metadata)["x-request-id"] == "lj-1"
    nodes = await flavours.raw_response(grid, "cluster.list_nodes")
    assert nodes.request_id and nodes.attempts == 1


@pytest.mark.asyncio
async def test_async_concurrent_calls_keep_their_own_details(fake: FakeScaiGrid) -> None:
    async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        raws = await asyncio.gather(
            *(raw_response(grid.inference.list_models, request_id=f"r{i}") for i in range(20))
        )
        assert [r.request_id for r in raws] == [f"r{i}" for i in range(20)]
        # The capture ends with the call: a plain call afterwards fills nothing.
        await grid.inference.list_models()
        assert all(r.attempts == 1 for r in raws)


@pytest.mark.asyncio
async def test_what_is_not_a_unary_call_is_refused_before_the_wire(fake: FakeScaiGrid) -> None:
    async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        for method in (
            grid.core.stream_events,
            grid.coordinator.iter_jobs,
            grid.close,
            grid.heartbeat.start_heartbeats,
            grid.inference.with_options,
            len,
        ):
            with pytest.raises(TypeError, match=r"raw_response: .* is not a unary method"):
                await raw_response(method, "c1")  # type: ignore[arg-type]
        assert await grid.inference.list_models()  # the client is still open
    assert fake.calls("CoreRuntimeService.StreamEvents") == []


@pytest.mark.asyncio
async def test_deprecated_call_info_still_filled_with_a_warning(fake: FakeScaiGrid) -> None:
    async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        info = CallInfo()
        with pytest.warns(DeprecationWarning, match=r"call_info= is deprecated.*raw_response"):
            await grid.inference.list_models(request_id="old", call_info=info)
        assert (info.request_id, info.attempts) == ("old", 1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await grid.inference.list_models()  # no warning without it


def test_sync_details_of_a_retried_call_and_threads() -> None:
    with (
        FakeScaiGrid() as fake,
        sync.ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as grid,
    ):
        fake.fail("InferenceService.Embed", grpc.StatusCode.UNAVAILABLE, times=1)
        raw = sync.raw_response(grid.inference.embed, model=OMNI, inputs=["a", "b"])
        assert isinstance(raw, sync.RawResponse)
        assert len(raw.result) == 2 and raw.attempts == 2
        assert raw.result.request_id == raw.request_id
        assert dict(raw.initial_metadata)["x-request-id"] == raw.request_id
        job = sync.raw_response(
            grid.with_options(timeout=5).coordinator.submit_job,
            name="s",
            base_model=OMNI,
            gpus=1,
            max_steps=2,
        )
        assert job.result.spec.name == "s" and job.attempts == 1
        with pytest.raises(TypeError, match="is not a unary method"):
            sync.raw_response(grid.core.stream_events, "c1")  # type: ignore[arg-type]

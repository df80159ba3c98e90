"""gRPC's interop transport cases through the SDK: large messages, metadata both
ways, status messages, unimplemented methods, deadlines on a sleeping server,
a thousand concurrent calls on one channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from scaigrid_client import RetryPolicy, ScaiGrid, errors, raw_response
from scaigrid_client._transport import Method
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer

OMNI = "scailabs/poolnoodle-omni"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def grid(fake: FakeScaiGrid) -> AsyncIterator[ScaiGrid]:
    async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as client:
        yield client


async def test_large_unary_response(grid: ScaiGrid) -> None:
    vectors = await grid.inference.embed(model=OMNI, inputs=[f"text {i}" for i in range(1100)])
    assert len(vectors) == 1100
    assert sum(len(v) for v in vectors) * 4 > 4 << 20  # over 4 MiB of floats


async def test_custom_metadata_round_trips(grid: ScaiGrid) -> None:
    info = await raw_response(
        grid.inference.list_models,
        metadata={"x-echo-trace": "t-123", "x-echo-blob-bin": b"\x00\xffbinary"},
        request_id="md-1",
    )
    initial, trailing = dict(info.initial_metadata), dict(info.trailing_metadata)
    for received in (initial, trailing):
        assert received["x-echo-trace"] == "t-123"
        assert received["x-echo-blob-bin"] == b"\x00\xffbinary"
        assert received["x-request-id"] == "md-1"


async def test_special_status_message_is_preserved(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    text = "\t\ttab\r\nCRLF and non-BMP \U0001f680 \u00fc"
    fake.fail("CoreRuntimeService.GetCore", grpc.StatusCode.UNKNOWN, message=text)
    with pytest.raises(errors.UnknownError) as info:
        await grid.core.get_core("x")
    assert info.value.message == text


async def test_unimplemented_method_is_typed(grid: ScaiGrid) -> None:
    missing: Method[scaiinfer.ListModelsRequest, scaiinfer.ListModelsResponse] = Method(
        name="InferenceService.Missing",
        path="/scaiinfer.v1.InferenceService/Missing",
        request_type=scaiinfer.ListModelsRequest,
        response_type=scaiinfer.ListModelsResponse,
        streaming=False,
    )
    with pytest.raises(errors.UnimplementedError) as info:
        await grid.inference._transport.unary(missing, scaiinfer.ListModelsRequest())
    assert info.value.status == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.attempts == 1
    missing_service = Method(
        name="Nope.Missing",
        path="/scaiinfer.v1.NopeService/Missing",
        request_type=scaiinfer.ListModelsRequest,
        response_type=scaiinfer.ListModelsResponse,
        streaming=False,
    )
    with pytest.raises(errors.UnimplementedError):
        await grid.inference._transport.unary(missing_service, scaiinfer.ListModelsRequest())


async def test_timeout_on_a_sleeping_server(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.delay("CoordinatorService.SubmitJob", seconds=1.0)
    with pytest.raises(errors.DeadlineExceededError) as info:
        await grid.coordinator.submit_job(
            name="slow", base_model=OMNI, gpus=1, max_steps=1, timeout=0.2
        )
    assert info.value.status == grpc.StatusCode.DEADLINE_EXCEEDED
    assert info.value.request_id
    assert len(fake.calls("CoordinatorService.SubmitJob")) == 1  # not retried


async def test_thousand_concurrent_unary_calls_on_one_channel(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    results = await asyncio.gather(
        *(grid.core.invoke_core(core_id=f"core-{i % 10}") for i in range(1000))
    )
    assert len({r.invocation_id for r in results}) == 1000
    assert sum(c.invocation_count for c in fake.state.cores.values()) == 1000

"""1.0: the public surface's shape (types and signatures a user writes against)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from scaigrid_client import RetryEvent, RetryPolicy, ServerStream, errors, sync
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore


@pytest.mark.parametrize("stream_type", [ServerStream, sync.ServerStream])
def test_server_stream_takes_one_type_parameter(stream_type: type) -> None:
    alias = stream_type[scaicore.StreamEventsResponse]  # type: ignore[index]
    assert alias.__args__ == (scaicore.StreamEventsResponse,)
    with pytest.raises(TypeError):
        stream_type[scaicore.StreamEventsRequest, scaicore.StreamEventsResponse]  # type: ignore[index]


@pytest.mark.asyncio
async def test_an_unknown_keyword_names_the_method_and_the_options(
    grid: Any, fake: FakeScaiGrid
) -> None:
    with pytest.raises(TypeError) as info:
        await grid.heartbeat.heartbeat(node_id="n1", gpus=8)
    text = str(info.value)
    assert text.startswith("heartbeat() got an unexpected keyword argument 'gpus'")
    assert "timeout, request_id, metadata, retry, call_info" in text
    assert "Transport" not in text and "unary" not in text
    with pytest.raises(TypeError, match=r"stream_events\(\) .* 'follow'.*idle_timeout"):
        grid.core.stream_events("c1", follow=True)
    assert fake.calls("HeartbeatService.Heartbeat") == []  # nothing was sent
    assert fake.calls("CoreRuntimeService.StreamEvents") == []


@pytest.mark.asyncio
async def test_a_resource_id_comes_first_by_position_or_keyword(grid: Any) -> None:
    """One rule: a method acting on one existing resource takes its id first."""
    invoked = await grid.core.invoke_core("core-ids", payload={"n": 1})
    assert invoked.instance.core_id == "core-ids"
    assert (await grid.core.passivate_core("core-ids")).core_id == "core-ids"
    assert (await grid.core.restore_core(core_id="core-ids")).core_id == "core-ids"
    assert (await grid.core.get_core("core-ids")).core_id == "core-ids"
    await grid.core.invoke_core(core_id="core-ids")  # by keyword, as before 1.0
    job = await grid.coordinator.submit_job(
        name="ids", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=5
    )
    assert (await grid.coordinator.get_job(job.id)).id == job.id
    assert (await grid.coordinator.cancel_job(job_id=job.id)).id == job.id


def test_every_id_first_method_takes_its_id_by_position() -> None:
    import inspect

    from scaigrid_client import CoordinatorClient, CoreRuntimeClient

    for method, name in [
        (CoreRuntimeClient.invoke_core, "core_id"),
        (CoreRuntimeClient.passivate_core, "core_id"),
        (CoreRuntimeClient.restore_core, "core_id"),
        (CoreRuntimeClient.get_core, "core_id"),
        (CoreRuntimeClient.stream_events, "core_id"),
        (CoordinatorClient.get_job, "job_id"),
        (CoordinatorClient.cancel_job, "job_id"),
        (CoordinatorClient.stream_metrics, "job_id"),
        (sync.CoreRuntimeClient.passivate_core, "core_id"),
    ]:
        first = list(inspect.signature(method).parameters.values())[1]
        assert (first.name, first.kind) == (name, first.POSITIONAL_OR_KEYWORD), method


@pytest.mark.asyncio
async def test_a_call_takes_its_own_retry_policy(grid: Any, fake: FakeScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=2)
    once = RetryPolicy(max_attempts=1)
    with pytest.raises(errors.UnavailableError):
        await grid.inference.list_models(retry=once)
    seen: list[RetryEvent] = []
    patient = RetryPolicy(max_attempts=3, initial_backoff=0.01, on_retry=seen.append)
    assert len(await grid.inference.list_models(retry=patient)) == 3
    assert [e.attempt for e in seen] == [1]  # the call's own on_retry saw its retry
    with pytest.raises(TypeError, match="retry: expected a RetryPolicy"):
        await grid.inference.list_models(retry=3)


@pytest.mark.asyncio
async def test_with_options_shares_the_channel_and_sets_defaults(
    grid: Any, fake: FakeScaiGrid
) -> None:
    tagged = grid.with_options(metadata={"x-team": "search"}, timeout=0.3)
    assert type(getattr(tagged, "client", tagged)) is type(getattr(grid, "client", grid))
    await tagged.inference.list_models(metadata={"x-call": "1"})
    (call,) = fake.calls("InferenceService.ListModels")
    assert call.metadata["x-team"] == "search" and call.metadata["x-call"] == "1"
    fake.delay("InferenceService.ListModels", seconds=0.6, times=2)
    with pytest.raises(
        errors.DeadlineExceededError, match=r"deadline of 0\.3 s .*\(timeout= of with_options\(\)"
    ):
        await tagged.inference.list_models()
    await tagged.inference.list_models(timeout=None)  # a call still says otherwise
    await tagged.close()  # shares the channel: closing it leaves the original open
    await grid.inference.list_models()
    assert "x-team" not in fake.calls("InferenceService.ListModels")[-1].metadata
    with pytest.raises(ValueError, match="timeout: must be a positive"):
        grid.with_options(timeout=0)


def test_constructors_do_not_show_private_keywords() -> None:
    import inspect

    from scaigrid_client import InferenceClient, ScaiGrid

    for cls in (ScaiGrid, InferenceClient, sync.ScaiGrid):
        assert not [p for p in inspect.signature(cls).parameters if p.startswith("_")], cls
    member = inspect.getattr_static(ScaiGrid, "core")
    assert isinstance(member, property) and "ScaiCore" in (member.__doc__ or "")


def test_the_types_in_public_signatures_are_exported() -> None:
    import inspect

    from scaigrid_client import types
    from scaigrid_client.testing import RetryOverrides

    assert {"CallOptions", "StreamOptions", "EnumArg", "TokenSource", "Proxy"} <= set(types.__all__)
    assert "initial_backoff" in RetryOverrides.__annotations__
    annotation = str(inspect.signature(sync.ScaiGrid).parameters["proxy"].annotation)
    assert annotation in types.__all__  # named by what the types module exports


@pytest.mark.asyncio
async def test_sdk_shaped_results_keep_the_response_and_the_request_id(grid: Any) -> None:
    hello = [{"role": "user", "content": "hello"}]
    reply = await grid.inference.infer(
        model="scailabs/poolnoodle-omni", messages=hello, request_id="req-infer-1"
    )
    assert reply.request_id == "req-infer-1" and reply.attempts == 1
    assert reply.content == reply.response.message.content
    vectors = await grid.inference.embed(
        model="scailabs/poolnoodle-omni", inputs=["a", "bb"], request_id="req-embed-1"
    )
    assert len(vectors) == 2 and isinstance(vectors[1][0], float)  # still a list of vectors
    assert vectors.indexes == [0, 1] and vectors.model == "scailabs/poolnoodle-omni"
    assert vectors.usage.prompt_tokens > 0 and vectors.request_id == "req-embed-1"
    assert [list(e.values) for e in vectors.response.embeddings] == list(vectors)

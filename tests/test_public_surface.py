"""1.0: the public surface's shape (types and signatures a user writes against)."""

from __future__ import annotations

from typing import Any

import pytest

from scaigrid_client import ServerStream, sync
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
    assert "timeout, request_id, metadata, call_info" in text
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

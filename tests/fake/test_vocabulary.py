"""One vocabulary: the fake's messages, event attributes and control-plane
JSON use the short enum names the SDK's `to_dict` prints."""

from __future__ import annotations

from typing import Any

import pytest

from scaigrid_client import errors, to_dict
from scaigrid_client.testing import FakeScaiGrid

pytestmark = pytest.mark.asyncio
OMNI = "scailabs/poolnoodle-omni"


async def test_event_attributes_say_the_short_state(grid: Any) -> None:
    await grid.core.invoke_core("core-v", payload=b"{}")
    await grid.core.passivate_core("core-v")
    seen = []
    async for event in grid.core.stream_events("core-v"):
        seen.append(dict(event.attributes))
        if len(seen) == 3:
            break
    assert [a["state"] for a in seen] == ["ACTIVE", "ACTIVE", "PASSIVATED"]


async def test_error_messages_say_the_short_state(fake: FakeScaiGrid, grid: Any) -> None:
    job = await grid.coordinator.submit_job(name="v", base_model=OMNI, gpus=1, max_steps=1)
    async for _ in grid.coordinator.stream_metrics(job.id):
        pass
    with pytest.raises(errors.FailedPreconditionError) as info:
        await grid.coordinator.cancel_job(job.id)
    assert info.value.message == f"job '{job.id}' already SUCCEEDED"


async def test_control_plane_json_is_to_dict(fake: FakeScaiGrid, grid: Any, control: Any) -> None:
    await grid.heartbeat.heartbeat(node_id="n1", health="degraded")
    await grid.core.invoke_core("core-j")
    state = (await control.get("/state")).json()
    assert state["cores"]["core-j"]["state"] == "ACTIVE"
    assert state["events"]["core-j"][0]["type"] == "ACTIVATED"
    assert state["events"]["core-j"][0]["attributes"] == {"state": "ACTIVE"}
    assert state["heartbeats"]["n1"][0]["request"]["health"] == "DEGRADED"
    assert state["models"][OMNI] == to_dict(fake.state.models[OMNI])
    calls = (await control.get("/calls", params={"method": "HeartbeatService.Heartbeat"})).json()
    assert calls["calls"][0]["request"]["health"] == "DEGRADED"
    assert calls["calls"][0]["status"] == "OK"


async def test_statuses_by_name_any_case(fake: FakeScaiGrid, grid: Any) -> None:
    fake.fail("InferenceService.ListModels", "unavailable", times=2)
    fake.fail("InferenceService.Embed", "Permission_Denied", code="budget_exceeded")
    assert len(await grid.inference.list_models()) == 3  # two retries
    with pytest.raises(errors.PermissionDeniedError):
        await grid.inference.embed(model=OMNI, inputs=["x"])
    assert fake.drop_streams("UNAVAILABLE") == 0
    for bad in ["OK", "nope", 14, None]:
        with pytest.raises(ValueError, match=r"^status:"):
            fake.fail("InferenceService.ListModels", bad)  # type: ignore[arg-type]

"""Issue 15, the ergonomic part of the contract: enum arguments by name and
per-method default deadlines, over both flavours against the real fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from scaigrid_client import RetryPolicy, ScaiGrid
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer, scaimind
from tests import flavours

OMNI = "scailabs/poolnoodle-omni"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=flavours.FLAVOURS)
async def grid(fake: FakeScaiGrid, request: pytest.FixtureRequest) -> AsyncIterator[ScaiGrid]:
    client = flavours.client(
        request.param, "ScaiGrid", fake.target, token=fake.token, tls=False, retry=FAST
    )
    async with client:
        yield client


# -- enum arguments by name ----------------------------------------------------------


async def test_list_jobs_state_by_any_name(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    job = await grid.coordinator.submit_job(name="e", base_model=OMNI, gpus=1, max_steps=99999)
    await grid.coordinator.cancel_job(job.id)
    for state in (
        "cancelled",
        "CANCELLED",
        " Cancelled ",
        "JOB_STATE_CANCELLED",
        "job_state_cancelled",
        5,
        scaimind.JOB_STATE_CANCELLED,
    ):
        assert [j.id for j in await grid.coordinator.list_jobs(state=state)] == [job.id]
    assert job.id not in [j.id for j in await grid.coordinator.list_jobs(state="running")]
    assert job.id in [j.id for j in await grid.coordinator.list_jobs()]  # None: every state
    sent = [c.request.state for c in fake.calls("CoordinatorService.ListJobs")]  # type: ignore[attr-defined]
    assert sent == [scaimind.JOB_STATE_CANCELLED] * 7 + [scaimind.JOB_STATE_RUNNING, 0]


async def test_list_models_capability_by_name(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    by_name = await grid.inference.list_models(capability="embeddings")
    by_value = await grid.inference.list_models(capability=scaiinfer.CAPABILITY_EMBEDDINGS)
    assert [m.id for m in by_name] == [m.id for m in by_value]
    assert all(scaiinfer.CAPABILITY_EMBEDDINGS in m.capabilities for m in by_name)
    chat = await grid.inference.list_models(capability="Capability_Chat")
    assert {m.id for m in chat} != {m.id for m in by_name}
    sent = [c.request.capability for c in fake.calls("InferenceService.ListModels")]  # type: ignore[attr-defined]
    assert sent == [2, 2, 1]


async def test_heartbeat_health_by_name(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    for health in ("draining", "NODE_HEALTH_DEGRADED", 3, scaiinfer.NODE_HEALTH_HEALTHY):
        await grid.heartbeat.heartbeat(node_id="n1", health=health)
    await grid.heartbeat.heartbeat(node_id="n1")  # the default: healthy
    sent = [c.request.health for c in fake.calls("HeartbeatService.Heartbeat")]  # type: ignore[attr-defined]
    assert sent == [4, 2, 3, 1, 1]


@pytest.mark.parametrize(
    ("method", "argument", "kwargs", "names"),
    [
        ("list_jobs", "state", {}, "queued, running, succeeded, failed, cancelled"),
        ("list_models", "capability", {}, "chat, embeddings"),
        ("heartbeat", "health", {"node_id": "n1"}, "healthy, degraded, unhealthy, draining"),
    ],
)
@pytest.mark.parametrize("bad", ["sleeping", "", 0, 99, -1, True, 2.0, None, "JOB_STATE_"])
async def test_an_unknown_enum_value_is_named_before_the_wire(
    fake: FakeScaiGrid,
    grid: ScaiGrid,
    method: str,
    argument: str,
    kwargs: dict[str, Any],
    names: str,
    bad: object,
) -> None:
    if bad is None and argument != "health":
        pytest.skip("None is 'no filter' for list_jobs and list_models")
    service = {"list_jobs": "coordinator", "list_models": "inference"}.get(method, "heartbeat")
    call = getattr(getattr(grid, service), method)
    with pytest.raises(ValueError, match=f"^{argument}: unknown value") as info:
        await call(**kwargs, **{argument: bad})
    assert str(info.value) == (
        f"{argument}: unknown value {bad!r}; use one of {names} (any case), "
        "the full name or the number"
    )
    assert fake.calls() == []

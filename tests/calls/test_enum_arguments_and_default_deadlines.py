"""Issue 15, the ergonomic part of the contract: enum arguments by name and
per-method default deadlines, over both flavours against the real fake."""

from __future__ import annotations

from typing import Any

import pytest

from scaigrid_client import RetryPolicy, ScaiGrid, _methods, errors
from scaigrid_client._call import Method
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer, scaimind
from tests.support import flavours

OMNI = "scailabs/poolnoodle-omni"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio


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
    with pytest.raises(ValueError, match=rf"^{argument}: unknown value") as info:
        await call(**kwargs, **{argument: bad})
    assert str(info.value) == (
        f"{argument}: unknown value {bad!r}; use one of {names} (any case), "
        "the full name or the number"
    )
    assert fake.calls() == []


# -- default deadlines -----------------------------------------------------------------


async def test_unary_calls_get_their_methods_default_deadline(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    await grid.inference.list_models()
    await grid.inference.infer(model=OMNI, messages=[{"role": "user", "content": "Hi"}])
    await grid.heartbeat.heartbeat(node_id="n1")
    await grid.core.invoke_core(core_id="c1", payload="x")
    await grid.core.passivate_core(core_id="c1")
    sent = {c.method: c.time_remaining for c in fake.calls()}
    expected = {
        "InferenceService.ListModels": _methods.QUICK_DEADLINE,
        "InferenceService.Infer": _methods.LONG_DEADLINE,
        "HeartbeatService.Heartbeat": _methods.HEARTBEAT_DEADLINE,
        "CoreRuntimeService.InvokeCore": _methods.LONG_DEADLINE,
        "CoreRuntimeService.PassivateCore": _methods.STATE_CHANGE_DEADLINE,
    }
    assert sent.keys() == expected.keys()
    for method, remaining in sent.items():
        assert remaining is not None
        # (grpc-timeout goes on the wire rounded up: allow a hair over)
        assert expected[method] - 2 < remaining <= expected[method] * 1.02, method


async def test_every_unary_method_has_a_default_and_no_stream_does() -> None:
    methods = [m for m in vars(_methods).values() if isinstance(m, Method)]
    assert len(methods) == 19
    for method in methods:
        if method.streaming:
            assert method.default_timeout is None, method
        else:
            assert method.default_timeout in (10.0, 30.0, 120.0, 300.0), method


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_timeout_none_means_no_deadline(fake: FakeScaiGrid, flavour: str) -> None:
    # Even with the client's own default set: an explicit None is no deadline.
    async with flavours.client(
        flavour, "ScaiGrid", fake.target, token=fake.token, tls=False, timeout=5
    ) as grid:
        await grid.inference.list_models(timeout=None)
        await grid.inference.list_models()
        await grid.inference.list_models(timeout=2)
        job = await grid.coordinator.submit_job(name="d", base_model=OMNI, gpus=1, max_steps=2)
        assert len([p async for p in grid.coordinator.stream_metrics(job.id)]) == 2
        assert len([p async for p in grid.coordinator.stream_metrics(job.id, timeout=None)]) == 2
        stream = grid.coordinator.stream_metrics(job.id, timeout=3)
        assert len([p async for p in stream]) == 2
    listed = [c.time_remaining for c in fake.calls("InferenceService.ListModels")]
    assert listed[0] is None  # no grpc-timeout on the wire
    assert listed[1] is not None and 4 < listed[1] <= 5.1  # the client's timeout=
    assert listed[2] is not None and 1 < listed[2] <= 2.1  # the call's
    # Streams get no default deadline: the client's timeout= is for unary calls.
    streamed = [c.time_remaining for c in fake.calls("CoordinatorService.StreamMetrics")]
    assert streamed[:2] == [None, None]
    assert streamed[2] is not None and 2 < streamed[2] <= 3.1


async def test_a_methods_default_deadline_fires_and_is_named(
    fake: FakeScaiGrid, grid: ScaiGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the real defaults are 10 s and more: shortened here, on the real Method)
    monkeypatch.setattr(_methods.LIST_MODELS, "default_timeout", 0.3)
    monkeypatch.setattr(_methods.ALLOCATE_GPUS, "default_timeout", 0.3)
    fake.delay("InferenceService.ListModels", seconds=2, times=1)
    with pytest.raises(errors.DeadlineExceededError) as info:
        await grid.inference.list_models()
    assert info.value.message == (
        "the call's deadline of 0.3 s ran out after 1 attempt "
        "(the default deadline of list_models; pass timeout= to change it)"
    )
    fake.delay("ClusterService.AllocateGPUs", seconds=2, times=1)
    with pytest.raises(errors.DeadlineExceededError, match="default deadline of allocate_gpus;"):
        await grid.cluster.allocate_gpus(job_id="j", count=1)
    # The call's own timeout= wins over the method's default.
    fake.delay("InferenceService.ListModels", seconds=0.5, times=1)
    assert await grid.inference.list_models(timeout=5)


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
@pytest.mark.parametrize("bad", [0, -1, float("nan")])
async def test_a_bad_timeout_is_named_before_the_wire(
    fake: FakeScaiGrid, flavour: str, bad: float
) -> None:
    async with flavours.client(
        flavour, "ScaiGrid", fake.target, token=fake.token, tls=False
    ) as grid:
        with pytest.raises(ValueError, match=r"^timeout: must be a positive number of seconds"):
            await grid.inference.list_models(timeout=bad)
    assert fake.calls() == []

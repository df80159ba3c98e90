"""Jobs a test moves by hand: `FakeScaiGrid(step_interval=None)`,
`fake.step_job` and `fake.finish_job`, through the SDK (both flavours) and
the control plane."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from scaigrid_client import to_dict
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.testing._control import ControlServer
from scaigrid_client.v1 import scaimind
from tests.support import flavours

pytestmark = pytest.mark.asyncio
OMNI = "scailabs/poolnoodle-omni"


@pytest_asyncio.fixture(params=flavours.FLAVOURS)
async def manual(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeScaiGrid, Any]]:
    async with FakeScaiGrid(step_interval=None) as fake:
        grid = flavours.client(request.param, "ScaiGrid", fake.target, token=fake.token, tls=False)
        async with grid:
            yield fake, grid


async def submit(grid: Any, steps: int = 3) -> Any:
    return await grid.coordinator.submit_job(name="j", base_model=OMNI, gpus=2, max_steps=steps)


async def test_jobs_wait_for_the_test_and_step_when_told(
    manual: tuple[FakeScaiGrid, Any],
) -> None:
    fake, grid = manual
    job = await submit(grid)
    await asyncio.sleep(0.05)
    assert (await grid.coordinator.get_job(job.id)).state == scaimind.JOB_STATE_QUEUED
    stepped = fake.step_job(job.id)
    assert (stepped.state, stepped.current_step) == (scaimind.JOB_STATE_RUNNING, 1)
    seen = await grid.coordinator.get_job(job.id)
    assert (seen.state, seen.current_step) == (scaimind.JOB_STATE_RUNNING, 1)

    points: list[Any] = []

    async def watch() -> None:
        async for point in grid.coordinator.stream_metrics(job.id):
            points.append(point)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    assert [p.step for p in points] == [1] and not watcher.done()
    last = fake.step_job(job.id, steps=2, metrics={"loss": 0.25, "accuracy": 0.9})
    await asyncio.wait_for(watcher, 5)  # the last step ends the stream
    assert last.state == scaimind.JOB_STATE_SUCCEEDED
    assert [p.step for p in points] == [1, 2, 3]
    assert points[2].values["loss"] == 0.25 and points[2].values["accuracy"] == 0.9
    assert points[2].values["tokens_per_second"] == 2000.0
    assert points[2].job_state == scaimind.JOB_STATE_SUCCEEDED


@pytest.mark.parametrize("state", ["failed", "FAILED", "JOB_STATE_FAILED", 4])
async def test_finish_failed_ends_the_stream_and_get_job_says_why(
    manual: tuple[FakeScaiGrid, Any], state: object
) -> None:
    fake, grid = manual
    assert scaimind.JOB_STATE_FAILED == 4
    job = await submit(grid)
    fake.step_job(job.id)
    stream = grid.coordinator.stream_metrics(job.id)
    points: list[Any] = []

    async def watch() -> None:
        async for point in stream:
            points.append(point)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    finished = fake.finish_job(job.id, state, error="out of memory on gpu 1")
    await asyncio.wait_for(watcher, 5)
    assert [p.step for p in points] == [1]
    assert finished.state == scaimind.JOB_STATE_FAILED
    seen = await grid.coordinator.get_job(job.id)
    assert to_dict(seen)["state"] == "FAILED"
    assert seen.error_message == "out of memory on gpu 1"
    assert seen.finished_at.seconds > 0
    # A stream opened afterwards replays and ends at once.
    assert [p.step async for p in grid.coordinator.stream_metrics(job.id)] == [1]


@pytest.mark.parametrize("state", ["succeeded", "cancelled"])
async def test_finish_in_other_states(manual: tuple[FakeScaiGrid, Any], state: str) -> None:
    fake, grid = manual
    job = await submit(grid)
    fake.finish_job(job.id, state)
    seen = await grid.coordinator.get_job(job.id)
    assert to_dict(seen)["state"] == state.upper() and seen.error_message == ""
    failed = fake.finish_job((await submit(grid)).id)
    assert failed.error_message == "job failed"


async def test_step_job_also_works_on_a_job_that_steps_itself() -> None:
    async with FakeScaiGrid(step_interval=30) as fake, fake.client() as grid:
        job = await submit(grid, steps=2)
        assert fake.step_job(job.id, steps=2).state == scaimind.JOB_STATE_SUCCEEDED
        assert [p.step async for p in grid.coordinator.stream_metrics(job.id)] == [1, 2]
    # Interleaved with its own steps, it never steps past the last one.
    async with FakeScaiGrid(step_interval=0.01) as fake, fake.client() as grid:
        job = await submit(grid, steps=6)
        await asyncio.sleep(0.03)
        left = 6 - fake.state.jobs[job.id].current_step
        if left:
            fake.step_job(job.id, steps=left)
        await asyncio.sleep(0.05)
        points = [p.step async for p in grid.coordinator.stream_metrics(job.id)]
        assert points == [1, 2, 3, 4, 5, 6]
        assert fake.state.jobs[job.id].state == scaimind.JOB_STATE_SUCCEEDED


async def test_bad_arguments_name_themselves(manual: tuple[FakeScaiGrid, Any]) -> None:
    fake, grid = manual
    job = await submit(grid, steps=2)
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: fake.step_job("job-999999"), ValueError, "job_id"),
        (lambda: fake.step_job(7), TypeError, "job_id"),
        (lambda: fake.step_job(job.id, steps=0), ValueError, "steps"),
        (lambda: fake.step_job(job.id, steps=3), ValueError, "steps"),
        (lambda: fake.step_job(job.id, metrics={"loss": "low"}), TypeError, "metrics"),
        (lambda: fake.step_job(job.id, metrics=[1]), TypeError, "metrics"),
        (lambda: fake.finish_job(job.id, "running"), ValueError, "state"),
        (lambda: fake.finish_job(job.id, "sleeping"), ValueError, "state"),
        (lambda: fake.finish_job(job.id, "succeeded", error="x"), ValueError, "error"),
        (lambda: fake.finish_job(job.id, error=3), TypeError, "error"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=f"^{name}:"):
            call()
    fake.finish_job(job.id, "cancelled")
    with pytest.raises(ValueError, match=r"^job_id: job 'job-000001' is already CANCELLED"):
        fake.step_job(job.id)
    with pytest.raises(ValueError, match=r"^step_interval:"):
        FakeScaiGrid(step_interval=-1)


async def test_control_plane(manual: tuple[FakeScaiGrid, Any]) -> None:
    import httpx

    fake, grid = manual
    job = await submit(grid)
    control = ControlServer(fake).start()
    try:
        async with httpx.AsyncClient(base_url=control.url, timeout=10) as http:
            body = {"job_id": job.id, "steps": 2, "metrics": {"loss": 1.5}}
            answer = (await http.post("/step_job", json=body)).json()
            assert (answer["state"], answer["current_step"]) == ("RUNNING", 2)
            answer = await http.post(
                "/finish_job", json={"job_id": job.id, "state": "JOB_STATE_FAILED", "error": "nan"}
            )
            assert (answer.json()["state"], answer.json()["error_message"]) == ("FAILED", "nan")
            for path, bad, field in [
                ("/step_job", {}, "job_id"),
                ("/step_job", {"job_id": job.id}, "job_id"),  # finished
                ("/step_job", {"job_id": "job-1", "steps": "2"}, "steps"),
                ("/finish_job", {"job_id": job.id, "state": "paused"}, "state"),
            ]:
                answer = await http.post(path, json=bad)
                assert answer.status_code == 400, answer.text
                assert answer.json()["error"].startswith(f"{field}:")
    finally:
        await asyncio.to_thread(control.close)
    points = [p async for p in grid.coordinator.stream_metrics(job.id)]
    assert [p.values["loss"] for p in points] == [1.5, 1.5]

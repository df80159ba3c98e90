"""`fake.sync_client()` and the `scaigrid_sync_client` fixture: a sync
ScaiGrid tuned for tests, as `fake.client()` is for async ones."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from scaigrid_client import errors, sync
from scaigrid_client.testing import FakeScaiGrid


def test_threaded_fake_retries_fast() -> None:
    with FakeScaiGrid() as fake, fake.sync_client() as grid:
        assert isinstance(grid, sync.ScaiGrid)
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=3)
        started = time.monotonic()
        assert len(grid.inference.list_models()) == 3
        assert time.monotonic() - started < 1.5  # the default policy would wait ~3.5 s
        assert len(fake.calls("InferenceService.ListModels")) == 4


def test_fixture(scaigrid_fake: FakeScaiGrid, scaigrid_sync_client: sync.ScaiGrid) -> None:
    scaigrid_fake.fail("CoordinatorService.SubmitJob", grpc.StatusCode.UNAVAILABLE, times=2)
    job = scaigrid_sync_client.coordinator.submit_job(
        name="j", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=2
    )
    assert list(scaigrid_fake.state.jobs) == [job.id]  # one job for three attempts


def test_fixture_may_be_closed_by_the_test(scaigrid_sync_client: sync.ScaiGrid) -> None:
    with scaigrid_sync_client as grid:
        grid.inference.list_models()


def test_overrides_and_tls() -> None:
    with FakeScaiGrid(tls=True) as fake:
        token = fake.issue_token(scopes=["scaicore"])
        with fake.sync_client(token=token, timeout=5) as grid:
            grid.core.invoke_core("c1")
            with pytest.raises(errors.PermissionDeniedError):
                grid.inference.list_models()


@pytest.mark.asyncio
async def test_async_fake_from_a_worker_thread() -> None:
    async with FakeScaiGrid() as fake:
        grid = fake.sync_client()

        def use() -> int:
            with grid:
                return len(grid.inference.list_models())

        assert await asyncio.to_thread(use) == 3


def test_needs_a_running_fake() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        FakeScaiGrid().sync_client()
    with FakeScaiGrid() as fake, pytest.raises(TypeError):
        fake.sync_client(colour="blue")

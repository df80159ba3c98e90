"""FakeScaiGrid(state_dir=...): the fake's state survives a restart, as a
gateway's does; without it every start is a new history."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from scaigrid_client import ServerStream
from scaigrid_client.testing import FakeScaiGrid

pytestmark = pytest.mark.asyncio
T = TypeVar("T")


async def test_state_survives_a_restart(tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(state_dir=tmp_path, step_interval=0.01) as fake:
        token = fake.token
        async with fake.client() as grid:
            await grid.core.invoke_core(core_id="c", payload={"n": 1})
            await grid.core.passivate_core(core_id="c")
            job = await grid.coordinator.submit_job(
                name="ft",
                base_model="scailabs/poolnoodle-omni",
                gpus=1,
                max_steps=40,
                request_id="submit-1",
            )
            await grid.cluster.register_node(node_id="n1", gpus=4)
            allocation = await grid.cluster.allocate_gpus(job_id=job.id, count=3)
            await grid.heartbeat.heartbeat(node_id="n1")
            while (await grid.coordinator.get_job(job.id)).current_step < 5:
                await asyncio.sleep(0.01)
        before = fake.state
        epoch = before.events["c"][0].epoch
    async with FakeScaiGrid(state_dir=tmp_path, token=token, step_interval=0.01) as again:
        after = again.state
        assert [e.sequence for e in after.events["c"]] == [1, 2, 3]
        assert after.events["c"] == before.events["c"]
        assert {e.epoch for e in after.events["c"]} == {epoch}
        assert after.cores["c"] == before.cores["c"]
        assert after.nodes["n1"].gpus_free == 1
        assert after.allocations[allocation.id] == allocation
        assert len(after.heartbeats["n1"]) == 1
        async with again.client() as grid:
            # The idempotency key outlives the restart: no second job.
            same = await grid.coordinator.submit_job(
                name="ft",
                base_model="scailabs/poolnoodle-omni",
                gpus=1,
                max_steps=40,
                request_id="submit-1",
            )
            assert same.id == job.id
            # The job goes on from where it was, to the end, without a gap.
            steps = [p.step async for p in grid.coordinator.stream_metrics(job.id)]
            assert steps == list(range(1, 41))
            # A cursor from before the restart resumes.
            tail = grid.core.stream_events("c", after_sequence=2, epoch=epoch)
            async with tail:
                assert [e.sequence async for e in _first(tail, 1)] == [3]
            second = await grid.coordinator.submit_job(
                name="ft2", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=1
            )
            assert second.id != job.id  # counters continue too


async def _first(stream: ServerStream[T], n: int) -> AsyncIterator[T]:
    async for item in stream:
        yield item
        n -= 1
        if n == 0:
            return


async def test_a_torn_last_line_is_dropped(tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(state_dir=tmp_path) as fake, fake.client() as grid:
        await grid.core.invoke_core(core_id="c")
    journal = tmp_path / "state.jsonl"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"k":"event","id":"c","t":"scaicore.v1.Str')  # a kill mid-write
    async with FakeScaiGrid(state_dir=tmp_path) as fake:
        assert [e.sequence for e in fake.state.events["c"]] == [1, 2]
    assert journal.read_bytes().endswith(b"\n")  # rewritten whole


async def test_without_a_state_dir_or_after_reset_it_is_a_new_epoch(
    tmp_path: pathlib.Path,
) -> None:
    epochs = set()
    for _ in range(2):
        async with FakeScaiGrid() as fake, fake.client() as grid:
            await grid.core.invoke_core(core_id="c")
            epochs.add(fake.state.events["c"][0].epoch)
    async with FakeScaiGrid(state_dir=tmp_path) as fake, fake.client() as grid:
        await grid.core.invoke_core(core_id="c")
        epochs.add(fake.state.events["c"][0].epoch)
        fake.reset()
        await grid.core.invoke_core(core_id="c")
        epochs.add(fake.state.events["c"][0].epoch)
    async with FakeScaiGrid(state_dir=tmp_path) as fake:
        epochs.add(fake.state.events["c"][0].epoch)  # the reset one, kept
    assert len(epochs) == 4

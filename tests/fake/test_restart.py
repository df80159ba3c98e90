"""`fake.restart(keep_state=...)`: a restart in place, in the `async with`
form, the threaded form and on the control plane, seen through the SDK
(both flavours) and a raw channel."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import grpc
import pytest

from scaigrid_client import errors, sync
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.testing._control import ControlServer
from scaigrid_client.v1 import scaiinfer
from tests.support import flavours
from tests.support.fake_calls import auth


async def tail(grid: Any, core_id: str, count: int, **kwargs: Any) -> list[int]:
    seen = []
    async for event in grid.core.stream_events(core_id, **kwargs):
        seen.append(event.sequence)
        if len(seen) == count:
            break
    return seen


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_keep_state_tails_ride_it_out(flavour: str) -> None:
    async with FakeScaiGrid() as fake:
        token = fake.issue_token()
        grid = flavours.client(
            flavour, "ScaiGrid", fake.target, token=token, tls=False, retry=fake.retry_policy()
        )
        async with grid:
            await grid.core.invoke_core("c1")  # events 1, 2
            watcher = asyncio.create_task(tail(grid, "c1", 3))
            await asyncio.sleep(0.05)
            port, epoch = fake.port, fake.epoch
            await fake.restart()
            assert (fake.port, fake.epoch) == (port, epoch)
            await grid.core.invoke_core("c1")  # event 3, on a new connection
            assert await asyncio.wait_for(watcher, 10) == [1, 2, 3]
            stream_calls = fake.calls("CoreRuntimeService.StreamEvents")
            assert stream_calls[0].code == "service_draining"
            assert stream_calls[-1].request.after_sequence == 2  # resumed, no gap


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_new_epoch_forgets_state_and_tokens(flavour: str) -> None:
    async with FakeScaiGrid() as fake:
        issued = fake.issue_token()
        grid = flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=False, retry=fake.retry_policy()
        )
        async with grid:
            await grid.core.invoke_core("c1")
            events = fake.state.events["c1"]
            old_epoch = fake.epoch
            await fake.restart(keep_state=False)
            assert fake.epoch != old_epoch and dict(fake.state.cores) == {}
            with pytest.raises(errors.HistoryResetError):
                await tail(grid, "c1", 1, after_sequence=2, epoch=events[-1].epoch)
            with pytest.raises(errors.NotFoundError):
                await grid.core.get_core("c1")
        async with flavours.client(flavour, "ScaiGrid", fake.target, token=issued, tls=False) as g:
            with pytest.raises(errors.AuthenticationError):
                await g.inference.list_models()


@pytest.mark.asyncio
async def test_every_connection_is_closed() -> None:
    async with (
        FakeScaiGrid(token_interval=0.05) as fake,
        grpc.aio.insecure_channel(fake.target) as channel,
    ):
        stub = scaiinfer.InferenceServiceStub(channel)
        request = scaiinfer.InferenceRequest(
            model="scailabs/poolnoodle-omni",
            messages=[scaiinfer.ChatMessage(role="user", content="hi")],
            max_tokens=100,
        )
        stream = stub.StreamInference(request, metadata=auth(fake.token))
        await stream.read()
        assert channel.get_state() == grpc.ChannelConnectivity.READY
        await fake.restart()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            while await stream.read() is not grpc.aio.EOF:
                pass
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        for _ in range(100):  # the connection goes; grpc notices shortly
            if channel.get_state() != grpc.ChannelConnectivity.READY:
                break
            await asyncio.sleep(0.01)
        assert channel.get_state() != grpc.ChannelConnectivity.READY
        models = await stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(fake.token))
        assert len(models.models) == 3


def test_threaded_form_blocks_until_done(tmp_path: pathlib.Path) -> None:
    with FakeScaiGrid(state_dir=tmp_path) as fake, fake.sync_client() as grid:
        assert isinstance(grid, sync.ScaiGrid)
        grid.core.invoke_core("c1")
        epoch = fake.epoch
        fake.restart()
        assert fake.epoch == epoch and grid.core.get_core("c1").invocation_count == 1
        fake.restart(keep_state=False)
        assert fake.epoch != epoch
        with pytest.raises(errors.NotFoundError):
            grid.core.get_core("c1")
    # The directory started over too: a fake started on it finds the new epoch.
    with FakeScaiGrid(state_dir=tmp_path) as again:
        assert again.epoch != epoch and dict(again.state.cores) == {}


@pytest.mark.asyncio
async def test_fixture_form_from_an_async_test(scaigrid_fake: FakeScaiGrid) -> None:
    async with scaigrid_fake.client() as grid:
        await grid.core.invoke_core("c1")
        await scaigrid_fake.restart()  # done already; awaiting is fine
        assert (await grid.core.get_core("c1")).invocation_count == 1


def test_bad_arguments() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        FakeScaiGrid().restart()
    with FakeScaiGrid() as fake, pytest.raises(TypeError, match=r"^keep_state:"):
        fake.restart(keep_state="no")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_control_plane() -> None:
    import httpx

    async with FakeScaiGrid() as fake, fake.client() as grid:
        await grid.core.invoke_core("c1")
        control = ControlServer(fake).start()
        try:
            async with httpx.AsyncClient(base_url=control.url, timeout=10) as http:
                epoch = fake.epoch
                assert (await http.post("/restart")).json() == {"epoch": epoch}
                assert (await grid.core.get_core("c1")).invocation_count == 1
                answer = (await http.post("/restart", json={"keep_state": False})).json()
                assert answer["epoch"] == fake.epoch != epoch
                bad = await http.post("/restart", json={"keep_state": "no"})
                assert bad.status_code == 400 and bad.json()["error"].startswith("keep_state:")
        finally:
            await asyncio.to_thread(control.close)
        with pytest.raises(errors.NotFoundError):
            await grid.core.get_core("c1")


def test_tls_fake_restarts_with_its_certificates_and_keeps_the_tests_setup() -> None:
    with FakeScaiGrid(tls=True) as fake, fake.sync_client() as grid:
        fake.script_reply("scripted", when="hello")
        fake.fail("InferenceService.Embed", "internal", times=1)
        fake.restart(keep_state=False)
        reply = grid.inference.infer(
            model="scailabs/poolnoodle-omni", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.content == "scripted"  # scripts and faults are the test's: they stay
        with pytest.raises(errors.InternalError):
            grid.inference.embed(model="scailabs/poolnoodle-omni", inputs=["x"])
        assert [c.method for c in fake.calls()][-2:] == [
            "InferenceService.Infer",
            "InferenceService.Embed",
        ]


@pytest.mark.asyncio
async def test_unix_socket_restart_with_a_policy_that_waits_out_the_backoff(
    tmp_path: pathlib.Path,
) -> None:
    async with FakeScaiGrid(host=f"unix:{tmp_path / 'fake.sock'}") as fake:
        slower = fake.retry_policy(initial_backoff=0.1, max_backoff=0.5)
        async with fake.client(retry=slower) as grid:
            await grid.core.invoke_core("c1")
            await fake.restart()
            assert (await grid.core.get_core("c1")).invocation_count == 1
    assert not (tmp_path / "fake.sock").exists()

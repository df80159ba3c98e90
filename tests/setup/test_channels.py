"""Channels and call behaviour: balancing (and a gateway killed under it),
plaintext warning, compression, idle timeouts, retry logging, loop-free
construction, documented names."""

from __future__ import annotations

import asyncio
import inspect
import logging

import grpc
import pytest

import scaigrid_client
from scaigrid_client import InferenceClient, RetryPolicy, ScaiGrid, errors
from scaigrid_client.testing import FakeScaiGrid
from tests.support.standalone import Standalone

OMNI = "scailabs/poolnoodle-omni"
HI = [{"role": "user", "content": "Hi"}]
TOKEN = "sgst_reliability_suite"


@pytest.mark.asyncio
async def test_round_robin_over_several_gateways() -> None:
    token = "sgst_shared_token"
    async with (
        FakeScaiGrid(token=token) as a,
        FakeScaiGrid(token=token) as b,
        FakeScaiGrid(token=token) as c,
    ):
        target = "ipv4:" + ",".join(f.target for f in (a, b, c))
        async with InferenceClient(target, token=token, tls=False) as client:
            # round_robin uses the gateways that are connected: let all three connect.
            for _ in range(3):
                await client.list_models()
            await asyncio.sleep(0.3)
            for f in (a, b, c):
                f.reset()
            for _ in range(30):
                await client.list_models()
        counts = [len(f.calls("InferenceService.ListModels")) for f in (a, b, c)]
    assert sum(counts) == 30
    assert all(n >= 5 for n in counts), counts


@pytest.mark.asyncio
async def test_plaintext_token_to_remote_host_warns_once(
    fake: FakeScaiGrid, caplog: pytest.LogCaptureFixture
) -> None:
    # The target names a remote host; the bytes go to the fake over loopback
    # through the caller's own channel.
    async with grpc.aio.insecure_channel(fake.target) as channel:
        async with InferenceClient(
            "gateway.example.com", token=fake.token, tls=False, channel=channel
        ) as client:
            await client.list_models()
            await client.list_models()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "plaintext" in warnings[0].getMessage()
        assert fake.token not in caplog.text
        # A channel passed in is not closed with the client.
        await channel.channel_ready()
    caplog.clear()
    async with InferenceClient(fake.target, token=fake.token, tls=False) as client:
        await client.list_models()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.asyncio
async def test_gzip_is_opt_in(fake: FakeScaiGrid) -> None:
    async with InferenceClient(
        fake.target, token=fake.token, tls=False, compression=grpc.Compression.Gzip
    ) as client:
        vectors = await client.embed(model=OMNI, inputs=["compress me " * 100])
    assert len(vectors[0]) == 1024
    assert fake.calls("InferenceService.Embed")[0].status == grpc.StatusCode.OK


@pytest.mark.asyncio
async def test_idle_timeout(fake: FakeScaiGrid) -> None:
    fake.token_interval = 0.5
    async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
        stream = grid.inference.stream_inference(
            model=OMNI, messages=HI, max_tokens=5, idle_timeout=0.1, timeout=10
        )
        with pytest.raises(errors.StreamIdleTimeoutError) as info:
            await stream.__anext__()
        assert info.value.request_id == stream.request_id
        assert isinstance(info.value, errors.DeadlineExceededError)
        # A resumable stream reconnects after a stall instead of failing.
        await grid.core.invoke_core(core_id="c")
        events = grid.core.stream_events("c", idle_timeout=0.1)
        seen = [(await events.__anext__()).sequence for _ in range(2)]
        await asyncio.sleep(0)
        invoke = asyncio.create_task(_invoke_later(grid))
        seen.append((await asyncio.wait_for(events.__anext__(), 5)).sequence)
        await invoke
        await events.aclose()
    assert seen == [1, 2, 3]
    assert len(fake.calls("CoreRuntimeService.StreamEvents")) >= 2


async def _invoke_later(grid: ScaiGrid) -> None:
    await asyncio.sleep(0.35)
    await grid.core.invoke_core(core_id="c")


@pytest.mark.asyncio
async def test_retries_are_logged_at_info(
    fake: FakeScaiGrid, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scaigrid_client")
    fake.fail(
        "InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, code="backend_unavailable"
    )
    async with InferenceClient(
        fake.target, token=fake.token, tls=False, retry=RetryPolicy(initial_backoff=0.01)
    ) as client:
        await client.list_models(request_id="logged-id")
    (record,) = [r for r in caplog.records if r.levelno == logging.INFO]
    message = record.getMessage()
    assert "attempt 1 of 5" in message
    assert "logged-id" in message
    assert "UNAVAILABLE (backend_unavailable)" in message
    assert fake.token not in caplog.text


def test_constructors_outside_any_event_loop() -> None:
    # No running loop, no network: constructing never blocks and never needs one.
    clients = [
        cls("localhost", token="sgst_x")
        for cls in (
            scaigrid_client.InferenceClient,
            scaigrid_client.HeartbeatClient,
            scaigrid_client.CoordinatorClient,
            scaigrid_client.ClusterClient,
            scaigrid_client.CoreRuntimeClient,
            scaigrid_client.ScaiGrid,
        )
    ]
    assert all("localhost:50051" in repr(c) for c in clients)
    with pytest.raises(TypeError, match="tls"):
        InferenceClient("localhost", token="x", tls="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        InferenceClient("localhost", token="x", timeout=0)


def test_every_public_name_is_documented() -> None:
    missing = []
    for name in scaigrid_client.__all__:
        obj = getattr(scaigrid_client, name)
        if name.startswith("__") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not callable(member):
                    continue
                if not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert missing == []


@pytest.mark.asyncio
async def test_round_robin_survives_a_killed_gateway() -> None:
    gateways = [Standalone(TOKEN).start() for _ in range(3)]
    try:
        target = "ipv4:" + ",".join(g.target for g in gateways)
        retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5)
        async with InferenceClient(target, token=TOKEN, tls=False, retry=retry) as client:
            for _ in range(6):
                await client.list_models()
            done = 0

            async def caller() -> None:
                nonlocal done
                for _ in range(40):
                    await client.list_models(timeout=20)
                    done += 1

            callers = [asyncio.create_task(caller()) for _ in range(5)]
            while done < 50:
                await asyncio.sleep(0.005)
            gateways[1].kill()  # under load, without a goodbye
            await asyncio.gather(*callers)  # raises if any call failed
            assert done == 200
    finally:
        for gateway in gateways:
            gateway.stop()

"""Retries across a backoff sleep and across a gateway's restart: a cancelled
call stops at once; a restarted gateway needs no new client, and the default
policy rides out a restart with calls in flight."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from scaigrid_client import InferenceClient, RetryPolicy
from scaigrid_client.testing import FakeScaiGrid
from tests.support.standalone import Standalone

TOKEN = "sgst_reliability_suite"
pytestmark = pytest.mark.asyncio


async def test_cancelling_during_a_backoff_sleep_stops_at_once(fake: FakeScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=10)
    slow = RetryPolicy(initial_backoff=1.0, max_backoff=1.0, jitter=0)
    async with InferenceClient(fake.target, token=fake.token, tls=False, retry=slow) as client:
        task = asyncio.create_task(client.list_models())
        while not fake.calls("InferenceService.ListModels"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # now in the 1 s backoff sleep
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 0.5)
        await asyncio.sleep(1.2)  # past when the retry would have gone out
    assert len(fake.calls("InferenceService.ListModels")) == 1


async def test_a_restarted_standalone_gateway_needs_no_new_client() -> None:
    gateway = Standalone(TOKEN).start()
    retry = RetryPolicy(initial_backoff=0.5, max_backoff=2.0, jitter=0)
    try:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False, retry=retry) as client:
            assert len(await client.list_models()) == 3
            gateway.stop()
            gateway.start()  # same port
            assert len(await client.list_models(timeout=20)) == 3
    finally:
        gateway.stop()


@pytest.mark.serial
@pytest.mark.slow
async def test_default_policy_rides_out_a_restart_with_calls_in_flight() -> None:
    gateway = Standalone(TOKEN).start()
    try:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False) as client:
            await client.list_models()
            stopped = asyncio.Event()
            results: list[int] = []

            async def caller() -> None:
                for _ in range(6):
                    results.append(len(await client.list_models()))
                    if len(results) >= 10:
                        await stopped.wait()

            callers = [asyncio.create_task(caller()) for _ in range(5)]
            while len(results) < 10:
                await asyncio.sleep(0.01)
            down = time.monotonic()
            gateway.stop()  # down for about two seconds, calls in flight
            stopped.set()
            await asyncio.sleep(2.0)
            gateway.start()
            down = time.monotonic() - down
            if down > 5.0:  # (a loaded machine: the fake took seconds to start)
                pytest.skip(f"the restart took {down:.1f} s, not the few seconds this is about")
            await asyncio.gather(*callers)  # the default RetryPolicy, no call fails
        assert results == [3] * 30
    finally:
        gateway.stop()

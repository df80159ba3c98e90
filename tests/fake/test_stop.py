"""`fake.stop()`: what calls that reach a stopping fake see."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer
from tests.support.fake_calls import auth, error_code

pytestmark = pytest.mark.asyncio
LIST = "InferenceService.ListModels"


@pytest.mark.serial  # the drain's 10 ms must cover grpc's hand-over: not beside xdist
async def test_calls_reaching_a_stopping_fake_end_unavailable_not_cancelled() -> None:
    """grpc-core ends CANCELLED (not retried) a call it accepted but had not
    handed to a handler when the server stops; the fake drains first, so each
    such call is answered UNAVAILABLE service_draining, as a gateway would."""
    fake = await FakeScaiGrid().start()
    try:
        async with grpc.aio.insecure_channel(fake.target) as channel:
            stub = scaiinfer.InferenceServiceStub(channel)
            answered = 0

            async def caller() -> grpc.aio.AioRpcError:
                nonlocal answered
                while True:
                    try:
                        await stub.ListModels(
                            scaiinfer.ListModelsRequest(), metadata=auth(fake.token)
                        )
                    except grpc.aio.AioRpcError as err:
                        return err
                    answered += 1

            callers = [asyncio.create_task(caller()) for _ in range(8)]
            while answered < 40:
                await asyncio.sleep(0.005)
            await fake.stop()
            ends = await asyncio.wait_for(asyncio.gather(*callers), 10)
    finally:
        await fake.stop()
    assert {err.code() for err in ends} == {grpc.StatusCode.UNAVAILABLE}, [
        (err.code(), err.details()) for err in ends
    ]
    drained = [err for err in ends if error_code(err) == "service_draining"]
    assert drained, "no call reached the fake while it drained"
    journal = [call for call in fake.calls(LIST) if call.code == "service_draining"]
    assert len(journal) >= len(drained)

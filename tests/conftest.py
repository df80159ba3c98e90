from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from scaigrid_client import RetryPolicy
from scaigrid_client.testing import Call, FakeScaiGrid
from tests import flavours
from tests.scaikey_stub import scaikey  # noqa: F401 - a fixture for every test module


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeScaiGrid]:
    async with FakeScaiGrid(step_interval=0.005) as server:
        yield server


@pytest_asyncio.fixture
async def channel(fake: FakeScaiGrid) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(fake.target) as ch:
        yield ch


def auth(token: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *extra.items())


async def ended(call: Call, within: float = 2.0) -> Call:
    """The journaled call, once the fake has seen it end (or ``within`` passed)."""
    for _ in range(int(within / 0.01)):
        if call.ended is not None:
            break
        await asyncio.sleep(0.01)
    return call


@pytest_asyncio.fixture(params=flavours.FLAVOURS)
async def grid(fake: FakeScaiGrid, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A ScaiGrid for the fake with fast retries, once per flavour: the client
    contract runs against both (see tests/flavours.py)."""
    fast = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    client = flavours.client(
        request.param, "ScaiGrid", fake.target, token=fake.token, tls=False, retry=fast
    )
    async with client:
        yield client

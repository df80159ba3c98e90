from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from scaigrid_client import RetryPolicy
from scaigrid_client.testing import FakeScaiGrid
from tests.support import flavours
from tests.support.scaikey_stub import ScaiKeyStub


def pytest_configure(config: pytest.Config) -> None:
    # Started in the background by a shell without job control (a CI step,
    # `make test &`), this process has SIGINT ignored, and an ignored signal
    # stays ignored in every child: the CLI under test would never see the
    # Ctrl-C the suite sends it. What a terminal gives a foreground process:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeScaiGrid]:
    async with FakeScaiGrid(step_interval=0.005) as server:
        yield server


@pytest_asyncio.fixture
async def channel(fake: FakeScaiGrid) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(fake.target) as ch:
        yield ch


@pytest_asyncio.fixture(params=flavours.FLAVOURS)
async def grid(fake: FakeScaiGrid, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A ScaiGrid for the fake with fast retries, once per flavour: the client
    contract runs against both (see tests/support/flavours.py)."""
    fast = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    client = flavours.client(
        request.param, "ScaiGrid", fake.target, token=fake.token, tls=False, retry=fast
    )
    async with client:
        yield client


@pytest_asyncio.fixture
async def control(fake: FakeScaiGrid) -> AsyncIterator[Any]:
    """The fake's HTTP control plane (as `scaigrid fake --control-port` serves
    it), in process, and an httpx.AsyncClient for it."""
    import httpx

    from scaigrid_client.testing._control import ControlServer

    server = ControlServer(fake).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        await asyncio.to_thread(server.close)


@pytest.fixture
def scaikey() -> Iterator[ScaiKeyStub]:
    """A real OAuth2 token endpoint on loopback (tests/support/scaikey_stub.py)."""
    stub = ScaiKeyStub()
    thread = threading.Thread(target=stub.server.serve_forever, daemon=True)
    thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()

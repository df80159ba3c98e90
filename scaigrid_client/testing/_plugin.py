"""pytest plugin: the ``scaigrid_fake``, ``scaigrid_client`` and
``scaigrid_sync_client`` fixtures.

Registered through the ``pytest11`` entry point. It imports nothing heavy
until a fixture is used, so installing the SDK never slows pytest down.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from scaigrid_client import ScaiGrid, sync
    from scaigrid_client.testing import FakeScaiGrid


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "scaigrid_fake(**options): FakeScaiGrid options for this test's scaigrid_fake fixture, "
        "e.g. scaigrid_fake(step_interval=0.001, record_responses=True)",
    )


@pytest.fixture
def scaigrid_fake(request: pytest.FixtureRequest) -> Iterator[FakeScaiGrid]:
    """A running FakeScaiGrid with fresh state, torn down after the test.

    It runs on its own thread and event loop (``with FakeScaiGrid()``), so it
    serves sync tests and async tests alike, whatever loop scope
    pytest-asyncio gives them. Its options are FakeScaiGrid's defaults (a
    free loopback port, plaintext, jobs stepping every 10 ms); mark a test
    (or module, or class) ``@pytest.mark.scaigrid_fake(**options)`` to pass
    it others: ``@pytest.mark.scaigrid_fake(step_interval=None, tls=True)``.
    The marker closest to the test wins.

    Args:
        request: pytest's, for the marker.

    Yields:
        The running fake; it is stopped after the test.

    Raises:
        TypeError: The marker has positional arguments, or an option that
            is not a FakeScaiGrid keyword.
        ValueError: An option's value is not valid (the message names it).
    """
    from scaigrid_client.testing import FakeScaiGrid

    marker = request.node.get_closest_marker("scaigrid_fake")
    options = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        raise TypeError("@pytest.mark.scaigrid_fake takes keyword options only")
    with FakeScaiGrid(**options) as fake:
        yield fake


@pytest.fixture
def scaigrid_client(scaigrid_fake: FakeScaiGrid) -> Iterator[ScaiGrid]:
    """``scaigrid_fake.client()``: a ScaiGrid for the fake, with fast retries.

    A plain fixture, so it needs no async plugin: the client is created
    without a loop and connects on the test's loop at its first call. For
    other client keywords, make one in the test:
    ``async with scaigrid_fake.client(timeout=5) as grid:``.

    Args:
        scaigrid_fake: The fake it connects to (configured by its marker).

    Yields:
        The ScaiGrid, with the fake's target, token and TLS and
        ``scaigrid_fake.retry_policy()``; it is closed after the test
        (closing it in the test as well is fine).
    """
    grid = scaigrid_fake.client()
    yield grid
    _close(grid)


@pytest.fixture
def scaigrid_sync_client(scaigrid_fake: FakeScaiGrid) -> Iterator[sync.ScaiGrid]:
    """``scaigrid_fake.sync_client()``: a sync ScaiGrid for the fake, with fast
    retries, for sync tests.

    For other client keywords, make one in the test:
    ``with scaigrid_fake.sync_client(timeout=5) as grid:``.

    Args:
        scaigrid_fake: The fake it connects to (configured by its marker).

    Yields:
        The ``scaigrid_client.sync.ScaiGrid``, with the fake's target, token
        and TLS and ``scaigrid_fake.retry_policy()``; it is closed after the
        test (closing it in the test as well is fine).
    """
    grid = scaigrid_fake.sync_client()
    yield grid
    grid.close()


def _close(grid: ScaiGrid) -> None:
    # By now the test's loop may be closed (pytest-asyncio closes a
    # function-scoped loop before plain fixtures' teardown), so close on a
    # loop of our own, in a thread of its own in case this one runs a loop.
    # The channel's calls have ended with the test; closing it then only
    # releases grpc-core's channel, which any thread may do.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(grid.close())
        except BaseException as exc:  # reported on the test's thread
            failure.append(exc)

    closer = threading.Thread(target=run, name="scaigrid-client-close")
    closer.start()
    closer.join()
    if failure:
        raise failure[0]

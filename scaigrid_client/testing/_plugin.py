"""pytest plugin: the ``scaigrid_fake`` fixture.

Registered through the ``pytest11`` entry point. It imports nothing heavy
until the fixture is used, so installing the SDK never slows pytest down.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
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

    It runs on its own thread and event loop, so it serves sync tests and
    async tests alike, whatever loop scope pytest-asyncio gives them. Mark a
    test (or module, or class) ``@pytest.mark.scaigrid_fake(**options)`` to
    pass it FakeScaiGrid options.
    """
    from scaigrid_client.testing import FakeScaiGrid

    marker = request.node.get_closest_marker("scaigrid_fake")
    options = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        raise TypeError("@pytest.mark.scaigrid_fake takes keyword options only")
    with FakeScaiGrid(**options) as fake:
        yield fake

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


@pytest.fixture
def scaigrid_fake() -> Iterator[FakeScaiGrid]:
    """A running FakeScaiGrid with fresh state, torn down after the test.

    It runs on its own thread and event loop, so it serves sync tests and
    async tests alike, whatever loop scope pytest-asyncio gives them.
    """
    from scaigrid_client.testing import FakeScaiGrid

    with FakeScaiGrid() as fake:
        yield fake

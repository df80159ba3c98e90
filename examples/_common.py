"""Shared by the examples: connect to a real gateway when SCAIGRID_TARGET is
set, otherwise start the bundled fake in process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from scaigrid_client import RetryPolicy, ScaiGrid
from scaigrid_client.testing import FakeScaiGrid


@contextlib.asynccontextmanager
async def connect(
    retry: RetryPolicy | None = None, **fake_options: float
) -> AsyncIterator[tuple[ScaiGrid, FakeScaiGrid | None]]:
    """``(grid, fake)``: a ScaiGrid for SCAIGRID_TARGET and SCAIGRID_SERVICE_TOKEN
    (``fake`` is None), or for a fresh in-process fake."""
    if os.environ.get("SCAIGRID_TARGET"):
        plaintext = os.environ.get("SCAIGRID_PLAINTEXT") == "1"
        async with ScaiGrid(tls=not plaintext, retry=retry) as grid:
            yield grid, None
        return
    async with FakeScaiGrid(**fake_options) as fake:  # type: ignore[arg-type]
        print(f"(running against the bundled fake ScaiGrid at {fake.target})")
        async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=retry) as grid:
            yield grid, fake

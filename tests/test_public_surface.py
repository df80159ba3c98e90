"""1.0: the public surface's shape (types and signatures a user writes against)."""

from __future__ import annotations

from typing import Any

import pytest

from scaigrid_client import ServerStream, sync
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore


@pytest.mark.parametrize("stream_type", [ServerStream, sync.ServerStream])
def test_server_stream_takes_one_type_parameter(stream_type: type) -> None:
    alias = stream_type[scaicore.StreamEventsResponse]  # type: ignore[index]
    assert alias.__args__ == (scaicore.StreamEventsResponse,)
    with pytest.raises(TypeError):
        stream_type[scaicore.StreamEventsRequest, scaicore.StreamEventsResponse]  # type: ignore[index]


@pytest.mark.asyncio
async def test_an_unknown_keyword_names_the_method_and_the_options(
    grid: Any, fake: FakeScaiGrid
) -> None:
    with pytest.raises(TypeError) as info:
        await grid.heartbeat.heartbeat(node_id="n1", gpus=8)
    text = str(info.value)
    assert text.startswith("heartbeat() got an unexpected keyword argument 'gpus'")
    assert "timeout, request_id, metadata, call_info" in text
    assert "Transport" not in text and "unary" not in text
    with pytest.raises(TypeError, match=r"stream_events\(\) .* 'follow'.*idle_timeout"):
        grid.core.stream_events("c1", follow=True)
    assert fake.calls("HeartbeatService.Heartbeat") == []  # nothing was sent
    assert fake.calls("CoreRuntimeService.StreamEvents") == []

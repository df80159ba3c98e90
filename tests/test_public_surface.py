"""1.0: the public surface's shape (types and signatures a user writes against)."""

from __future__ import annotations

import pytest

from scaigrid_client import ServerStream, sync
from scaigrid_client.v1 import scaicore


@pytest.mark.parametrize("stream_type", [ServerStream, sync.ServerStream])
def test_server_stream_takes_one_type_parameter(stream_type: type) -> None:
    alias = stream_type[scaicore.StreamEventsResponse]  # type: ignore[index]
    assert alias.__args__ == (scaicore.StreamEventsResponse,)
    with pytest.raises(TypeError):
        stream_type[scaicore.StreamEventsRequest, scaicore.StreamEventsResponse]  # type: ignore[index]

"""`fake.emit_event`: events a test chooses reach live `stream_events`
tails and resumes, through the SDK (both flavours) and the control plane."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scaigrid_client import to_dict
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore

pytestmark = pytest.mark.asyncio


async def tail(grid: Any, core_id: str, count: int, **kwargs: Any) -> list[Any]:
    events = []
    async for event in grid.core.stream_events(core_id, **kwargs):
        events.append(event)
        if len(events) == count:
            break
    return events


async def test_a_live_tail_and_a_resume_get_it(fake: FakeScaiGrid, grid: Any) -> None:
    await grid.core.invoke_core("c1", payload=b"{}")  # events 1 and 2
    watcher = asyncio.create_task(tail(grid, "c1", 4))
    await asyncio.sleep(0.05)
    emitted = fake.emit_event("c1", "invoked", {"note": "from the test"})
    assert (emitted.sequence, emitted.epoch) == (3, fake.state.events["c1"][0].epoch)
    fake.drop_streams()  # the tail resumes after 3, with no gap
    await asyncio.sleep(0.05)
    fake.emit_event("c1", "EVENT_TYPE_PASSIVATED")
    events = await asyncio.wait_for(watcher, 5)
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    third = to_dict(events[2])
    assert (third["type"], third["attributes"]) == (
        "INVOKED",
        {"state": "ACTIVE", "note": "from the test"},
    )
    assert to_dict(events[3])["type"] == "PASSIVATED"
    # The core's state is not changed by an event.
    assert (await grid.core.get_core("c1")).state == scaicore.CORE_STATE_ACTIVE
    resumed = await tail(grid, "c1", 1, after_sequence=3, epoch=events[2].epoch)
    assert [e.sequence for e in resumed] == [4]


async def test_types_by_any_name_and_attributes_override(fake: FakeScaiGrid, grid: Any) -> None:
    await grid.core.invoke_core("c2")
    fake.emit_event("c2", scaicore.EVENT_TYPE_RESTORED, {"state": "WARMING"})
    fake.emit_event("c2", "Activated")
    events = await tail(grid, "c2", 4)
    assert [to_dict(e)["type"] for e in events[2:]] == ["RESTORED", "ACTIVATED"]
    assert events[2].attributes["state"] == "WARMING"


async def test_bad_arguments_name_themselves(fake: FakeScaiGrid, grid: Any) -> None:
    await grid.core.invoke_core("c3")
    for call, error, name in [
        (lambda: fake.emit_event("nope", "invoked"), ValueError, "core_id"),
        (lambda: fake.emit_event(3, "invoked"), TypeError, "core_id"),
        (lambda: fake.emit_event("c3", "exploded"), ValueError, "type"),
        (lambda: fake.emit_event("c3", 0), ValueError, "type"),
        (lambda: fake.emit_event("c3", "invoked", {"n": 1}), TypeError, "attributes"),
        (lambda: fake.emit_event("c3", "invoked", ["x"]), TypeError, "attributes"),
    ]:
        with pytest.raises(error, match=f"^{name}:"):
            call()
    assert len(fake.state.events["c3"]) == 2  # nothing was appended


async def test_control_plane(fake: FakeScaiGrid, grid: Any, control: Any) -> None:
    await grid.core.invoke_core("c4")
    body = {"core_id": "c4", "type": "invoked", "attributes": {"k": "v"}}
    answer = (await control.post("/emit_event", json=body)).json()
    assert (answer["sequence"], answer["type"], answer["attributes"]["k"]) == (3, "INVOKED", "v")
    assert [e.sequence for e in await tail(grid, "c4", 3)] == [1, 2, 3]
    for bad, field in [
        ({"core_id": "c4"}, "type"),
        ({"type": "invoked"}, "core_id"),
        ({"core_id": "c4", "type": "bad"}, "type"),
        ({"core_id": "zz", "type": "invoked"}, "core_id"),
    ]:
        answer = await control.post("/emit_event", json=bad)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"{field}:")

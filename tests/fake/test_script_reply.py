"""`fake.script_reply`: chat calls answer a chosen text, through the SDK
(both flavours) and the control plane."""

from __future__ import annotations

from typing import Any

import pytest

from scaigrid_client import errors
from scaigrid_client.testing import FakeScaiGrid

pytestmark = pytest.mark.asyncio
OMNI = "scailabs/poolnoodle-omni"
MINI = "scailabs/poolnoodle-mini"


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


async def streamed(grid: Any, text: str, **kwargs: Any) -> tuple[list[str], Any]:
    chunks = [
        c async for c in grid.inference.stream_inference(model=OMNI, messages=ask(text), **kwargs)
    ]
    return [c.delta.content for c in chunks[:-1]], chunks[-1]


async def test_streamed_token_by_token_with_usage(fake: FakeScaiGrid, grid: Any) -> None:
    fake.script_reply("Refunds take 5 days.", when="refund")
    tokens, last = await streamed(grid, "How do refunds work?")
    assert tokens == ["Refunds", " take", " 5", " days."]
    assert last.finish_reason == 1  # STOP
    assert last.usage.completion_tokens == 4
    assert last.usage.total_tokens == last.usage.prompt_tokens + 4
    reply = await grid.inference.infer(model=OMNI, messages=ask("refund please"))
    assert reply.content == "Refunds take 5 days."
    assert reply.finish_reason.name == "STOP"
    # Unmatched calls keep the deterministic text.
    other = await grid.inference.infer(model=OMNI, messages=ask("hello"))
    assert other.content != "Refunds take 5 days."
    assert other.content == (await grid.inference.infer(model=OMNI, messages=ask("hello"))).content


async def test_max_tokens_and_stop_behave_as_for_generated_text(
    fake: FakeScaiGrid, grid: Any
) -> None:
    fake.script_reply("one two three four five")
    reply = await grid.inference.infer(model=OMNI, messages=ask("x"), max_tokens=2)
    assert (reply.content, reply.finish_reason.name) == ("one two", "LENGTH")
    assert reply.usage.completion_tokens == 2
    reply = await grid.inference.infer(model=OMNI, messages=ask("x"), max_tokens=5)
    assert (reply.content, reply.finish_reason.name) == ("one two three four five", "STOP")
    reply = await grid.inference.infer(model=OMNI, messages=ask("x"), stop=["thr"])
    assert (reply.content, reply.finish_reason.name) == ("one two ", "STOP")
    tokens, last = await streamed(grid, "x", stop=[" four"])
    assert tokens == ["one", " two", " three"] and last.usage.completion_tokens == 3


async def test_newest_first_times_model_and_predicate(fake: FakeScaiGrid, grid: Any) -> None:
    fake.script_reply("old", when="order")
    fake.script_reply("new", when="order", times=2)
    fake.script_reply("mini only", model=MINI)
    fake.script_reply("long talk", when=lambda messages: len(messages) > 2)
    answers = [
        (await grid.inference.infer(model=OMNI, messages=ask("my order?"))).content
        for _ in range(3)
    ]
    assert answers == ["new", "new", "old"]
    assert (await grid.inference.infer(model=MINI, messages=ask("hi"))).content == "mini only"
    three = [*ask("a"), {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert (await grid.inference.infer(model=OMNI, messages=three)).content == "long talk"
    # The last *user* message is matched, not any message.
    turns = [{"role": "user", "content": "order"}, {"role": "user", "content": "thanks"}]
    reply = await grid.inference.infer(model=OMNI, messages=turns)
    assert reply.content not in {"new", "old"}
    fake.reset()
    assert (await grid.inference.infer(model=OMNI, messages=ask("my order?"))).content != "old"


async def test_a_failing_predicate_is_reported(fake: FakeScaiGrid, grid: Any) -> None:
    fake.script_reply("x", when=lambda messages: 1 / 0 > 0)
    with pytest.raises(errors.InternalError) as info:
        await grid.inference.infer(model=OMNI, messages=ask("x"))
    assert "when= predicate raised ZeroDivisionError" in info.value.message


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"text": 3}, TypeError, "text"),
        ({"text": "x", "model": "scailabs/embed-small"}, ValueError, "model"),
        ({"text": "x", "model": 7}, TypeError, "model"),
        ({"text": "x", "when": 7}, TypeError, "when"),
        ({"text": "x", "times": 0}, ValueError, "times"),
        ({"text": "x", "times": True}, ValueError, "times"),
    ],
)
async def test_bad_arguments_name_themselves(
    fake: FakeScaiGrid, kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    text = kwargs.pop("text")
    with pytest.raises(error, match=f"^{name}:"):
        fake.script_reply(text, **kwargs)


async def test_threaded_fake_and_sync_client() -> None:
    with FakeScaiGrid() as fake:
        fake.script_reply("scripted", times=1)
        from scaigrid_client.sync import ScaiGrid

        with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
            assert grid.inference.infer(model=OMNI, messages=ask("q")).content == "scripted"
            assert grid.inference.infer(model=OMNI, messages=ask("q")).content != "scripted"


async def test_control_plane(fake: FakeScaiGrid, grid: Any, control: Any) -> None:
    body = {"text": "From the control plane.", "when": "plane", "times": 1}
    assert (await control.post("/script_reply", json=body)).json() == {}
    reply = await grid.inference.infer(model=OMNI, messages=ask("the plane?"))
    assert reply.content == "From the control plane."
    for bad, field in [({}, "text"), ({"text": "x", "times": 0}, "times"), ({"text": 1}, "text")]:
        answer = await control.post("/script_reply", json=bad)
        assert answer.status_code == 400
        assert answer.json()["error"].startswith(f"{field}:")

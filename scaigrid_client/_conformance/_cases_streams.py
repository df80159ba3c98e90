"""Cases: the shape of a streamed chat reply, and what a stream does at its
deadline and when the client cancels it."""

from __future__ import annotations

import asyncio
import time

from scaigrid_client import errors
from scaigrid_client._conformance._checks import expect, expect_equal
from scaigrid_client._conformance._context import Context
from scaigrid_client._conformance._fixtures import PROMPT, chat_stream, events_core
from scaigrid_client._conformance._registry import ANY_GATEWAY, case
from scaigrid_client.v1 import scaiinfer

_LENGTH = scaiinfer.FINISH_REASON_LENGTH
_STOP = scaiinfer.FINISH_REASON_STOP


def _reason(number: int) -> str:
    try:
        return str(scaiinfer.FinishReason.Name(number))  # type: ignore[arg-type]
    except ValueError:
        return str(number)


@case("stream_first_chunk", where=ANY_GATEWAY, writes=True)
async def stream_first_chunk(ctx: Context) -> None:
    """StreamInference: the first chunk's delta has role 'assistant'; every
    chunk has the same id and they are indexed 0, 1, 2, ..."""
    chunks = (await chat_stream(ctx)).chunks
    expect(bool(chunks), "chunks", "at least one", len(chunks))
    expect_equal("the first chunk's delta.role", "assistant", chunks[0].delta.role)
    expect_equal("the chunks' ids", [chunks[0].id], sorted({c.id for c in chunks}))
    expect_equal("the chunks' indexes", list(range(len(chunks))), [c.index for c in chunks])


@case("stream_tokens_per_chunk", where=ANY_GATEWAY, writes=True)
async def stream_tokens_per_chunk(ctx: Context) -> str:
    """StreamInference: no more content chunks than completion tokens; says
    whether it is one token per chunk."""
    chunks = (await chat_stream(ctx)).chunks
    content = [c for c in chunks if c.delta.content]
    tokens = chunks[-1].usage.completion_tokens if chunks else 0
    expect(
        len(content) <= tokens,
        "content chunks",
        f"at most usage.completion_tokens ({tokens})",
        len(content),
    )
    if len(content) == tokens:
        return "one token per chunk"
    return f"{tokens} tokens in {len(content)} content chunks"


@case("stream_last_chunk", where=ANY_GATEWAY, writes=True)
async def stream_last_chunk(ctx: Context) -> None:
    """StreamInference: only the last chunk has a finish_reason, and it carries usage that adds up."""
    chunks = (await chat_stream(ctx)).chunks
    last = chunks[-1]
    expect(
        last.finish_reason != 0,
        "the last chunk's finish_reason",
        "set",
        _reason(last.finish_reason),
    )
    early = [c.index for c in chunks[:-1] if c.finish_reason]
    expect_equal("chunks before the last with a finish_reason", [], early)
    expect(last.HasField("usage"), "the last chunk's usage", "present", "absent")
    usage = last.usage
    expect(usage.completion_tokens > 0, "usage.completion_tokens", "> 0", usage.completion_tokens)
    expect_equal(
        "usage.total_tokens", usage.prompt_tokens + usage.completion_tokens, usage.total_tokens
    )


async def _stream(
    ctx: Context, **sampling: object
) -> tuple[str, scaiinfer.StreamInferenceResponse]:
    stream = ctx.grid.inference.stream_inference(
        model=await ctx.chat_model(),
        messages=PROMPT,
        seed=7,
        **sampling,  # type: ignore[arg-type]
    )
    async with stream:
        chunks = [chunk async for chunk in stream]
    return "".join(c.delta.content for c in chunks), chunks[-1]


@case("stream_max_tokens", where=ANY_GATEWAY, writes=True)
async def stream_max_tokens(ctx: Context) -> None:
    """StreamInference with max_tokens=3: at most 3 completion tokens, and
    finish_reason LENGTH when the limit cut the reply."""
    _, last = await _stream(ctx, max_tokens=3)
    tokens = last.usage.completion_tokens
    expect(tokens <= 3, "usage.completion_tokens with max_tokens=3", "at most 3", tokens)
    if tokens == 3:
        expect_equal(
            "finish_reason at the limit", "FINISH_REASON_LENGTH", _reason(last.finish_reason)
        )


@case("stream_stop", where=ANY_GATEWAY, writes=True)
async def stream_stop(ctx: Context) -> None:
    """StreamInference with stop=[a word of the reply]: the text ends before
    it, without it, and finish_reason is STOP."""
    full, _ = await _stream(ctx, max_tokens=12)
    words = full.split()
    expect(len(words) >= 3, "the reply without stop", "at least 3 words", full)
    stop = " " + words[2]
    cut = full.find(stop)
    text, last = await _stream(ctx, max_tokens=12, stop=[stop])
    expect(stop not in text, f"the reply with stop=[{stop!r}]", "without the stop sequence", text)
    if full.startswith(text) and len(text) == cut:  # the gateway reproduced the seeded reply
        expect_equal(
            "finish_reason at a stop sequence", "FINISH_REASON_STOP", _reason(last.finish_reason)
        )


@case("deadline_on_stream", where=ANY_GATEWAY, writes=True)
async def deadline_on_stream(ctx: Context) -> str:
    """A live event stream with timeout=0.5 ends DEADLINE_EXCEEDED after about 0.5 s."""
    core_id = await events_core(ctx)
    started = time.monotonic()
    try:
        async with ctx.grid.core.stream_events(core_id, timeout=0.5) as stream:
            async for _ in stream:
                pass
    except errors.DeadlineExceededError:
        took = time.monotonic() - started
        expect(0.4 <= took <= 5, "when the stream ended", "0.5 s after it opened", f"{took:.2f} s")
        return f"ended after {took:.2f} s"
    expect(False, "the stream with timeout=0.5", "DEADLINE_EXCEEDED", "it ended normally")
    return ""


@case("stream_cancelled", where=ANY_GATEWAY, writes=True)
async def stream_cancelled(ctx: Context) -> None:
    """A live event stream cancelled by the client ends at once, as cancelled,
    and the channel goes on working."""
    core_id = await events_core(ctx)
    stream = ctx.grid.core.stream_events(core_id)
    first = await stream.__anext__()
    expect_equal("the first event's sequence", 1, first.sequence)
    stream.cancel()
    started = time.monotonic()
    try:
        rest = await asyncio.wait_for(_drain(stream), 5)
    except errors.CallCancelledError:
        rest = -1
    took = time.monotonic() - started
    expect(took < 2, "the cancelled stream's end", "at once", f"after {took:.2f} s")
    del rest
    await ctx.grid.core.get_core(core_id)  # the channel still works


async def _drain(stream: object) -> int:
    count = 0
    async for _ in stream:  # type: ignore[attr-defined]
        count += 1
    return count

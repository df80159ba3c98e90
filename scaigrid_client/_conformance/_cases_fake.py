"""Cases that need the fake's control plane (``fake_only``): what a real
gateway does only on its own schedule (expiry, a scoped token, a slow or
failing backend, a restart's dropped streams), provoked on demand."""

from __future__ import annotations

import asyncio
import time

import grpc

from scaigrid_client import errors
from scaigrid_client._conformance._checks import expect, expect_equal, expect_error
from scaigrid_client._conformance._context import Context
from scaigrid_client._conformance._fixtures import events_core
from scaigrid_client._conformance._registry import FAKE_ONLY, case

_LIST_MODELS = "InferenceService.ListModels"


@case("auth_expired_token", where=FAKE_ONLY, writes=False)
async def auth_expired_token(ctx: Context) -> None:
    """An expired service token: UNAUTHENTICATED, token_expired (errors.TokenExpiredError)."""
    token = (await ctx.fake().post("/tokens", expires_in=0.01))["token"]
    await asyncio.sleep(0.05)
    async with ctx.connect(token=token) as grid:
        error = await expect_error(
            "ListModels",
            grid.inference.list_models(),
            grpc.StatusCode.UNAUTHENTICATED,
            "token_expired",
        )
    expect(
        isinstance(error, errors.TokenExpiredError),
        "the SDK's error class",
        "TokenExpiredError",
        type(error).__name__,
    )


@case("permission_denied_scope", where=FAKE_ONLY, writes=False)
async def permission_denied_scope(ctx: Context) -> None:
    """A token scoped for scaiinfer only: its service works, scaimind's answers
    PERMISSION_DENIED, permission_denied."""
    token = (await ctx.fake().post("/tokens", scopes=["scaiinfer"]))["token"]
    async with ctx.connect(token=token) as grid:
        await grid.inference.list_models()
        await expect_error(
            "ListJobs",
            grid.coordinator.list_jobs(),
            grpc.StatusCode.PERMISSION_DENIED,
            "permission_denied",
        )


@case("deadline_propagated", where=FAKE_ONLY, writes=False)
async def deadline_propagated(ctx: Context) -> None:
    """A call's timeout reaches the gateway as its deadline (timeout=5: the fake sees 0-5 s left)."""
    request_id = ctx.request_id("deadline")
    await ctx.grid.inference.list_models(timeout=5, request_id=request_id)
    calls = await ctx.fake().calls_with_id(_LIST_MODELS, request_id)
    left = [c.get("time_remaining") for c in calls]
    # (grpc-timeout is sent rounded up to its unit: a few ms over is the same deadline)
    expect(
        len(left) == 1 and left[0] is not None and 0 < left[0] <= 5.1,
        "the deadline the fake saw",
        "0 to 5 s left",
        left,
    )


@case("deadline_honoured", where=FAKE_ONLY, writes=False)
async def deadline_honoured(ctx: Context) -> str:
    """A call slower than its timeout=0.3 fails DEADLINE_EXCEEDED at 0.3 s, and
    the gateway ends its side of the call too."""
    fake = ctx.fake()
    await fake.post("/delay", method=_LIST_MODELS, seconds=3, times=1)
    request_id = ctx.request_id("deadline-honoured")
    started = time.monotonic()
    await expect_error(
        "ListModels (delayed 3 s)",
        ctx.grid.inference.list_models(timeout=0.3, request_id=request_id),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        None,
    )
    took = time.monotonic() - started
    expect(took < 2, "when the call failed", "about 0.3 s", f"{took:.2f} s")
    for _ in range(60):  # the server side ends at its deadline, not after the delay
        ended = [c.get("status") for c in await fake.calls_with_id(_LIST_MODELS, request_id)]
        if ended and ended[0] is not None:
            break
        await asyncio.sleep(0.05)
    expect(
        ended in (["DEADLINE_EXCEEDED"], ["CANCELLED"]),
        "the call's end at the gateway",
        "DEADLINE_EXCEEDED",
        ended,
    )
    return f"failed after {took:.2f} s"


@case("pushback_stops_retries", where=FAKE_ONLY, writes=False)
async def pushback_stops_retries(ctx: Context) -> None:
    """UNAVAILABLE service_draining with grpc-retry-pushback-ms -1: one attempt,
    errors.ServiceDrainingError, the request id in its trailers."""
    fake = ctx.fake()
    await fake.post(
        "/fail", method=_LIST_MODELS, status="UNAVAILABLE", code="service_draining", pushback_ms=-1
    )
    request_id = ctx.request_id("pushback")
    error = await expect_error(
        "ListModels",
        ctx.grid.inference.list_models(request_id=request_id),
        grpc.StatusCode.UNAVAILABLE,
        "service_draining",
    )
    expect(
        isinstance(error, errors.ServiceDrainingError),
        "the SDK's error class",
        "ServiceDrainingError",
        type(error).__name__,
    )
    expect_equal(
        "attempts the gateway saw", 1, len(await fake.calls_with_id(_LIST_MODELS, request_id))
    )


@case("retry_keeps_request_id", where=FAKE_ONLY, writes=True)
async def retry_keeps_request_id(ctx: Context) -> None:
    """SubmitJob failing UNAVAILABLE after its effect is retried with the same
    request id, and the retry makes no second job."""
    fake = ctx.fake()
    method = "CoordinatorService.SubmitJob"
    await fake.post("/fail", method=method, status="UNAVAILABLE", after_effect=True)
    request_id = ctx.request_id("retry")
    name = ctx.name("retried")
    job = await ctx.grid.coordinator.submit_job(
        name=name,
        base_model=await ctx.chat_model(),
        gpus=1,
        max_steps=100_000,
        request_id=request_id,
    )
    ctx.on_cleanup(lambda: ctx.grid.coordinator.cancel_job(job.id))
    attempts = await fake.calls_with_id(method, request_id)
    expect_equal(
        "attempts with the request id", ["UNAVAILABLE", "OK"], [c["status"] for c in attempts]
    )
    named = [j.id for j in await ctx.grid.coordinator.list_jobs() if j.spec.name == name]
    expect_equal(f"jobs named {name!r}", [job.id], named)


@case("stream_cancel_seen_by_gateway", where=FAKE_ONLY, writes=True)
async def stream_cancel_seen_by_gateway(ctx: Context) -> None:
    """A stream the client cancels ends CANCELLED at the gateway."""
    core_id = await events_core(ctx)
    request_id = ctx.request_id("cancel")
    stream = ctx.grid.core.stream_events(core_id, request_id=request_id)
    await stream.__anext__()
    await stream.aclose()
    ended: list[object] = []
    for _ in range(60):
        ended = [
            c.get("status")
            for c in await ctx.fake().calls_with_id("CoreRuntimeService.StreamEvents", request_id)
        ]
        if ended and ended[-1] is not None:
            break
        await asyncio.sleep(0.05)
    expect_equal("the stream's end at the gateway", ["CANCELLED"], ended)


@case("stream_resumes_after_drop", where=FAKE_ONLY, writes=True)
async def stream_resumes_after_drop(ctx: Context) -> None:
    """An event stream dropped by a restarting gateway resumes after the last
    event delivered: no gap, no duplicate."""
    core_id = await events_core(ctx)
    last = (await ctx.grid.core.get_core(core_id)).last_sequence
    seen: list[int] = []
    async with ctx.grid.core.stream_events(core_id) as stream:
        async for event in stream:
            seen.append(event.sequence)
            if event.sequence == last:
                await ctx.fake().post("/drop_streams")
                await ctx.grid.core.invoke_core(core_id, payload={"after": "drop"})
            if event.sequence >= last + 1:
                break
    expect_equal("sequences across the drop", list(range(1, last + 2)), seen)

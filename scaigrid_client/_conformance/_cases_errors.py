"""Cases: the documented errors, each with its status, its
``scaigrid-error-code`` trailer and a message naming what was wrong."""

from __future__ import annotations

import grpc

from scaigrid_client import errors
from scaigrid_client._conformance._checks import expect, expect_equal, expect_error
from scaigrid_client._conformance._context import Context, RewriteAuthorization
from scaigrid_client._conformance._fixtures import events_core, finished_job
from scaigrid_client._conformance._registry import ANY_GATEWAY, CaseSkipped, case
from scaigrid_client.v1 import scaicore, scaiinfer

_UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
_NOT_FOUND = grpc.StatusCode.NOT_FOUND
_INVALID = grpc.StatusCode.INVALID_ARGUMENT
_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


async def _auth_error(
    ctx: Context, code: str, *, token: str | None = None, header: str | None = ""
) -> errors.ScaiGridError:
    """ListModels with another token, or another authorization header
    (None: none); it must fail UNAUTHENTICATED with ``code``."""
    interceptors = [] if header == "" else [RewriteAuthorization(header)]
    async with ctx.connect(token=token, interceptors=interceptors) as grid:
        return await expect_error(
            "ListModels", grid.inference.list_models(), _UNAUTHENTICATED, code
        )


@case("auth_missing_token", where=ANY_GATEWAY, writes=False)
async def auth_missing_token(ctx: Context) -> None:
    """No authorization metadata: UNAUTHENTICATED, missing_token."""
    await _auth_error(ctx, "missing_token", header=None)


@case("auth_malformed_token", where=ANY_GATEWAY, writes=False)
async def auth_malformed_token(ctx: Context) -> None:
    """authorization that is not 'Bearer <token>': UNAUTHENTICATED, malformed_token."""
    await _auth_error(ctx, "malformed_token", header="Basic Y29uZm9ybWFuY2U6eA==")


@case("auth_unknown_token", where=ANY_GATEWAY, writes=False)
async def auth_unknown_token(ctx: Context) -> None:
    """A well-formed token the gateway never issued: UNAUTHENTICATED, invalid_token."""
    await _auth_error(ctx, "invalid_token", token="sgst_" + ctx.run_id.replace("-", "_") + "_x")


@case("auth_http_api_key", where=ANY_GATEWAY, writes=False)
async def auth_http_api_key(ctx: Context) -> None:
    """An HTTP API key instead of a service token: UNAUTHENTICATED,
    api_key_not_accepted (errors.ApiKeyNotAcceptedError)."""
    error = await _auth_error(
        ctx,
        "api_key_not_accepted",
        token="sk-conformance-not-a-token",  # noqa: S106
    )
    expect(
        isinstance(error, errors.ApiKeyNotAcceptedError),
        "the SDK's error class",
        "ApiKeyNotAcceptedError",
        type(error).__name__,
    )


@case("not_found_job", where=ANY_GATEWAY, writes=False)
async def not_found_job(ctx: Context) -> None:
    """GetJob and StreamMetrics of an unknown job: NOT_FOUND, job_not_found."""
    missing = ctx.name("no-such-job")
    await expect_error("GetJob", ctx.grid.coordinator.get_job(missing), _NOT_FOUND, "job_not_found")
    stream = ctx.grid.coordinator.stream_metrics(missing)
    await expect_error("StreamMetrics", stream.__anext__(), _NOT_FOUND, "job_not_found")
    await stream.aclose()


@case("not_found_core", where=ANY_GATEWAY, writes=False)
async def not_found_core(ctx: Context) -> None:
    """GetCore, PassivateCore and StreamEvents of an unknown core: NOT_FOUND, core_not_found."""
    missing = ctx.name("no-such-core")
    core = ctx.grid.core
    await expect_error("GetCore", core.get_core(missing), _NOT_FOUND, "core_not_found")
    await expect_error("PassivateCore", core.passivate_core(missing), _NOT_FOUND, "core_not_found")
    stream = core.stream_events(missing)
    await expect_error("StreamEvents", stream.__anext__(), _NOT_FOUND, "core_not_found")
    await stream.aclose()


@case("not_found_allocation", where=ANY_GATEWAY, writes=False)
async def not_found_allocation(ctx: Context) -> None:
    """ReleaseGPUs of an unknown allocation: NOT_FOUND, allocation_not_found."""
    release = ctx.grid.cluster.release_gpus(ctx.name("no-such-allocation"))
    await expect_error("ReleaseGPUs", release, _NOT_FOUND, "allocation_not_found")


@case("not_found_model", where=ANY_GATEWAY, writes=False)
async def not_found_model(ctx: Context) -> None:
    """Infer, Embed and SubmitJob with an unknown model: NOT_FOUND, model_not_found."""
    model = "conformance/" + ctx.name("no-such-model")
    messages = [{"role": "user", "content": "hi"}]
    inference = ctx.grid.inference
    await expect_error(
        "Infer", inference.infer(model=model, messages=messages), _NOT_FOUND, "model_not_found"
    )
    await expect_error(
        "Embed", inference.embed(model=model, inputs=["hi"]), _NOT_FOUND, "model_not_found"
    )
    submit = ctx.grid.coordinator.submit_job(
        name=ctx.name("no-model"), base_model=model, gpus=1, max_steps=1
    )
    await expect_error("SubmitJob", submit, _NOT_FOUND, "model_not_found", field="base_model")


@case("validation_names_field", where=ANY_GATEWAY, writes=False)
async def validation_names_field(ctx: Context) -> None:
    """A chat message with an unknown role (Infer and StreamInference):
    INVALID_ARGUMENT, invalid_argument, the message naming messages[0].role."""
    model = await ctx.chat_model()
    messages = [scaiinfer.ChatMessage(role="conformance-robot", content="hi")]
    inference = ctx.grid.inference
    await expect_error(
        "Infer",
        inference.infer(model=model, messages=messages),
        _INVALID,
        "invalid_argument",
        field="messages[0].role",
    )
    stream = inference.stream_inference(model=model, messages=messages)
    await expect_error(
        "StreamInference",
        stream.__anext__(),
        _INVALID,
        "invalid_argument",
        field="messages[0].role",
    )
    await stream.aclose()


@case("validation_heartbeat", where=ANY_GATEWAY, writes=False)
async def validation_heartbeat(ctx: Context) -> None:
    """A heartbeat using more GPU memory than it has: INVALID_ARGUMENT,
    invalid_argument, naming gpu_memory_used_bytes."""
    beat = ctx.grid.heartbeat.heartbeat(
        node_id=ctx.name("hb-invalid"), gpu_memory_total_bytes=1, gpu_memory_used_bytes=2
    )
    await expect_error(
        "Heartbeat", beat, _INVALID, "invalid_argument", field="gpu_memory_used_bytes"
    )


@case("validation_unsupported_model", where=ANY_GATEWAY, writes=False)
async def validation_unsupported_model(ctx: Context) -> None:
    """Embed with a chat-only model: INVALID_ARGUMENT, unsupported_model, naming model."""
    models = await ctx.grid.inference.list_models()
    chat_only = [
        m.id
        for m in models
        if scaiinfer.CAPABILITY_CHAT in m.capabilities
        and scaiinfer.CAPABILITY_EMBEDDINGS not in m.capabilities
    ]
    if not chat_only:
        raise CaseSkipped("the gateway lists no chat-only model to ask for embeddings")
    embed = ctx.grid.inference.embed(model=chat_only[0], inputs=["hi"])
    await expect_error("Embed", embed, _INVALID, "unsupported_model", field="model")


@case("insufficient_gpus", where=ANY_GATEWAY, writes=False)
async def insufficient_gpus(ctx: Context) -> None:
    """AllocateGPUs of a GPU type no node has: RESOURCE_EXHAUSTED,
    insufficient_gpus (errors.InsufficientGPUsError)."""
    allocate = ctx.grid.cluster.allocate_gpus(
        job_id=ctx.name("job"), count=1, gpu_type=ctx.name("no-such-gpu")
    )
    error = await expect_error(
        "AllocateGPUs", allocate, grpc.StatusCode.RESOURCE_EXHAUSTED, "insufficient_gpus"
    )
    expect(
        isinstance(error, errors.InsufficientGPUsError),
        "the SDK's error class",
        "InsufficientGPUsError",
        type(error).__name__,
    )


@case("invalid_state_core", where=ANY_GATEWAY, writes=True)
async def invalid_state_core(ctx: Context) -> None:
    """Passivating a passivated core and restoring an active one:
    FAILED_PRECONDITION, invalid_state."""
    core_id = await events_core(ctx)  # active: its last event is an invocation
    core = ctx.grid.core
    await expect_error(
        "RestoreCore (active)", core.restore_core(core_id), _PRECONDITION, "invalid_state"
    )
    passivated = await core.passivate_core(core_id)
    try:
        expect_equal("PassivateCore's new state", "CORE_STATE_PASSIVATED", _state(passivated))
        await expect_error(
            "PassivateCore (passivated)",
            core.passivate_core(core_id),
            _PRECONDITION,
            "invalid_state",
        )
    finally:
        restored = await core.restore_core(core_id)  # as the other cases expect it
    expect_equal("RestoreCore's new state", "CORE_STATE_ACTIVE", _state(restored))


def _state(instance: scaicore.CoreInstance) -> str:
    return str(scaicore.CoreState.Name(instance.state))


@case("invalid_state_job", where=ANY_GATEWAY, writes=True)
async def invalid_state_job(ctx: Context) -> None:
    """Cancelling a job that succeeded: FAILED_PRECONDITION, invalid_state."""
    job = (await finished_job(ctx)).job
    cancel = ctx.grid.coordinator.cancel_job(job.id)
    await expect_error("CancelJob (finished)", cancel, _PRECONDITION, "invalid_state")

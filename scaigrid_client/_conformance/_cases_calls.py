"""Cases: unary calls: request ids echoed, the model catalogue, idempotency
by request id, and the shapes of chat, embedding and heartbeat answers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import grpc

from scaigrid_client import errors, raw_response
from scaigrid_client._conformance._checks import expect, expect_equal, expect_error
from scaigrid_client._conformance._context import Context
from scaigrid_client._conformance._fixtures import PROMPT, gpu_node
from scaigrid_client._conformance._registry import ANY_GATEWAY, CaseSkipped, case
from scaigrid_client.v1 import scaicore, scaiinfer


def _echoed(metadata: Iterable[tuple[str, Any]]) -> list[Any]:
    return [v for k, v in metadata if k == "x-request-id"]


@case("request_id_echoed", where=ANY_GATEWAY, writes=False)
async def request_id_echoed(ctx: Context) -> None:
    """The x-request-id a call sends comes back in its response metadata."""
    request_id = ctx.request_id("echo")
    info = await raw_response(ctx.grid.inference.list_models, request_id=request_id)
    echoed = _echoed((*info.initial_metadata, *info.trailing_metadata))
    expect(
        request_id in echoed,
        "x-request-id in ListModels' response metadata",
        repr(request_id),
        echoed,
    )


@case("request_id_echoed_on_error", where=ANY_GATEWAY, writes=False)
async def request_id_echoed_on_error(ctx: Context) -> None:
    """A failed call's trailers carry its x-request-id, unary and streaming alike."""
    request_id = ctx.request_id("echo-error")
    missing = ctx.name("no-such-core")
    error = await expect_error(
        "GetCore",
        ctx.grid.core.get_core(missing, request_id=request_id),
        grpc.StatusCode.NOT_FOUND,
        None,
    )
    echoed = _echoed(error.metadata)
    expect(request_id in echoed, "x-request-id in GetCore's trailers", repr(request_id), echoed)
    request_id = ctx.request_id("echo-stream-error")
    stream = ctx.grid.core.stream_events(missing, request_id=request_id)
    error = await expect_error("StreamEvents", stream.__anext__(), grpc.StatusCode.NOT_FOUND, None)
    await stream.aclose()
    echoed = _echoed(error.metadata)
    expect(request_id in echoed, "x-request-id in StreamEvents' trailers", repr(request_id), echoed)


@case("list_models", where=ANY_GATEWAY, writes=False)
async def list_models(ctx: Context) -> str:
    """ListModels: models with unique ids; capability= keeps only models that have it."""
    models = await ctx.grid.inference.list_models()
    ids = [m.id for m in models]
    expect(bool(ids) and all(ids), "model ids", "a non-empty list of non-empty ids", ids)
    expect_equal("duplicate model ids", [], sorted({i for i in ids if ids.count(i) > 1}))
    chat = await ctx.grid.inference.list_models(capability="chat")
    wrong = [m.id for m in chat if scaiinfer.CAPABILITY_CHAT not in m.capabilities]
    expect_equal("models listed for capability=chat without chat", [], wrong)
    expect_equal(
        "models listed for chat but not in the full list",
        [],
        sorted({m.id for m in chat} - set(ids)),
    )
    return f"{len(ids)} models, {len(chat)} for chat"


async def _cancel_all(ctx: Context, job_ids: Iterable[str]) -> None:
    for job_id in set(job_ids):
        with contextlib.suppress(errors.FailedPreconditionError):  # finished already
            await ctx.grid.coordinator.cancel_job(job_id)


@case("idempotent_submit_job", where=ANY_GATEWAY, writes=True)
async def idempotent_submit_job(ctx: Context) -> None:
    """SubmitJob twice with one request id: one job; with another request id: another job."""
    coordinator = ctx.grid.coordinator
    spec: dict[str, Any] = {
        "name": ctx.name("idempotent"),
        "base_model": await ctx.chat_model(),
        "gpus": 1,
        "max_steps": 100_000,
    }
    request_id = ctx.request_id("submit")
    first = await coordinator.submit_job(**spec, request_id=request_id)
    ids = [first.id]
    ctx.on_cleanup(lambda: _cancel_all(ctx, ids))
    again = await coordinator.submit_job(**spec, request_id=request_id)
    ids.append(again.id)
    expect_equal("the job id of a repeated SubmitJob (same request id)", first.id, again.id)
    other = await coordinator.submit_job(**spec, request_id=ctx.request_id("submit-other"))
    ids.append(other.id)
    expect(
        other.id != first.id,
        "the job id of SubmitJob with a new request id",
        f"not {first.id!r}",
        other.id,
    )


@case("idempotent_allocate_gpus", where=ANY_GATEWAY, writes=True)
async def idempotent_allocate_gpus(ctx: Context) -> None:
    """AllocateGPUs twice with one request id: one allocation, one GPU taken."""
    node = await gpu_node(ctx)
    cluster = ctx.grid.cluster
    request_id = ctx.request_id("allocate")
    job_id = ctx.name("alloc-job")
    first = await cluster.allocate_gpus(
        job_id=job_id, count=1, gpu_type=node.gpu_type, request_id=request_id
    )
    ctx.on_cleanup(lambda: cluster.release_gpus(first.id))
    again = await cluster.allocate_gpus(
        job_id=job_id, count=1, gpu_type=node.gpu_type, request_id=request_id
    )
    if again.id != first.id:
        ctx.on_cleanup(lambda: cluster.release_gpus(again.id))
    expect_equal(
        "the allocation id of a repeated AllocateGPUs (same request id)", first.id, again.id
    )
    free = {n.node_id: n.gpus_free for n in await cluster.list_nodes()}.get(node.node_id)
    expect_equal(f"free GPUs of node {node.node_id!r} after it", node.gpus - 1, free)


@case("idempotent_invoke_core", where=ANY_GATEWAY, writes=True)
async def idempotent_invoke_core(ctx: Context) -> None:
    """InvokeCore twice with one request id: one invocation."""
    core_id = ctx.name("idempotent")
    core = ctx.grid.core
    ctx.on_cleanup(lambda: core.passivate_core(core_id))
    request_id = ctx.request_id("invoke")
    first = await core.invoke_core(core_id, payload={"n": 1}, request_id=request_id)
    again = await core.invoke_core(core_id, payload={"n": 1}, request_id=request_id)
    expect_equal(
        "the invocation id of a repeated InvokeCore (same request id)",
        first.invocation_id,
        again.invocation_id,
    )
    instance = await core.get_core(core_id)
    expect_equal("the core's invocation_count", 1, instance.invocation_count)
    expect_equal("the core's state", scaicore.CORE_STATE_ACTIVE, instance.state)


@case("infer_reply", where=ANY_GATEWAY, writes=True)
async def infer_reply(ctx: Context) -> None:
    """Infer: text, a finish reason, usage that adds up, the request id."""
    request_id = ctx.request_id("infer")
    reply = await ctx.grid.inference.infer(
        model=await ctx.chat_model(), messages=PROMPT, request_id=request_id
    )
    expect(bool(reply.content), "the reply's content", "text", reply.content)
    expect(
        int(reply.finish_reason) != 0, "finish_reason", "set (not UNSPECIFIED)", reply.finish_reason
    )
    usage = reply.usage
    expect_equal(
        "usage.total_tokens", usage.prompt_tokens + usage.completion_tokens, usage.total_tokens
    )
    expect_equal("the reply's request_id", request_id, reply.request_id)


@case("embed_vectors", where=ANY_GATEWAY, writes=True)
async def embed_vectors(ctx: Context) -> None:
    """Embed: one vector per input, in order, of the model's dimensions."""
    models = await ctx.grid.inference.list_models(capability="embeddings")
    if not models:
        raise CaseSkipped("the gateway lists no embeddings model")
    model = models[0]
    vectors = await ctx.grid.inference.embed(model=model.id, inputs=["one", "two", "three"])
    expect_equal("vectors for 3 inputs", 3, len(vectors))
    expect_equal("the vectors' indexes", [0, 1, 2], vectors.indexes)
    if model.embedding_dimensions:
        sizes = sorted({len(v) for v in vectors})
        expect_equal(f"dimensions of {model.id}'s vectors", [model.embedding_dimensions], sizes)


@case("heartbeat_ack", where=ANY_GATEWAY, writes=True)
async def heartbeat_ack(ctx: Context) -> None:
    """Heartbeat: acknowledged for the node, its sequence counting up by one."""
    node_id = ctx.name("heartbeat")
    first = await ctx.grid.heartbeat.heartbeat(node_id=node_id, gpu_count=1)
    second = await ctx.grid.heartbeat.heartbeat(node_id=node_id, gpu_count=1)
    expect_equal("the acknowledged node_id", node_id, second.node_id)
    expect_equal("the second heartbeat's sequence", first.sequence + 1, second.sequence)

"""The fake gateway, driven through the raw generated stubs only (not the
SDK clients), so it is verified independently of them."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import grpc
import pytest

from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore, scaiinfer, scaimind
from tests.support.fake_calls import auth, error_code

OMNI = "scailabs/poolnoodle-omni"
pytestmark = pytest.mark.asyncio


def user(text: str) -> list[scaiinfer.ChatMessage]:
    return [scaiinfer.ChatMessage(role="user", content=text)]


async def rpc_error(awaitable: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await awaitable  # type: ignore[misc]
    return info.value


# -- models and inference ---------------------------------------------------------


async def test_list_models_catalogue(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    models = (
        await stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(fake.token))
    ).models
    ids = [m.id for m in models]
    assert OMNI in ids and ids == sorted(ids)
    omni = next(m for m in models if m.id == OMNI)
    assert set(omni.capabilities) == {scaiinfer.CAPABILITY_CHAT, scaiinfer.CAPABILITY_EMBEDDINGS}
    embed_only = await stub.ListModels(
        scaiinfer.ListModelsRequest(capability=scaiinfer.CAPABILITY_EMBEDDINGS),
        metadata=auth(fake.token),
    )
    assert any(list(m.capabilities) == [scaiinfer.CAPABILITY_EMBEDDINGS] for m in embed_only.models)


async def test_stream_inference_is_deterministic_and_ends_with_usage(
    fake: FakeScaiGrid, channel: grpc.aio.Channel
) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    req = scaiinfer.InferenceRequest(model=OMNI, messages=user("Tell me about grids"))
    runs = []
    for _ in range(2):
        chunks = [c async for c in stub.StreamInference(req, metadata=auth(fake.token))]
        runs.append("".join(c.delta.content for c in chunks))
        assert [c.index for c in chunks] == list(range(len(chunks)))
        assert chunks[0].delta.role == "assistant"
        last = chunks[-1]
        assert last.finish_reason == scaiinfer.FINISH_REASON_STOP
        assert last.usage.completion_tokens == len(chunks) - 1
        assert all(c.finish_reason == 0 for c in chunks[:-1])
    assert runs[0] == runs[1] and runs[0]
    other = scaiinfer.InferenceRequest(model=OMNI, messages=user("Something else"))
    text = "".join(
        [c.delta.content async for c in stub.StreamInference(other, metadata=auth(fake.token))]
    )
    assert text != runs[0]


async def test_max_tokens_and_stop(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    req = scaiinfer.InferenceRequest(model=OMNI, messages=user("count"), max_tokens=100)
    chunks = [c async for c in stub.StreamInference(req, metadata=auth(fake.token))]
    assert len(chunks) == 101
    assert chunks[-1].finish_reason == scaiinfer.FINISH_REASON_LENGTH
    full = "".join(c.delta.content for c in chunks)
    stop_word = full.split()[5]
    req.stop.append(stop_word)
    stopped = "".join(
        [c.delta.content async for c in stub.StreamInference(req, metadata=auth(fake.token))]
    )
    assert stop_word not in stopped
    assert full.startswith(stopped)
    reply = await stub.Infer(
        scaiinfer.InferRequest(
            model=OMNI, messages=user("count"), max_tokens=100, stop=[stop_word]
        ),
        metadata=auth(fake.token),
    )
    assert reply.message.content == stopped
    assert reply.finish_reason == scaiinfer.FINISH_REASON_STOP


async def test_binary_output(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    size = (3 << 20) + 17
    req = scaiinfer.InferenceRequest(
        model=OMNI,
        messages=user("render"),
        response_format=scaiinfer.RESPONSE_FORMAT_BINARY,
        max_output_bytes=size,
    )
    chunks = [c async for c in stub.StreamInference(req, metadata=auth(fake.token))]
    assert sum(len(c.data) for c in chunks) == size
    assert len(chunks) == 5 and chunks[-1].usage.output_bytes == size


async def test_pacing(channel: grpc.aio.Channel, fake: FakeScaiGrid) -> None:
    fake.token_interval = 0.02
    stub = scaiinfer.InferenceServiceStub(channel)
    req = scaiinfer.InferenceRequest(model=OMNI, messages=user("slow"), max_tokens=5)
    start = asyncio.get_running_loop().time()
    assert len([c async for c in stub.StreamInference(req, metadata=auth(fake.token))]) == 6
    assert asyncio.get_running_loop().time() - start >= 0.1


async def test_inference_validation(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    md = auth(fake.token)
    err = await rpc_error(
        stub.Infer(scaiinfer.InferRequest(model="nope/x", messages=user("a")), metadata=md)
    )
    assert (err.code(), error_code(err)) == (grpc.StatusCode.NOT_FOUND, "model_not_found")
    err = await rpc_error(stub.Infer(scaiinfer.InferRequest(model=OMNI), metadata=md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "messages" in (err.details() or "")
    err = await rpc_error(
        stub.Infer(
            scaiinfer.InferRequest(model="scailabs/embed-small", messages=user("a")), metadata=md
        )
    )
    assert error_code(err) == "unsupported_model"
    call = stub.StreamInference(
        scaiinfer.InferenceRequest(model=OMNI, messages=user("a"), temperature=3), metadata=md
    )
    err = await rpc_error(call.read())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "temperature" in (err.details() or "")


async def test_embeddings(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    md = auth(fake.token)
    resp = await stub.Embed(
        scaiinfer.EmbedRequest(model=OMNI, inputs=["a b", "c", "a b"]), metadata=md
    )
    vectors = [list(e.values) for e in resp.embeddings]
    assert [e.index for e in resp.embeddings] == [0, 1, 2]
    assert all(len(v) == 1024 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    err = await rpc_error(stub.Embed(scaiinfer.EmbedRequest(model=OMNI), metadata=md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "inputs" in (err.details() or "")
    err = await rpc_error(
        stub.Embed(scaiinfer.EmbedRequest(model=OMNI, inputs=["ok", ""]), metadata=md)
    )
    assert "inputs[1]" in (err.details() or "")
    long_text = "word " * 600
    err = await rpc_error(
        stub.Embed(
            scaiinfer.EmbedRequest(model="scailabs/embed-small", inputs=[long_text]), metadata=md
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "inputs[0]" in (err.details() or "")


async def test_heartbeat_history(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.HeartbeatServiceStub(channel)
    for depth in (3, 5):
        ack = await stub.Heartbeat(
            scaiinfer.HeartbeatRequest(
                node_id="n1", health=scaiinfer.NODE_HEALTH_HEALTHY, gpu_count=8, queue_depth=depth
            ),
            metadata=auth(fake.token),
        )
    assert ack.sequence == 2 and ack.node_id == "n1"
    history = fake.state.heartbeats["n1"]
    assert [h.request.queue_depth for h in history] == [3, 5]
    err = await rpc_error(stub.Heartbeat(scaiinfer.HeartbeatRequest(), metadata=auth(fake.token)))
    assert "node_id" in (err.details() or "")


# -- jobs and cluster -------------------------------------------------------------------


async def _collect(stream: object) -> list[scaimind.StreamMetricsResponse]:
    return [p async for p in stream]  # type: ignore[attr-defined]


def spec(**overrides: object) -> scaimind.JobSpec:
    values: dict[str, object] = {"name": "ft", "base_model": OMNI, "gpus": 2, "max_steps": 5}
    values.update(overrides)
    return scaimind.JobSpec(**values)  # type: ignore[arg-type]


async def test_job_runs_and_metrics_stream(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaimind.CoordinatorServiceStub(channel)
    md = auth(fake.token)
    job = (await stub.SubmitJob(scaimind.SubmitJobRequest(spec=spec()), metadata=md)).job
    assert job.state == scaimind.JOB_STATE_QUEUED and job.id
    points = [
        p
        async for p in stub.StreamMetrics(scaimind.StreamMetricsRequest(job_id=job.id), metadata=md)
    ]
    assert [p.step for p in points] == [1, 2, 3, 4, 5]
    losses = [p.values["loss"] for p in points]
    assert losses == sorted(losses, reverse=True)
    assert points[-1].job_state == scaimind.JOB_STATE_SUCCEEDED
    done = (await stub.GetJob(scaimind.GetJobRequest(job_id=job.id), metadata=md)).job
    assert done.state == scaimind.JOB_STATE_SUCCEEDED and done.current_step == 5
    resumed = [
        p.step
        async for p in stub.StreamMetrics(
            scaimind.StreamMetricsRequest(job_id=job.id, after_step=3), metadata=md
        )
    ]
    assert resumed == [4, 5]
    listed = await stub.ListJobs(scaimind.ListJobsRequest(), metadata=md)
    assert [j.id for j in listed.jobs] == [job.id]


async def test_job_validation_and_cancel(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaimind.CoordinatorServiceStub(channel)
    md = auth(fake.token)
    for bad, field in ((spec(gpus=0), "spec.gpus"), (spec(max_steps=0), "spec.max_steps")):
        err = await rpc_error(stub.SubmitJob(scaimind.SubmitJobRequest(spec=bad), metadata=md))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and field in (err.details() or "")
    err = await rpc_error(
        stub.SubmitJob(scaimind.SubmitJobRequest(spec=spec(base_model="x/y")), metadata=md)
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    job = (
        await stub.SubmitJob(scaimind.SubmitJobRequest(spec=spec(max_steps=10_000)), metadata=md)
    ).job
    cancelled = (await stub.CancelJob(scaimind.CancelJobRequest(job_id=job.id), metadata=md)).job
    assert cancelled.state == scaimind.JOB_STATE_CANCELLED
    stream = stub.StreamMetrics(scaimind.StreamMetricsRequest(job_id=job.id), metadata=md)
    points = await asyncio.wait_for(_collect(stream), 5)  # ends: the job is terminal
    assert all(p.job_state != scaimind.JOB_STATE_SUCCEEDED for p in points)
    assert fake.state.jobs[job.id].state == scaimind.JOB_STATE_CANCELLED
    err = await rpc_error(stub.GetJob(scaimind.GetJobRequest(job_id="job-missing"), metadata=md))
    assert (err.code(), error_code(err)) == (grpc.StatusCode.NOT_FOUND, "job_not_found")


async def test_cluster_capacity(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaimind.ClusterServiceStub(channel)
    md = auth(fake.token)
    for node_id in ("a", "b"):
        node = (
            await stub.RegisterNode(
                scaimind.RegisterNodeRequest(node_id=node_id, gpus=4, gpu_type="H100"), metadata=md
            )
        ).node
        assert node.gpus_free == 4
    alloc = (
        await stub.AllocateGPUs(scaimind.AllocateGPUsRequest(job_id="j1", count=6), metadata=md)
    ).allocation
    assert alloc.count == 6
    assert {(a.node_id, tuple(a.gpu_indices)) for a in alloc.assignments} == {
        ("a", (0, 1, 2, 3)),
        ("b", (0, 1)),
    }
    err = await rpc_error(
        stub.AllocateGPUs(scaimind.AllocateGPUsRequest(job_id="j2", count=3), metadata=md)
    )
    assert (err.code(), error_code(err)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "insufficient_gpus",
    )
    await stub.ReleaseGPUs(scaimind.ReleaseGPUsRequest(allocation_id=alloc.id), metadata=md)
    nodes = (await stub.ListNodes(scaimind.ListNodesRequest(), metadata=md)).nodes
    assert [n.gpus_free for n in nodes] == [4, 4]


# -- cores ----------------------------------------------------------------------------


async def test_core_lifecycle_and_events(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaicore.CoreRuntimeServiceStub(channel)
    md = auth(fake.token)
    err = await rpc_error(
        stub.PassivateCore(scaicore.PassivateCoreRequest(core_id="c"), metadata=md)
    )
    assert (err.code(), error_code(err)) == (grpc.StatusCode.NOT_FOUND, "core_not_found")
    first = await stub.InvokeCore(
        scaicore.InvokeCoreRequest(core_id="c", payload=b'{"x": 1}'), metadata=md
    )
    assert first.activated and json.loads(first.output)["echo"] == {"x": 1}
    second = await stub.InvokeCore(scaicore.InvokeCoreRequest(core_id="c"), metadata=md)
    assert not second.activated and second.instance.invocation_count == 2
    p = await stub.PassivateCore(scaicore.PassivateCoreRequest(core_id="c"), metadata=md)
    assert p.instance.state == scaicore.CORE_STATE_PASSIVATED
    err = await rpc_error(
        stub.PassivateCore(scaicore.PassivateCoreRequest(core_id="c"), metadata=md)
    )
    assert (err.code(), error_code(err)) == (grpc.StatusCode.FAILED_PRECONDITION, "invalid_state")
    r = await stub.RestoreCore(scaicore.RestoreCoreRequest(core_id="c"), metadata=md)
    assert r.instance.state == scaicore.CORE_STATE_ACTIVE
    err = await rpc_error(stub.RestoreCore(scaicore.RestoreCoreRequest(core_id="c"), metadata=md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION

    call = stub.StreamEvents(
        scaicore.StreamEventsRequest(core_id="c", after_sequence=1), metadata=md
    )
    seen = [await call.read() for _ in range(4)]
    assert [e.sequence for e in seen] == [2, 3, 4, 5]
    assert [e.type for e in seen] == [
        scaicore.EVENT_TYPE_INVOKED,
        scaicore.EVENT_TYPE_INVOKED,
        scaicore.EVENT_TYPE_PASSIVATED,
        scaicore.EVENT_TYPE_RESTORED,
    ]
    # Follows live: a new invocation shows up on the open stream.
    await stub.InvokeCore(scaicore.InvokeCoreRequest(core_id="c"), metadata=md)
    live = await asyncio.wait_for(call.read(), 5)
    assert (live.sequence, live.type) == (6, scaicore.EVENT_TYPE_INVOKED)
    call.cancel()
    assert [e.sequence for e in fake.state.events["c"]] == [1, 2, 3, 4, 5, 6]


# -- idempotency, request ids, metadata -----------------------------------------------


async def test_request_id_is_idempotency_key(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    coord = scaimind.CoordinatorServiceStub(channel)
    md = auth(fake.token, **{"x-request-id": "rid-1"})
    a = await coord.SubmitJob(scaimind.SubmitJobRequest(spec=spec()), metadata=md)
    b = await coord.SubmitJob(scaimind.SubmitJobRequest(spec=spec()), metadata=md)
    assert a.job.id == b.job.id and len(fake.state.jobs) == 1
    cores = scaicore.CoreRuntimeServiceStub(channel)
    for _ in range(2):
        await cores.InvokeCore(scaicore.InvokeCoreRequest(core_id="k"), metadata=md)
    assert fake.state.cores["k"].invocation_count == 1
    cluster = scaimind.ClusterServiceStub(channel)
    await cluster.RegisterNode(scaimind.RegisterNodeRequest(node_id="n", gpus=2), metadata=md)
    for _ in range(2):
        await cluster.AllocateGPUs(scaimind.AllocateGPUsRequest(job_id="j", count=1), metadata=md)
    assert len(fake.state.allocations) == 1


async def test_request_id_echo_and_journal(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    call = stub.ListModels(
        scaiinfer.ListModelsRequest(),
        metadata=auth(fake.token, **{"x-request-id": "abc", "x-echo-tag": "t1"}),
    )
    await call
    initial = dict(tuple(await call.initial_metadata()))
    assert initial["x-request-id"] == "abc" and initial["x-echo-tag"] == "t1"
    (journal,) = fake.calls("InferenceService.ListModels")
    assert journal.request_id == "abc" and journal.status == grpc.StatusCode.OK
    assert journal.metadata["x-echo-tag"] == "t1"
    assert journal.ended is not None and journal.ended >= journal.started
    assert fake.token not in repr(journal)
    await stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(fake.token))
    generated = fake.calls("InferenceService.ListModels")[1].request_id
    assert generated and generated != "abc"
    with pytest.raises(ValueError, match=r"Service\.Method"):
        fake.calls("ListModels")


# -- auth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "status", "code"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED, "missing_token"),
        ((("authorization", "Basic abc"),), grpc.StatusCode.UNAUTHENTICATED, "malformed_token"),
        ((("authorization", "Bearer nope"),), grpc.StatusCode.UNAUTHENTICATED, "invalid_token"),
        (
            (("authorization", "Bearer sk-live-1234"),),
            grpc.StatusCode.UNAUTHENTICATED,
            "api_key_not_accepted",
        ),
    ],
)
async def test_auth_failures(
    channel: grpc.aio.Channel,
    metadata: tuple[tuple[str, str], ...],
    status: grpc.StatusCode,
    code: str,
) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    err = await rpc_error(stub.ListModels(scaiinfer.ListModelsRequest(), metadata=metadata))
    assert (err.code(), error_code(err)) == (status, code)
    if code == "api_key_not_accepted":
        assert "not API keys" in (err.details() or "")


async def test_token_expiry_and_scopes(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    infer = scaiinfer.InferenceServiceStub(channel)
    short = fake.issue_token(scopes=["scaiinfer"], expires_in=0.2)
    await infer.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(short))
    coord = scaimind.CoordinatorServiceStub(channel)
    err = await rpc_error(coord.ListJobs(scaimind.ListJobsRequest(), metadata=auth(short)))
    assert (err.code(), error_code(err)) == (grpc.StatusCode.PERMISSION_DENIED, "permission_denied")
    assert short not in (err.details() or "")
    await asyncio.sleep(0.25)
    err = await rpc_error(infer.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(short)))
    assert (err.code(), error_code(err)) == (grpc.StatusCode.UNAUTHENTICATED, "token_expired")
    with pytest.raises(ValueError, match="scopes"):
        fake.issue_token(scopes=["scaiwhat"])


# -- faults and delays -----------------------------------------------------------------


async def test_faults_queue_in_order(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    md = auth(fake.token)
    fake.fail(
        "InferenceService.ListModels",
        grpc.StatusCode.UNAVAILABLE,
        code="backend_unavailable",
        times=2,
    )
    fake.fail(
        "InferenceService.ListModels",
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        code="rate_limited",
        message="slow down\tplease ✓",
    )
    seen = []
    for _ in range(4):
        try:
            await stub.ListModels(scaiinfer.ListModelsRequest(), metadata=md)
            seen.append("ok")
        except grpc.aio.AioRpcError as err:
            seen.append(error_code(err))
            last = err
    assert seen == ["backend_unavailable", "backend_unavailable", "rate_limited", "ok"]
    assert last.details() == "slow down\tplease ✓"
    assert [c.status for c in fake.calls("InferenceService.ListModels")] == [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.OK,
    ]


async def test_fault_before_headers_is_trailers_only(
    fake: FakeScaiGrid, channel: grpc.aio.Channel
) -> None:
    stub = scaiinfer.InferenceServiceStub(channel)
    fake.fail("InferenceService.StreamInference", grpc.StatusCode.UNAVAILABLE, pushback_ms=250)
    call = stub.StreamInference(
        scaiinfer.InferenceRequest(model=OMNI, messages=user("x")), metadata=auth(fake.token)
    )
    err = await rpc_error(call.read())
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert dict(tuple(err.trailing_metadata() or ()))["grpc-retry-pushback-ms"] == "250"
    assert not (err.initial_metadata() or ())


async def test_fault_after_messages(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaicore.CoreRuntimeServiceStub(channel)
    md = auth(fake.token)
    for _ in range(3):
        await stub.InvokeCore(scaicore.InvokeCoreRequest(core_id="c"), metadata=md)
    fake.fail(
        "CoreRuntimeService.StreamEvents",
        grpc.StatusCode.UNAVAILABLE,
        code="service_draining",
        after_messages=2,
    )
    got = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for event in stub.StreamEvents(
            scaicore.StreamEventsRequest(core_id="c"), metadata=md
        ):
            got.append(event.sequence)
    assert got == [1, 2]
    assert error_code(info.value) == "service_draining"
    assert fake.calls("CoreRuntimeService.StreamEvents")[0].messages == 2


async def test_fault_after_effect(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaimind.CoordinatorServiceStub(channel)
    md = auth(fake.token, **{"x-request-id": "same"})
    fake.fail("CoordinatorService.SubmitJob", grpc.StatusCode.UNAVAILABLE, after_effect=True)
    await rpc_error(stub.SubmitJob(scaimind.SubmitJobRequest(spec=spec()), metadata=md))
    assert len(fake.state.jobs) == 1  # the effect happened
    again = await stub.SubmitJob(scaimind.SubmitJobRequest(spec=spec()), metadata=md)
    assert list(fake.state.jobs) == [again.job.id]


async def test_delay_and_deadline(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaimind.CoordinatorServiceStub(channel)
    fake.delay("CoordinatorService.ListJobs", seconds=0.5)
    err = await rpc_error(
        stub.ListJobs(scaimind.ListJobsRequest(), metadata=auth(fake.token), timeout=0.1)
    )
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await stub.ListJobs(scaimind.ListJobsRequest(), metadata=auth(fake.token), timeout=1)
    await asyncio.sleep(0.5)
    first = fake.calls("CoordinatorService.ListJobs")[0]
    assert first.status in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


async def test_drop_streams_and_reset(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    stub = scaicore.CoreRuntimeServiceStub(channel)
    md = auth(fake.token)
    await stub.InvokeCore(scaicore.InvokeCoreRequest(core_id="c"), metadata=md)
    calls = [
        stub.StreamEvents(scaicore.StreamEventsRequest(core_id="c"), metadata=md) for _ in range(3)
    ]
    for call in calls:
        assert [(await call.read()).sequence for _ in range(2)] == [1, 2]
    assert fake.drop_streams() == 3
    for call in calls:
        err = await rpc_error(call.read())
        assert (err.code(), error_code(err)) == (grpc.StatusCode.UNAVAILABLE, "service_draining")
    fake.reset()
    assert fake.state.cores == {} and fake.calls() == []
    await stub.InvokeCore(scaicore.InvokeCoreRequest(core_id="c"), metadata=md)


LIST = "InferenceService.ListModels"


async def test_bad_fault_arguments(fake: FakeScaiGrid) -> None:
    with pytest.raises(ValueError, match="unknown"):
        fake.fail("Nope.Method", grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(ValueError, match="status"):
        fake.fail("InferenceService.ListModels", grpc.StatusCode.OK)
    with pytest.raises(ValueError, match="seconds"):
        fake.delay("InferenceService.ListModels", seconds=-1)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda f: f.delay(LIST, seconds="x"), TypeError, r"^seconds: expected a number"),
        (
            lambda f: f.delay(LIST, seconds=float("nan")),
            ValueError,
            r"^seconds: must be finite|^seconds: must be a finite",
        ),
        (
            lambda f: f.delay(LIST, seconds=1, times=0),
            ValueError,
            r"^times: must be at least 1, got 0",
        ),
        (lambda f: f.fail(LIST, "unavailable", times="2"), TypeError, r"^times: expected an int"),
        (
            lambda f: f.fail(LIST, "unavailable", after_messages=-1),
            ValueError,
            r"^after_messages: must be at least 0",
        ),
        (
            lambda f: f.fail(LIST, "permission_denied", code=5),
            TypeError,
            r"^code: expected a non-empty str",
        ),
        (lambda f: f.issue_token(scopes="scaiinfer"), TypeError, r"^scopes: pass a list of scopes"),
        (lambda f: f.issue_token(expires_in="x"), TypeError, r"^expires_in: expected a number"),
    ],
)
async def test_a_bad_control_argument_is_named_before_anything_changes(
    fake: FakeScaiGrid, call: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(fake)
    assert fake.calls() == []
    async with fake.client() as grid:
        assert await grid.inference.list_models()  # nothing was queued


async def test_health_and_unimplemented(fake: FakeScaiGrid, channel: grpc.aio.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(channel)
    resp = await health.Check(
        health_pb2.HealthCheckRequest(service="scaiinfer.v1.InferenceService")
    )
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    missing = channel.unary_unary("/scaiinfer.v1.InferenceService/Nope")
    err = await rpc_error(missing(b"", metadata=auth(fake.token)))
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_reflection_lists_services(channel: grpc.aio.Channel) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    names = {s.name for s in response.list_services_response.service}
    assert {"scaiinfer.v1.InferenceService", "scaicore.v1.CoreRuntimeService"} <= names


@pytest.mark.slow
async def test_bursts_beyond_grpc_pending_limits(
    fake: FakeScaiGrid, channel: grpc.aio.Channel
) -> None:
    # grpc-core's default server cancels calls past 3000 pending; the fake must not.
    stub = scaicore.CoreRuntimeServiceStub(channel)
    md = auth(fake.token)
    results = await asyncio.gather(
        *(
            stub.InvokeCore(scaicore.InvokeCoreRequest(core_id="burst"), metadata=md)
            for _ in range(4000)
        ),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, Exception)] == []
    assert fake.state.cores["burst"].invocation_count == 4000


async def test_journal_can_be_bounded(channel: grpc.aio.Channel) -> None:
    async with FakeScaiGrid(max_calls=3) as small:
        async with grpc.aio.insecure_channel(small.target) as ch:
            stub = scaicore.CoreRuntimeServiceStub(ch)
            for i in range(5):
                await stub.InvokeCore(
                    scaicore.InvokeCoreRequest(core_id=f"c{i}"), metadata=auth(small.token)
                )
        assert [c.request.core_id for c in small.calls()] == ["c2", "c3", "c4"]  # type: ignore[attr-defined]
        assert len(small.state.cores) == 5


async def test_the_journal_records_every_response_when_asked() -> None:
    async with FakeScaiGrid(record_responses=True) as fake:
        async with grpc.aio.insecure_channel(fake.target) as channel:
            stub = scaiinfer.InferenceServiceStub(channel)
            request = scaiinfer.InferenceRequest(model=OMNI, messages=user("hi"), max_tokens=5)
            received = [c async for c in stub.StreamInference(request, metadata=auth(fake.token))]
            models = await stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(fake.token))
        stream_call = fake.calls("InferenceService.StreamInference")[0]
        assert stream_call.responses == received  # every frame, in order
        assert stream_call.messages == len(received) == 6
        assert fake.calls("InferenceService.ListModels")[0].responses == [models]


async def test_the_journal_keeps_no_responses_by_default(fake: FakeScaiGrid) -> None:
    async with grpc.aio.insecure_channel(fake.target) as channel:
        stub = scaiinfer.InferenceServiceStub(channel)
        request = scaiinfer.InferenceRequest(model=OMNI, messages=user("hi"), max_tokens=5)
        assert len([c async for c in stub.StreamInference(request, metadata=auth(fake.token))]) == 6
    call = fake.calls("InferenceService.StreamInference")[0]
    assert (call.messages, call.responses) == (6, [])

"""The SDK clients against the fake, over real loopback connections."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time

import grpc
import pytest

from scaigrid_client import (
    ClusterClient,
    CoordinatorClient,
    CoreRuntimeClient,
    HeartbeatClient,
    InferenceClient,
    RetryEvent,
    RetryPolicy,
    ScaiGrid,
    __version__,
    errors,
    raw_response,
)
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaicore, scaimind
from tests.support import flavours
from tests.support.fake_calls import ended

OMNI = "scailabs/poolnoodle-omni"
HI = [{"role": "user", "content": "Hi"}]
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio


async def test_every_client_method(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    models = await grid.inference.list_models()
    assert OMNI in [m.id for m in models]
    chunks = [
        c async for c in grid.inference.stream_inference(model=OMNI, messages=HI, max_tokens=7)
    ]
    text = "".join(c.delta.content for c in chunks)
    reply = await grid.inference.infer(model=OMNI, messages=HI, max_tokens=7)
    assert reply.content == text
    vectors = await grid.inference.embed(model=OMNI, inputs=["a", "b"])
    assert [len(v) for v in vectors] == [1024, 1024]
    ack = await grid.heartbeat.heartbeat(node_id="n1", gpu_count=8, queue_depth=2)
    assert ack.sequence == 1
    job = await grid.coordinator.submit_job(name="ft", base_model=OMNI, gpus=1, max_steps=4)
    assert [p.step async for p in grid.coordinator.stream_metrics(job.id)] == [1, 2, 3, 4]
    assert (await grid.coordinator.get_job(job.id)).state == scaimind.JOB_STATE_SUCCEEDED
    node = await grid.cluster.register_node(node_id="gpu-1", gpus=4)
    assert node.gpus_free == 4
    allocation = await grid.cluster.allocate_gpus(job_id=job.id, count=3)
    assert allocation.assignments[0].node_id == "gpu-1"
    result = await grid.core.invoke_core(core_id="c1", payload={"q": 1})
    assert result.activated
    assert (await grid.core.passivate_core(core_id="c1")).state == scaicore.CORE_STATE_PASSIVATED
    assert (await grid.core.restore_core(core_id="c1")).state == scaicore.CORE_STATE_ACTIVE
    stream = grid.core.stream_events("c1")
    events = [await stream.__anext__() for _ in range(4)]
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    # Every call carried the token, a request id and a user agent naming the SDK.
    for call in fake.calls():
        assert call.metadata["authorization"] == f"Bearer {fake.token}"
        assert call.metadata["x-request-id"] == call.request_id
        assert str(call.metadata["user-agent"]).startswith(f"scaigrid-client/{__version__} ")
    # On a channel the caller brings, the SDK names itself in x-scaigrid-client.
    async with (
        grpc.aio.insecure_channel(fake.target) as channel,
        InferenceClient(token=fake.token, channel=channel) as own,
    ):
        await own.list_models()
    last = fake.calls("InferenceService.ListModels")[-1]
    assert last.metadata["x-scaigrid-client"] == f"scaigrid-client/{__version__} python"


async def test_retries_keep_the_request_id(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=2)
    events: list[RetryEvent] = []
    async with InferenceClient(
        fake.target,
        token=fake.token,
        tls=False,
        retry=RetryPolicy(initial_backoff=0.01, on_retry=events.append),
    ) as client:
        info = await raw_response(client.list_models, request_id="my-id")
    calls = fake.calls("InferenceService.ListModels")
    assert [c.request_id for c in calls] == ["my-id"] * 3
    assert [c.metadata.get("grpc-previous-rpc-attempts") for c in calls] == [None, "1", "2"]
    assert [e.attempt for e in events] == [1, 2]
    assert (info.request_id, info.attempts) == ("my-id", 3)
    assert ("x-request-id", "my-id") in info.initial_metadata


async def test_gives_up_after_max_attempts(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail(
        "InferenceService.ListModels",
        grpc.StatusCode.UNAVAILABLE,
        code="backend_unavailable",
        times=5,
    )
    with pytest.raises(errors.UnavailableError) as info:
        await grid.inference.list_models()
    assert info.value.attempts == 5
    assert info.value.code == "backend_unavailable"
    assert "after 5 attempts" in str(info.value)
    assert len(fake.calls("InferenceService.ListModels")) == 5


async def test_only_unavailable_is_retried_by_default(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.INTERNAL, code="internal_error")
    with pytest.raises(errors.InternalError):
        await grid.inference.list_models()
    assert len(fake.calls("InferenceService.ListModels")) == 1


async def test_pushback(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, pushback_ms=300)
    await grid.inference.list_models()
    first, second = fake.calls("InferenceService.ListModels")
    assert second.started - first.started >= 0.29
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, pushback_ms=-1)
    with pytest.raises(errors.UnavailableError) as info:
        await grid.inference.list_models()
    assert info.value.attempts == 1


async def test_deadline_spans_retries(fake: FakeScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=100)
    slow = RetryPolicy(max_attempts=5, initial_backoff=0.2, max_backoff=0.2, jitter=0)
    async with InferenceClient(fake.target, token=fake.token, tls=False, retry=slow) as client:
        start = asyncio.get_running_loop().time()
        with pytest.raises((errors.UnavailableError, errors.DeadlineExceededError)):
            await client.list_models(timeout=0.5)
        assert asyncio.get_running_loop().time() - start < 0.6
    calls = fake.calls("InferenceService.ListModels")
    assert 2 <= len(calls) <= 3
    # Each attempt is sent with the time that remains, not the full timeout.
    budgets = [c.time_remaining for c in calls]
    # (grpc-timeout is sent in whole units, so allow a hair over 0.5 s.)
    assert all(b is not None and b <= 0.51 for b in budgets)
    assert budgets == sorted(budgets, reverse=True)  # type: ignore[type-var]
    assert budgets[0] - budgets[-1] >= 0.15  # type: ignore[operator]


async def test_a_deadline_says_what_ran_out(fake: FakeScaiGrid) -> None:
    fake.delay("InferenceService.ListModels", seconds=2, times=2)
    async with InferenceClient(fake.target, token=fake.token, tls=False, timeout=0.3) as client:
        with pytest.raises(errors.DeadlineExceededError) as info:
            await client.list_models()  # the client's default
        assert info.value.message == (
            "the call's deadline of 0.3 s ran out after 1 attempt (the client's default "
            "timeout=; pass timeout= to the call to change it)"
        )
        with pytest.raises(errors.DeadlineExceededError) as info:
            await client.list_models(timeout=0.2)
        assert "deadline of 0.2 s ran out after 1 attempt (timeout= of this call)" in str(
            info.value
        )
        assert "Deadline Exceeded" not in str(info.value)
    # Over retries: the attempts are counted.
    # (each attempt waits 0.4 s, then the first two fail: the third runs out)
    fake.delay("InferenceService.ListModels", seconds=0.4, times=3)
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=2)
    async with InferenceClient(fake.target, token=fake.token, tls=False, retry=FAST) as client:
        with pytest.raises(errors.DeadlineExceededError) as info:
            await client.list_models(timeout=1)
    assert info.value.attempts == 3
    assert "ran out after 3 attempts" in info.value.message


async def test_a_gateway_deadline_keeps_its_own_words(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail(
        "InferenceService.ListModels",
        grpc.StatusCode.DEADLINE_EXCEEDED,
        code="upstream_timeout",
        message="the model took too long",
    )
    with pytest.raises(errors.DeadlineExceededError) as info:
        await grid.inference.list_models(timeout=10)
    assert info.value.message == "the model took too long"


async def test_whitespace_stop_sequences_are_valid(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    reply = await grid.inference.infer(model=OMNI, messages=HI, stop=["\n", "\n\n", " "])
    assert reply.content
    request = fake.calls("InferenceService.Infer")[-1].request
    assert list(request.stop) == ["\n", "\n\n", " "]
    with pytest.raises(ValueError, match=r"stop\[1\]: must be a non-empty str"):
        await grid.inference.infer(model=OMNI, messages=HI, stop=["\n", ""])


async def test_no_duplicate_job_after_retry_past_commit(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("CoordinatorService.SubmitJob", grpc.StatusCode.UNAVAILABLE, after_effect=True)
    job = await grid.coordinator.submit_job(name="once", base_model=OMNI, gpus=1, max_steps=1)
    assert list(fake.state.jobs) == [job.id]
    fake.fail("CoreRuntimeService.InvokeCore", grpc.StatusCode.UNAVAILABLE, after_effect=True)
    await grid.core.invoke_core(core_id="k")
    assert fake.state.cores["k"].invocation_count == 1
    await grid.cluster.register_node(node_id="n", gpus=2)
    fake.fail("ClusterService.AllocateGPUs", grpc.StatusCode.UNAVAILABLE, after_effect=True)
    await grid.cluster.allocate_gpus(job_id=job.id, count=1)
    assert len(fake.state.allocations) == 1


async def test_resume_events_without_gap_or_duplicate(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    for _ in range(10):
        await grid.core.invoke_core(core_id="c")
    # 11 events (one activation, ten invocations); the stream drops after 3,
    # then 5, then 1 messages.
    for after in (3, 5, 1):
        fake.fail(
            "CoreRuntimeService.StreamEvents", grpc.StatusCode.UNAVAILABLE, after_messages=after
        )
    seen = []
    async with grid.core.stream_events("c") as stream:
        async for event in stream:
            seen.append(event.sequence)
            if event.sequence == 11:
                break
    assert seen == list(range(1, 12))
    calls = fake.calls("CoreRuntimeService.StreamEvents")
    assert [c.request.after_sequence for c in calls] == [0, 3, 8, 9]  # type: ignore[attr-defined]


async def test_resume_metrics_after_drop(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("CoordinatorService.StreamMetrics", grpc.StatusCode.UNAVAILABLE, after_messages=2)
    job = await grid.coordinator.submit_job(name="m", base_model=OMNI, gpus=1, max_steps=6)
    steps = [p.step async for p in grid.coordinator.stream_metrics(job.id)]
    assert steps == [1, 2, 3, 4, 5, 6]


async def test_stream_error_after_first_chunk_is_typed(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail(
        "InferenceService.StreamInference",
        grpc.StatusCode.UNAVAILABLE,
        code="service_draining",
        after_messages=2,
    )
    got = []
    with pytest.raises(errors.ServiceDrainingError) as info:
        async for chunk in grid.inference.stream_inference(
            model=OMNI, messages=HI, request_id="s1"
        ):
            got.append(chunk)
    assert len(got) == 2
    assert info.value.request_id == "s1"
    # The typed error stands alone: no grpc exception chained in its traceback.
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert len(fake.calls("InferenceService.StreamInference")) == 1


async def test_stream_retried_before_first_chunk(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("InferenceService.StreamInference", grpc.StatusCode.UNAVAILABLE, times=2)
    chunks = [
        c async for c in grid.inference.stream_inference(model=OMNI, messages=HI, max_tokens=3)
    ]
    assert len(chunks) == 4
    assert len({c.request_id for c in fake.calls("InferenceService.StreamInference")}) == 1


async def test_break_cancels_the_call(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.token_interval = 0.01
    async for _chunk in grid.inference.stream_inference(model=OMNI, messages=HI, max_tokens=500):
        break
    call = await ended(fake.calls("InferenceService.StreamInference")[0])
    assert call.status == grpc.StatusCode.CANCELLED
    assert call.messages < 50


async def test_cancel_from_another_task_ends_the_iteration(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    # A watcher stops a tail that is waiting for the next event: the loop
    # simply ends, with no CancelledError leaking into the reading task.
    await grid.core.invoke_core(core_id="tail")
    stream = grid.core.stream_events("tail")
    seen: list[int] = []

    async def read() -> None:
        async for event in stream:
            seen.append(event.sequence)

    reader = asyncio.create_task(read())
    while not seen:
        await asyncio.sleep(0.01)
    stream.cancel()
    await asyncio.wait_for(reader, 5)
    assert seen == list(range(1, len(seen) + 1))
    assert [e async for e in stream] == []  # and it stays ended
    call = await ended(fake.calls("CoreRuntimeService.StreamEvents")[0])
    assert call.status == grpc.StatusCode.CANCELLED


async def test_cancel_inside_the_loop_ends_it(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    stream = grid.inference.stream_inference(model=OMNI, messages=HI, max_tokens=50)
    seen = []
    async for chunk in stream:
        seen.append(chunk.index)
        stream.cancel()
    assert seen == [0]


async def test_cancelling_the_reading_task_still_cancels_it(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    # Cancelling the task that reads is the caller's cancellation, not the
    # end of the stream: CancelledError reaches it, and the call is cancelled.
    if not flavours.is_async(grid):
        pytest.skip("asyncio task cancellation: the sync flavour has no tasks")
    await grid.core.invoke_core(core_id="quiet")
    stream = grid.core.stream_events("quiet", after_sequence=100)
    waiting = asyncio.ensure_future(stream.__anext__())
    while not fake.calls("CoreRuntimeService.StreamEvents"):
        await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    call = await ended(fake.calls("CoreRuntimeService.StreamEvents")[0])
    assert call.status == grpc.StatusCode.CANCELLED


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, "token_expired", errors.TokenExpiredError),
        (grpc.StatusCode.PERMISSION_DENIED, "budget_exceeded", errors.BudgetExceededError),
        (grpc.StatusCode.PERMISSION_DENIED, "permission_denied", errors.PermissionDeniedError),
        (grpc.StatusCode.NOT_FOUND, "whatever_new", errors.NotFoundError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "quota_exhausted", errors.QuotaExhaustedError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited", errors.RateLimitError),
        (grpc.StatusCode.INVALID_ARGUMENT, None, errors.InvalidArgumentError),
        (grpc.StatusCode.INTERNAL, "internal_error", errors.InternalError),
        (grpc.StatusCode.UNAVAILABLE, "service_draining", errors.ServiceDrainingError),
        (grpc.StatusCode.UNAVAILABLE, "backend_unavailable", errors.BackendUnavailableError),
    ],
)
async def test_errors_are_typed(
    fake: FakeScaiGrid, grid: ScaiGrid, status: grpc.StatusCode, code: str | None, cls: type
) -> None:
    # Five faults: enough to outlast the retries of the retryable statuses.
    fake.fail("InferenceService.Embed", status, code=code, message="tab\there\r\nü 🚀", times=5)
    with pytest.raises(cls) as info:
        await grid.inference.embed(model=OMNI, inputs=["x"], request_id="rid-e")
    error = info.value
    assert isinstance(error, errors.ScaiGridError)
    assert (error.status, error.code, error.request_id) == (status, code, "rid-e")
    assert error.message == "tab\there\r\nü 🚀"


async def test_real_errors_from_the_fake(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        await grid.inference.infer(model="nope/model", messages=HI)
    assert info.value.code == "model_not_found"
    with pytest.raises(errors.InsufficientGPUsError):
        await grid.cluster.allocate_gpus(job_id="j", count=1)
    await grid.core.invoke_core(core_id="c")
    await grid.core.passivate_core(core_id="c")
    with pytest.raises(errors.FailedPreconditionError):
        await grid.core.passivate_core(core_id="c")


async def test_validation_before_the_wire(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    cases = [
        (grid.inference.infer(model="", messages=HI), "model"),
        (grid.inference.infer(model=OMNI, messages=[]), "messages"),
        (
            grid.inference.infer(model=OMNI, messages=[{"role": "bot", "content": "x"}]),
            "messages[0].role",
        ),
        (grid.inference.infer(model=OMNI, messages=HI, temperature=5), "temperature"),
        (grid.inference.embed(model=OMNI, inputs=[]), "inputs"),
        (grid.coordinator.submit_job(name="x", base_model=OMNI, gpus=0, max_steps=1), "gpus"),
        (grid.coordinator.submit_job(name="x", base_model=OMNI, gpus=1, max_steps=0), "max_steps"),
        (grid.cluster.allocate_gpus(job_id="j", count=0), "count"),
        (grid.inference.list_models(metadata={"x-bad": "a\r\nb"}), "x-bad"),
        (grid.inference.list_models(request_id="é"), "request_id"),
    ]
    for coro, field in cases:
        with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
            await coro
    assert fake.calls() == []


async def test_token_provider_rotation_and_refresh(fake: FakeScaiGrid) -> None:
    class Provider:
        def __init__(self) -> None:
            self.fetches = 0
            self.token = fake.issue_token(expires_in=0.05)

        async def get_token(self) -> str:
            return self.token

        def invalidate(self) -> None:
            self.fetches += 1
            self.token = fake.issue_token()

    provider = Provider()
    async with InferenceClient(fake.target, token=provider, tls=False) as client:
        await asyncio.sleep(0.1)  # the first token has expired
        await client.list_models()
    assert provider.fetches == 1
    codes = [c.code for c in fake.calls("InferenceService.ListModels")]
    assert codes == ["token_expired", None]

    tokens = iter([fake.token, fake.issue_token()])

    async def rotating() -> str:
        return next(tokens)

    async with InferenceClient(fake.target, token=rotating, tls=False) as client:
        await client.list_models()
        await client.list_models()
    sent = [c.metadata["authorization"] for c in fake.calls("InferenceService.ListModels")[-2:]]
    assert sent[0] != sent[1]


async def test_bad_token_is_typed_and_not_leaked(
    fake: FakeScaiGrid, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sgst_not_a_real_token_123456"
    client = InferenceClient(fake.target, token=secret, tls=False, retry=FAST)
    with pytest.raises(errors.AuthenticationError) as info:
        await client.list_models()
    await client.close()
    assert info.value.code == "invalid_token"
    for text in (str(info.value), repr(info.value), repr(client), caplog.text):
        assert secret not in text
    with pytest.raises(ValueError, match="token") as bad:
        InferenceClient(fake.target, token="abc\r\nx-evil: 1", tls=False)
    assert "evil" not in str(bad.value)
    api_key = InferenceClient(fake.target, token="sk-live-abc", tls=False)
    with pytest.raises(errors.ApiKeyNotAcceptedError):
        await api_key.list_models()
    await api_key.close()


async def test_retry_budget_caps_attempts(fake: FakeScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=10_000)
    async with InferenceClient(fake.target, token=fake.token, tls=False, retry=FAST) as client:
        results = await asyncio.gather(
            *(client.list_models() for _ in range(100)), return_exceptions=True
        )
    assert all(isinstance(r, errors.UnavailableError) for r in results)
    attempts = len(fake.calls("InferenceService.ListModels"))
    assert 100 <= attempts < 200  # far below 100 x 5


async def test_constructors_need_no_loop_and_read_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIGRID_TARGET", "gateway.example")
    monkeypatch.setenv("SCAIGRID_SERVICE_TOKEN", "sgst_env")
    for cls in (
        InferenceClient,
        HeartbeatClient,
        CoordinatorClient,
        ClusterClient,
        CoreRuntimeClient,
        ScaiGrid,
    ):
        client = cls()
        assert "gateway.example:50051" in repr(client)
        assert "sgst_env" not in repr(client)
        await client.close()
    monkeypatch.delenv("SCAIGRID_TARGET")
    with pytest.raises(ValueError, match="SCAIGRID_TARGET"):
        InferenceClient()


async def test_heartbeat_loop_survives_failures(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail("HeartbeatService.Heartbeat", grpc.StatusCode.INTERNAL, times=2)
    depth = iter(range(1000))
    loop = grid.heartbeat.start_heartbeats(
        node_id="agent",
        capacity=lambda: {"queue_depth": next(depth), "gpu_count": 2},
        interval=0.01,
    )
    for _ in range(300):
        if loop.sent >= 3:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert not loop.running
    assert loop.failed == 2
    assert len(fake.state.heartbeats["agent"]) >= 3


async def test_heartbeat_fields_a_capacity_may_not_return_are_named(
    fake: FakeScaiGrid, grid: ScaiGrid, caplog: pytest.LogCaptureFixture
) -> None:
    """A misspelt field or a call option from capacity() is the agent's
    mistake, named as such (not "capacity() failed"), and nothing is sent."""
    answers = iter([{"gpu_cnt": 1}, {"timeout": 5}])
    loop = grid.heartbeat.start_heartbeats(
        node_id="agent", capacity=lambda: next(answers, {"gpu_count": 1}), interval=0.01
    )
    for _ in range(300):
        if loop.sent >= 1:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert loop.failed == 2
    lines = [r.getMessage() for r in caplog.records if "capacity()" in r.getMessage()]
    assert len(lines) == 2 and all("does not take" in line for line in lines), lines
    assert "gpu_cnt" in lines[0] and "timeout" in lines[1]
    assert not any(r.exc_info for r in caplog.records)  # a mistake, not a crash: no traceback
    sent = fake.state.heartbeats["agent"]
    assert [h.request.gpu_count for h in sent][:1] == [1]


async def test_a_heartbeat_loop_without_an_interval_follows_the_gateway(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    from scaigrid_client._retry import heartbeat_wait
    from scaigrid_client.v1 import scaiinfer

    asked = scaiinfer.HeartbeatResponse(next_interval_ms=250)
    assert heartbeat_wait(None, asked, 0.0) == 0.25  # what the gateway asked
    assert heartbeat_wait(None, None, 0.0) == 5.0  # before the first answer
    assert heartbeat_wait(2.0, asked, 0.0) == 2.0  # the agent's own interval wins
    assert 0.225 <= heartbeat_wait(None, asked, 0.1) <= 0.275
    loop = grid.heartbeat.start_heartbeats(node_id="agent", capacity=dict)  # interval=None
    for _ in range(300):
        if loop.sent >= 1:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert loop.sent == 1 and loop.last.next_interval_ms == 5000  # the fake asks for 5 s
    with pytest.raises(ValueError, match="interval: must be a positive number of seconds or None"):
        grid.heartbeat.start_heartbeats(node_id="agent", capacity=dict, interval=0)


async def test_capacity_may_return_every_heartbeat_field_and_nothing_else() -> None:
    from scaigrid_client import _clients

    fields = set(inspect.signature(_clients.HeartbeatClient.heartbeat).parameters)
    assert fields - {"self", "node_id", "options"} == _clients._HEARTBEAT_FIELDS


async def test_scaigrid_shares_one_channel(fake: FakeScaiGrid) -> None:
    grid = ScaiGrid(fake.target, token=fake.token, tls=False)
    await grid.inference.list_models()
    await grid.core.invoke_core(core_id="x")
    assert grid.inference._transport.channel is grid.core._transport.channel
    await grid.inference.close()  # a member client does not close the shared channel
    await grid.core.get_core("x")
    await grid.close()
    with pytest.raises(RuntimeError, match="closed"):
        await grid.core.get_core("x")


async def test_sync_token_function_and_capacity_bugs(fake: FakeScaiGrid) -> None:
    calls = 0

    def token() -> str:
        nonlocal calls
        calls += 1
        return fake.token

    async with ScaiGrid(fake.target, token=token, tls=False) as grid:
        await grid.inference.list_models()
        await grid.inference.list_models()
        assert calls == 2  # asked on every call

        broken = itertools.chain(
            [{"queue_depth": 1}, {"no_such_field": 1}], itertools.repeat({"queue_depth": 2})
        )
        loop = grid.heartbeat.start_heartbeats(
            node_id="n", capacity=lambda: next(broken), interval=0.01
        )
        for _ in range(300):
            if loop.sent >= 2:
                break
            await asyncio.sleep(0.01)
        assert loop.running
        await loop.stop()
    assert loop.failed == 1
    assert loop.sent >= 2


async def test_a_blocking_token_function_is_named_once(
    fake: FakeScaiGrid, caplog: pytest.LogCaptureFixture
) -> None:
    # A plain function runs on the event loop: one that blocks it (a network
    # fetch, say) still works, and the log says so, once.
    def slow_token() -> str:
        time.sleep(0.06)
        return fake.token

    with caplog.at_level(logging.WARNING, logger="scaigrid_client"):
        async with ScaiGrid(fake.target, token=slow_token, tls=False) as grid:
            await grid.inference.list_models()
            await grid.inference.list_models()
    warnings = [
        r.getMessage() for r in caplog.records if "blocked the event loop" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "slow_token" in warnings[0]
    assert fake.token not in caplog.text


async def test_stream_call_info(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    stream = grid.inference.stream_inference(
        model=OMNI, messages=HI, max_tokens=2, request_id="s-info", metadata={"x-echo-tag": "t"}
    )
    assert await stream.trailing_metadata() == ()
    chunks = [c async for c in stream]
    assert len(chunks) == 3
    assert ("x-request-id", "s-info") in await stream.initial_metadata()
    trailers = dict(await stream.trailing_metadata())
    assert trailers["x-echo-tag"] == "t"
    assert stream.attempts == 1

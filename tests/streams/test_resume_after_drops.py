"""Reliability: the fault matrix, gRPC's interop transport cases, load, and
scale-out. Every fault is injected deterministically (seeded where random)."""

from __future__ import annotations

import asyncio
import gc
import pathlib
import random
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from scaigrid_client import (
    CallInfo,
    InferenceClient,
    RetryPolicy,
    ScaiGrid,
    ServerStream,
    errors,
)
from scaigrid_client._transport import Method
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer
from tests.support.standalone import Standalone

OMNI = "scailabs/poolnoodle-omni"
HI = [{"role": "user", "content": "Hi"}]
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
TOKEN = "sgst_reliability_suite"
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def grid(fake: FakeScaiGrid) -> AsyncIterator[ScaiGrid]:
    async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as client:
        yield client


# -- fault matrix --------------------------------------------------------------------


async def test_cancelling_during_a_backoff_sleep_stops_at_once(fake: FakeScaiGrid) -> None:
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=10)
    slow = RetryPolicy(initial_backoff=1.0, max_backoff=1.0, jitter=0)
    async with InferenceClient(fake.target, token=fake.token, tls=False, retry=slow) as client:
        task = asyncio.create_task(client.list_models())
        while not fake.calls("InferenceService.ListModels"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # now in the 1 s backoff sleep
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 0.5)
        await asyncio.sleep(1.2)  # past when the retry would have gone out
    assert len(fake.calls("InferenceService.ListModels")) == 1


async def _events_until(stream: ServerStream, last: int) -> list[int]:  # type: ignore[type-arg]
    seen = []
    async with stream:
        async for event in stream:
            seen.append(event.sequence)
            if event.sequence >= last:
                break
    return seen


async def test_event_stream_dropped_20_times_is_exactly_1_to_n(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    await asyncio.gather(*(grid.core.invoke_core(core_id="c") for _ in range(149)))
    total = 150  # one activation, 149 invocations
    rng = random.Random(20261126)
    for _ in range(20):
        fake.fail(
            "CoreRuntimeService.StreamEvents",
            grpc.StatusCode.UNAVAILABLE,
            code=rng.choice(["backend_unavailable", "service_draining"]),
            after_messages=rng.randint(1, 12),
        )
    seen = await asyncio.wait_for(_events_until(grid.core.stream_events("c"), total), 30)
    assert seen == list(range(1, total + 1))
    assert len(fake.calls("CoreRuntimeService.StreamEvents")) == 21


async def test_metrics_stream_dropped_20_times_is_exactly_1_to_n(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    rng = random.Random(7)
    for _ in range(20):
        fake.fail(
            "CoordinatorService.StreamMetrics",
            grpc.StatusCode.UNAVAILABLE,
            after_messages=rng.randint(1, 8),
        )
    job = await grid.coordinator.submit_job(name="drops", base_model=OMNI, gpus=1, max_steps=200)
    steps = [p.step async for p in grid.coordinator.stream_metrics(job.id)]
    assert steps == list(range(1, 201))
    assert len(fake.calls("CoordinatorService.StreamMetrics")) == 21


async def test_every_stream_dropped_at_once_continues(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    for core in ("a", "b", "c"):
        await grid.core.invoke_core(core_id=core)  # events 1 and 2
    job = await grid.coordinator.submit_job(name="j", base_model=OMNI, gpus=1, max_steps=120)
    tails = [
        asyncio.create_task(_events_until(grid.core.stream_events(core), 6))
        for core in ("a", "b", "c")
        for _ in range(2)
    ]
    metrics = [asyncio.create_task(_collect_steps(grid, job.id)) for _ in range(3)]

    def streaming(method: str, at_least: int) -> int:
        return len([c for c in fake.calls(method) if c.messages >= at_least and c.ended is None])

    while (
        streaming("CoreRuntimeService.StreamEvents", 2) < 6
        or streaming("CoordinatorService.StreamMetrics", 1) < 3
    ):
        await asyncio.sleep(0.005)
    assert fake.drop_streams(code="service_draining") == 9
    for core in ("a", "b", "c"):
        for _ in range(4):
            await grid.core.invoke_core(core_id=core)  # events 3..6, after the drop
    for tail in tails:
        assert await asyncio.wait_for(tail, 10) == [1, 2, 3, 4, 5, 6]
    for steps in metrics:
        assert await asyncio.wait_for(steps, 10) == list(range(1, 121))


async def _collect_steps(grid: ScaiGrid, job_id: str) -> list[int]:
    return [p.step async for p in grid.coordinator.stream_metrics(job_id)]


async def test_a_restarted_standalone_gateway_needs_no_new_client() -> None:
    gateway = Standalone(TOKEN).start()
    retry = RetryPolicy(initial_backoff=0.5, max_backoff=2.0, jitter=0)
    try:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False, retry=retry) as client:
            assert len(await client.list_models()) == 3
            gateway.stop()
            gateway.start()  # same port
            assert len(await client.list_models(timeout=20)) == 3
    finally:
        gateway.stop()


# -- transport cases (gRPC interop) --------------------------------------------------


async def test_large_unary_response(grid: ScaiGrid) -> None:
    vectors = await grid.inference.embed(model=OMNI, inputs=[f"text {i}" for i in range(1100)])
    assert len(vectors) == 1100
    assert sum(len(v) for v in vectors) * 4 > 4 << 20  # over 4 MiB of floats


async def test_two_gib_streamed_output() -> None:
    total = 2 << 30
    with Standalone(TOKEN) as gateway:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False) as client:
            received = chunks = 0
            rss_before = _rss()
            async for chunk in client.stream_inference(model=OMNI, messages=HI, binary_bytes=total):
                received += len(chunk.data)
                chunks += 1
            grew = _rss() - rss_before
    assert received == total
    assert chunks == 2049  # 2048 chunks of 1 MiB, and the last with usage
    assert grew < 256 << 20  # nothing holds the output: growth is buffers, not 2 GiB


def _rss() -> int:
    import os

    statm = pathlib.Path("/proc/self/statm").read_text().split()
    return int(statm[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_custom_metadata_round_trips(grid: ScaiGrid) -> None:
    info = CallInfo()
    await grid.inference.list_models(
        metadata={"x-echo-trace": "t-123", "x-echo-blob-bin": b"\x00\xffbinary"},
        request_id="md-1",
        call_info=info,
    )
    initial, trailing = dict(info.initial_metadata), dict(info.trailing_metadata)
    for received in (initial, trailing):
        assert received["x-echo-trace"] == "t-123"
        assert received["x-echo-blob-bin"] == b"\x00\xffbinary"
        assert received["x-request-id"] == "md-1"


async def test_special_status_message_is_preserved(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    text = "\t\ttab\r\nCRLF and non-BMP \U0001f680 \u00fc"
    fake.fail("CoreRuntimeService.GetCore", grpc.StatusCode.UNKNOWN, message=text)
    with pytest.raises(errors.UnknownError) as info:
        await grid.core.get_core("x")
    assert info.value.message == text


async def test_unimplemented_method_is_typed(grid: ScaiGrid) -> None:
    missing: Method[scaiinfer.ListModelsRequest, scaiinfer.ListModelsResponse] = Method(
        name="InferenceService.Missing",
        path="/scaiinfer.v1.InferenceService/Missing",
        request_type=scaiinfer.ListModelsRequest,
        response_type=scaiinfer.ListModelsResponse,
        streaming=False,
    )
    with pytest.raises(errors.UnimplementedError) as info:
        await grid.inference._transport.unary(missing, scaiinfer.ListModelsRequest())
    assert info.value.status == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.attempts == 1
    missing_service = Method(
        name="Nope.Missing",
        path="/scaiinfer.v1.NopeService/Missing",
        request_type=scaiinfer.ListModelsRequest,
        response_type=scaiinfer.ListModelsResponse,
        streaming=False,
    )
    with pytest.raises(errors.UnimplementedError):
        await grid.inference._transport.unary(missing_service, scaiinfer.ListModelsRequest())


async def test_timeout_on_a_sleeping_server(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.delay("CoordinatorService.SubmitJob", seconds=1.0)
    with pytest.raises(errors.DeadlineExceededError) as info:
        await grid.coordinator.submit_job(
            name="slow", base_model=OMNI, gpus=1, max_steps=1, timeout=0.2
        )
    assert info.value.status == grpc.StatusCode.DEADLINE_EXCEEDED
    assert info.value.request_id
    assert len(fake.calls("CoordinatorService.SubmitJob")) == 1  # not retried


async def test_thousand_concurrent_unary_calls_on_one_channel(
    fake: FakeScaiGrid, grid: ScaiGrid
) -> None:
    results = await asyncio.gather(
        *(grid.core.invoke_core(core_id=f"core-{i % 10}") for i in range(1000))
    )
    assert len({r.invocation_id for r in results}) == 1000
    assert sum(c.invocation_count for c in fake.state.cores.values()) == 1000


# -- load ------------------------------------------------------------------------------


async def test_thousand_streams_of_a_hundred_chunks() -> None:
    with Standalone(TOKEN) as gateway:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False) as client:

            async def one(prompt: str) -> list[scaiinfer.StreamInferenceResponse]:
                messages = [{"role": "user", "content": prompt}]
                return [
                    c
                    async for c in client.stream_inference(
                        model=OMNI, messages=messages, max_tokens=100
                    )
                ]

            prompts = [f"prompt {i % 50}" for i in range(1000)]
            results = await asyncio.gather(*(one(p) for p in prompts), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    reference: dict[str, str] = {}
    for prompt, chunks in zip(prompts, results, strict=True):
        assert isinstance(chunks, list)
        assert [c.index for c in chunks] == list(range(101))  # none lost, none twice
        text = "".join(c.delta.content for c in chunks)
        assert reference.setdefault(prompt, text) == text  # and in order


async def test_abandoned_streams_leak_nothing(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.token_interval = 0.005
    tasks_before = len(asyncio.all_tasks())
    for _ in range(100):
        async for _chunk in grid.inference.stream_inference(
            model=OMNI, messages=HI, max_tokens=1000
        ):
            break
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, ServerStream)]
    calls = fake.calls("InferenceService.StreamInference")
    for _ in range(200):
        if all(c.ended is not None for c in calls):
            break
        await asyncio.sleep(0.01)
    assert {c.status for c in calls} == {grpc.StatusCode.CANCELLED}
    assert max(c.messages for c in calls) < 100
    assert len(asyncio.all_tasks()) == tasks_before
    # The channel is the same one, and still serves.
    assert len(await grid.inference.list_models()) == 3


# -- security ---------------------------------------------------------------------------


async def test_tls_fails_closed_and_says_why() -> None:
    import trustme

    async with FakeScaiGrid(tls=True) as fake:
        ca = fake.client_tls().ca_cert
        # (grpcio < 1.78 words a host name mismatch "Peer name ... is not in
        # peer certificate"; errors.py knows both texts)
        cases = {
            "unknown_ca": dict(ca_cert=trustme.CA().cert_pem.bytes(), server_name="localhost"),
            "hostname_mismatch": dict(ca_cert=ca, server_name="gateway.example.com"),
        }
        for reason, settings in cases.items():
            from scaigrid_client import TLSConfig

            tls = TLSConfig(**settings)  # type: ignore[arg-type]
            async with InferenceClient(
                fake.target, token=fake.token, tls=tls, timeout=10
            ) as client:
                with pytest.raises(errors.TLSVerificationError) as info:
                    await client.list_models()
            assert info.value.reason == reason
            assert info.value.message.startswith("TLS: ")
            assert info.value.attempts == 1  # a bad certificate is not retried
            assert fake.token not in str(info.value)
        assert fake.calls() == []
    async with FakeScaiGrid() as plaintext:
        async with InferenceClient(plaintext.target, token=plaintext.token, timeout=10) as client:
            with pytest.raises(errors.TLSVerificationError) as info:
                await client.list_models()
        assert info.value.reason == "not_tls"


async def test_mtls_refuses_a_certificate_from_another_ca() -> None:
    import trustme

    from scaigrid_client import TLSConfig

    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        stranger = trustme.CA().issue_cert("client")
        tls = TLSConfig(
            ca_cert=fake.client_tls().ca_cert,
            client_cert=stranger.cert_chain_pems[0].bytes(),
            client_key=stranger.private_key_pem.bytes(),
            server_name="localhost",
        )
        once = RetryPolicy(max_attempts=1)
        async with InferenceClient(fake.target, token=fake.token, tls=tls, retry=once) as client:
            with pytest.raises(errors.UnavailableError):
                await client.list_models()
        assert fake.calls() == []


# -- scale-out and observability --------------------------------------------------------


async def test_round_robin_survives_a_killed_gateway() -> None:
    gateways = [Standalone(TOKEN).start() for _ in range(3)]
    try:
        target = "ipv4:" + ",".join(g.target for g in gateways)
        retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5)
        async with InferenceClient(target, token=TOKEN, tls=False, retry=retry) as client:
            for _ in range(6):
                await client.list_models()
            done = 0

            async def caller() -> None:
                nonlocal done
                for _ in range(40):
                    await client.list_models(timeout=20)
                    done += 1

            callers = [asyncio.create_task(caller()) for _ in range(5)]
            while done < 50:
                await asyncio.sleep(0.005)
            gateways[1].kill()  # under load, without a goodbye
            await asyncio.gather(*callers)  # raises if any call failed
            assert done == 200
    finally:
        for gateway in gateways:
            gateway.stop()


async def test_opentelemetry_interceptor_propagates_traceparent(fake: FakeScaiGrid) -> None:
    from opentelemetry.instrumentation.grpc import aio_client_interceptors
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    interceptors = aio_client_interceptors(tracer_provider=provider)
    async with InferenceClient(
        fake.target, token=fake.token, tls=False, interceptors=interceptors
    ) as client:
        await client.list_models()
    (call,) = fake.calls("InferenceService.ListModels")
    traceparent = call.metadata.get("traceparent")
    assert isinstance(traceparent, str)
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" in traceparent
    assert call.metadata["x-request-id"] == call.request_id  # the SDK's headers too


async def test_secrets_never_leak(
    fake: FakeScaiGrid, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from scaigrid_client import ScaiKeyTokenProvider, TLSConfig

    caplog.set_level(logging.DEBUG)
    secret = fake.issue_token()  # valid: its calls get as far as the injected faults
    narrow = fake.issue_token(scopes=["scaimind"])  # valid, but not for inference
    fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=2)
    texts = []
    async with InferenceClient(fake.target, token=secret, tls=False, retry=FAST) as client:
        texts.append(repr(client))
        await client.list_models()  # two retries, logged
    async with InferenceClient(fake.target, token=narrow, tls=False) as client:
        with pytest.raises(errors.PermissionDeniedError) as info:
            await client.list_models()
        texts += [repr(client), str(info.value), repr(info.value), repr(info.value.metadata)]
    provider = ScaiKeyTokenProvider(
        "https://scaikey.example/token", client_id="svc", client_secret=secret
    )
    texts += [repr(provider), repr(TLSConfig()), repr(RetryPolicy())]
    with pytest.raises(ValueError, match="token") as bad:
        InferenceClient(fake.target, token=secret + "\r\n", tls=False)
    texts.append(str(bad.value))
    out = capsys.readouterr()
    texts += [caplog.text, out.out, out.err]
    assert "retrying InferenceService.ListModels" in caplog.text
    for text in texts:
        assert secret not in text
        assert narrow not in text


async def test_default_policy_rides_out_a_restart_with_calls_in_flight() -> None:
    gateway = Standalone(TOKEN).start()
    try:
        async with InferenceClient(gateway.target, token=TOKEN, tls=False) as client:
            await client.list_models()
            stopped = asyncio.Event()
            results: list[int] = []

            async def caller() -> None:
                for _ in range(6):
                    results.append(len(await client.list_models()))
                    if len(results) >= 10:
                        await stopped.wait()

            callers = [asyncio.create_task(caller()) for _ in range(5)]
            while len(results) < 10:
                await asyncio.sleep(0.01)
            gateway.stop()  # down for about two seconds, calls in flight
            stopped.set()
            await asyncio.sleep(2.0)
            gateway.start()
            await asyncio.gather(*callers)  # the default RetryPolicy, no call fails
        assert results == [3] * 30
    finally:
        gateway.stop()

"""A user's own OpenTelemetry interceptor sees the SDK's calls and its
traceparent reaches the gateway; tokens and secrets never appear in reprs,
errors or logs."""

from __future__ import annotations

import grpc
import pytest

from scaigrid_client import InferenceClient, RetryPolicy, errors
from scaigrid_client.testing import FakeScaiGrid

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio


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

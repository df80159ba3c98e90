"""Telemetry: the SDK's spans and metrics, exported to the console (or to an
OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set and
opentelemetry-exporter-otlp is installed).

    pip install 'scaigrid-client[otel]' opentelemetry-sdk
    python examples/telemetry.py

A call that is retried twice is one span with its attempts and retries as
events; the gateway (here the bundled fake) receives the span's traceparent
on every attempt. Set SCAIGRID_LOG=debug to see one line per attempt too.
"""

from __future__ import annotations

import asyncio
import os

import grpc
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from scaigrid_client import RetryPolicy, ScaiGrid
from scaigrid_client.testing import FakeScaiGrid


def set_up() -> MeterProvider:
    span_exporter: object = ConsoleSpanExporter()
    metric_exporter: object = ConsoleMetricExporter()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter, metric_exporter = OTLPSpanExporter(), OTLPMetricExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))  # type: ignore[arg-type]
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)  # type: ignore[arg-type]
    meter_provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(meter_provider)
    return meter_provider


async def main() -> None:
    meter_provider = set_up()
    async with FakeScaiGrid() as fake:
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=2)
        retry = RetryPolicy(initial_backoff=0.05)
        async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=retry) as grid:
            with trace.get_tracer("example").start_as_current_span("list the models"):
                models = await grid.inference.list_models()
        print(f"{len(models)} models; the gateway saw these traceparents:")
        for call in fake.calls("InferenceService.ListModels"):
            print("  ", call.metadata.get("traceparent"))
    meter_provider.force_flush()


if __name__ == "__main__":
    asyncio.run(main())

"""Scripted calls under OpenTelemetry's SDK with in-memory exporters; prints
what was recorded as one JSON object. Run in its own process by
tests/observability/test_telemetry.py: OpenTelemetry's providers are process-global and
can be set only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import grpc
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scaigrid_client import RetryPolicy, ScaiGrid, errors, sync
from scaigrid_client.testing import FakeScaiGrid

exporter = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(tracer_provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.02)


async def scripted(fake: FakeScaiGrid) -> dict[str, Any]:
    traceparents: dict[str, list[str]] = {}
    async with ScaiGrid(fake.target, token=fake.token, tls=False, retry=FAST) as grid:
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE, times=2)
        await grid.inference.list_models(request_id="req-list")
        with contextlib.suppress(errors.NotFoundError):
            await grid.core.passivate_core(core_id="nope", request_id="req-missing")
        await grid.core.invoke_core(core_id="c")
        await grid.core.invoke_core(core_id="c")
        fake.fail("CoreRuntimeService.StreamEvents", grpc.StatusCode.UNAVAILABLE, after_messages=1)
        async for event in grid.core.stream_events("c", request_id="req-tail"):
            if event.sequence == 3:
                break
    for method in ("InferenceService.ListModels", "CoreRuntimeService.StreamEvents"):
        traceparents[method] = [str(c.metadata.get("traceparent")) for c in fake.calls(method)]
    return traceparents


def sync_calls(target: str, token: str, fake: FakeScaiGrid) -> None:
    fake.fail("CoordinatorService.ListJobs", grpc.StatusCode.UNAVAILABLE)
    with sync.ScaiGrid(target, token=token, tls=False, retry=FAST) as grid:
        grid.coordinator.list_jobs(request_id="req-sync")


def main() -> None:
    with FakeScaiGrid() as fake:
        traceparents = asyncio.run(scripted(fake))
        sync_calls(fake.target, fake.token, fake)
        traceparents["CoordinatorService.ListJobs"] = [
            str(c.metadata.get("traceparent")) for c in fake.calls("CoordinatorService.ListJobs")
        ]
    spans = [
        {
            "name": span.name,
            "kind": span.kind.name,
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
            "events": [event.name for event in span.events],
        }
        for span in exporter.get_finished_spans()
    ]
    points: list[dict[str, Any]] = []
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = getattr(point, "count", None)
                    points.append(
                        {"name": metric.name, "attributes": dict(point.attributes), "value": value}
                    )
    print(json.dumps({"spans": spans, "metrics": points, "traceparents": traceparents}))


if __name__ == "__main__":
    main()

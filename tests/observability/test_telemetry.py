"""Telemetry: one span per logical call with its attempts, retries and
resumes; metrics after a scripted sequence of faults; the traceparent on
every attempt; SCAIGRID_LOG lines that never carry the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.support import SCRIPTS

PROBE = SCRIPTS / "telemetry_probe.py"


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    pytest.importorskip("opentelemetry.sdk")
    done = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _span(recorded: dict[str, Any], name: str) -> dict[str, Any]:
    (span,) = [s for s in recorded["spans"] if s["name"] == name]
    return span


def _metric(recorded: dict[str, Any], name: str, method: str, status: int | None = None) -> Any:
    values = [
        p["value"]
        for p in recorded["metrics"]
        if p["name"] == name
        and p["attributes"].get("rpc.method") == method
        and (status is None or p["attributes"].get("rpc.grpc.status_code") == status)
    ]
    return sum(values)


def test_one_span_per_logical_call_with_its_attempts(recorded: dict[str, Any]) -> None:
    span = _span(recorded, "scaiinfer.v1.InferenceService/ListModels")
    assert span["kind"] == "CLIENT"
    assert span["status"] == "UNSET"
    assert span["attributes"] == {
        "rpc.system": "grpc",
        "rpc.service": "scaiinfer.v1.InferenceService",
        "rpc.method": "ListModels",
        "rpc.grpc.status_code": 0,
        "scaigrid.request_id": "req-list",
        "scaigrid.attempts": 3,
    }
    assert span["events"] == [
        "scaigrid.attempt",
        "scaigrid.retry",
        "scaigrid.attempt",
        "scaigrid.retry",
        "scaigrid.attempt",
    ]


def test_a_failed_call_is_an_error_span(recorded: dict[str, Any]) -> None:
    span = _span(recorded, "scaicore.v1.CoreRuntimeService/PassivateCore")
    assert span["status"] == "ERROR"
    assert span["attributes"]["rpc.grpc.status_code"] == 5
    assert span["attributes"]["scaigrid.code"] == "core_not_found"
    assert span["attributes"]["scaigrid.request_id"] == "req-missing"


def test_a_stream_is_one_span_with_its_resumes(recorded: dict[str, Any]) -> None:
    span = _span(recorded, "scaicore.v1.CoreRuntimeService/StreamEvents")
    assert span["attributes"]["scaigrid.resumes"] == 1
    assert "scaigrid.resume" in span["events"]
    # 1.0: every attempt counts (the one its link broke, the one its reader
    # left), though the stream's own count restarts once a message arrives.
    assert span["attributes"]["scaigrid.attempts"] == 2
    assert span["events"] == ["scaigrid.attempt", "scaigrid.resume", "scaigrid.attempt"]
    # Left early by its reader (break): CANCELLED, but not an error.
    assert span["attributes"]["rpc.grpc.status_code"] == 1
    assert span["status"] == "UNSET"


def test_the_gateway_receives_the_traceparent_on_every_attempt(recorded: dict[str, Any]) -> None:
    for method, name in [
        ("InferenceService.ListModels", "scaiinfer.v1.InferenceService/ListModels"),
        ("CoreRuntimeService.StreamEvents", "scaicore.v1.CoreRuntimeService/StreamEvents"),
        ("CoordinatorService.ListJobs", "scaimind.v1.CoordinatorService/ListJobs"),
    ]:
        span = _span(recorded, name)
        sent = recorded["traceparents"][method]
        assert len(sent) >= 2  # retried or resumed
        assert all(t.split("-")[1:3] == [span["trace_id"], span["span_id"]] for t in sent)


def test_the_sync_flavour_traces_too(recorded: dict[str, Any]) -> None:
    span = _span(recorded, "scaimind.v1.CoordinatorService/ListJobs")
    assert span["attributes"]["scaigrid.attempts"] == 2
    assert span["attributes"]["scaigrid.request_id"] == "req-sync"


def test_metrics_after_scripted_faults(recorded: dict[str, Any]) -> None:
    assert _metric(recorded, "scaigrid.client.attempts", "ListModels", 14) == 2
    assert _metric(recorded, "scaigrid.client.attempts", "ListModels", 0) == 1
    assert _metric(recorded, "scaigrid.client.retries", "ListModels") == 2
    assert _metric(recorded, "scaigrid.client.retries", "ListJobs") == 1
    assert _metric(recorded, "scaigrid.client.stream.resumes", "StreamEvents") == 1
    assert _metric(recorded, "rpc.client.duration", "ListModels", 0) == 1  # one call
    assert _metric(recorded, "rpc.client.duration", "PassivateCore", 5) == 1
    assert _metric(recorded, "rpc.client.duration", "InvokeCore", 0) == 2
    (budget,) = [
        p for p in recorded["metrics"] if p["name"] == "scaigrid.client.retry_budget.tokens"
    ]
    assert 95 < budget["value"] <= 100


_LOG_SCRIPT = """
import asyncio, grpc
from scaigrid_client import RetryPolicy, ScaiGrid
from scaigrid_client.testing import FakeScaiGrid

async def main():
    async with FakeScaiGrid() as fake:
        print(fake.token, flush=True)
        fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE)
        async with ScaiGrid(fake.target, token=fake.token, tls=False,
                            retry=RetryPolicy(initial_backoff=0.01)) as grid:
            await grid.inference.list_models(request_id="req-log")
            await grid.core.invoke_core(core_id="c", payload={"secret": "body-not-logged"})
            fake.fail("CoreRuntimeService.StreamEvents", grpc.StatusCode.UNAVAILABLE,
                      after_messages=1)
            async for event in grid.core.stream_events("c", request_id="req-stream"):
                if event.sequence == 2:
                    break

asyncio.run(main())
"""


def _run_logged(level: str) -> tuple[str, str]:
    env = {**os.environ, "SCAIGRID_LOG": level}
    done = subprocess.run(
        [sys.executable, "-c", _LOG_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip(), done.stderr


def test_scaigrid_log_debug_prints_each_attempt_and_resume() -> None:
    token, stderr = _run_logged("debug")
    lines = stderr.splitlines()
    attempts = [line for line in lines if "event=attempt" in line]
    assert any(
        "method=InferenceService.ListModels request_id=req-log attempt=1 status=UNAVAILABLE" in line
        for line in attempts
    ), stderr
    assert any("request_id=req-log attempt=2 status=OK" in line for line in attempts)
    stream = [line for line in attempts if "request_id=req-stream" in line]
    assert stream and "messages=1" in stream[0] and "bytes=" in stream[0]
    assert any("event=resume" in line or "resuming" in line for line in lines)
    assert all(line.startswith("scaigrid ") for line in lines), stderr
    assert token not in stderr
    assert "body-not-logged" not in stderr


def test_scaigrid_log_info_prints_retries_and_resumes_only() -> None:
    token, stderr = _run_logged("info")
    assert "event=attempt" not in stderr
    assert "retrying InferenceService.ListModels" in stderr
    assert "resuming CoreRuntimeService.StreamEvents" in stderr
    assert token not in stderr

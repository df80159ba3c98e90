"""Every example runs against the bundled fake and does what it says."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIGRID_")}
    result = subprocess.run(
        [sys.executable, *args],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_quickstart_streams_a_reply() -> None:
    out = run("quickstart.py")
    assert "scailabs/poolnoodle-omni" in out
    assert "request id" in out


def test_quickstart_sync_streams_a_reply() -> None:
    out = run("quickstart_sync.py")
    assert "scailabs/poolnoodle-omni" in out
    assert "request id" in out


def test_sse_endpoint_streams_events() -> None:
    pytest.importorskip("starlette", reason="the dev extra's starlette")
    out = run("sse_endpoint.py")
    assert "200 text/event-stream" in out
    assert out.count('data: "') >= 2  # the reply, chunk by chunk
    assert "event: done" in out


def test_flask_view_answers_and_maps_errors() -> None:
    pytest.importorskip("flask", reason="the dev extra's flask")
    out = run("flask_view.py")
    assert "GET /models: ['scailabs/embed-small'" in out
    assert "POST /summarize: 200 " in out
    assert "gateway draining: 503 " in out and "'code': 'service_draining'" in out


def test_deadlines_and_cancellation() -> None:
    out = run("deadlines.py")
    assert (
        "deadline: the call's deadline of 0.5 s ran out after 1 attempt (timeout= of this call)"
        in out
    )
    assert "raw_response: 3 models, my-trace-42, 1 attempt" in out
    assert "cancelled after " in out
    assert "the gateway saw x-tenant: acme" in out


def test_retries_backoff_pushback_idempotency_budget() -> None:
    out = run("retries.py")
    assert "attempt 2 of 5 failed with UNAVAILABLE; next in 0.30s" in out  # the pushback
    assert "list_models: 3 models, after two retries" in out
    assert "jobs on the gateway: 1" in out
    assert "not retried: the client's retry budget is spent" in out


def test_workers_make_their_own_clients() -> None:
    out = run("workers.py")
    assert "'fourth' -> 384 dimensions" in out
    assert "4 tasks on " in out


def test_telemetry_exports_one_span_per_call() -> None:
    pytest.importorskip("opentelemetry.sdk")
    out = run("telemetry.py")
    assert '"name": "scaiinfer.v1.InferenceService/ListModels"' in out
    assert out.count('"name": "scaigrid.retry"') == 2
    assert "3 models; the gateway saw these traceparents" in out
    assert "scaigrid.client.attempts" in out


def test_tail_events_resumes_without_gaps() -> None:
    out = run("tail_events.py", "--limit", "12")
    assert "12 events, sequences 1..12, gapless: True" in out
    assert "resuming CoreRuntimeService.StreamEvents" in out


def test_cursors_continue_and_notice_a_reset() -> None:
    out = run("cursors.py")
    second = out.split("second run, from the cursor:")[1].split("third run")[0]
    assert [line.split()[0] for line in second.strip().splitlines()] == ["#3", "#4"]
    assert "HistoryResetError (history_reset)" in out
    assert out.rstrip().splitlines()[-1].startswith("  #1 ")


def test_train_and_watch_follows_to_success() -> None:
    out = run("train_and_watch.py", "--steps", "5")
    assert "step    5/5" in out
    assert "JOB_STATE_SUCCEEDED" in out


@pytest.mark.slow
def test_heartbeat_agent_rides_out_failures() -> None:
    out = run("heartbeat_agent.py", "--seconds", "0.5")
    sent = int(out.split("heartbeats sent: ")[1].split(",")[0])
    failed = int(out.split("failed: ")[1].split()[0])
    assert failed == 2  # six injected faults: two heartbeats of three attempts each
    assert sent >= 2  # one before the outage at least, one after it


def test_gpu_nodes_allocates_once_and_releases() -> None:
    out = run("gpu_nodes.py")
    assert "alloc-000001: gpu-02 GPUs [0, 1]" in out
    assert "(the gateway saw 2 attempts and made one allocation)" in out
    assert "InsufficientGPUsError (insufficient_gpus)" in out
    assert "free after releasing: 16" in out


def test_mtls() -> None:
    out = run("mtls.py")
    assert "with a client certificate: scailabs/embed-small" in out
    assert "without one, refused: UNAVAILABLE" in out


@pytest.mark.slow
def test_rotating_agent_keeps_working_across_certificates() -> None:
    out = run("rotating_agent.py", "--seconds", "2.5")
    assert "heartbeats sent: " in out and ", failed: 0" in out
    assert "gapless: True" in out
    assert "the key does not belong to client_cert" in out  # the half-written pair, refused
    issued = int(out.split("certificates issued: ")[1].split(",")[0])
    saw = int(out.split("the gateway saw ")[1].split()[0])
    assert issued >= 2 and saw >= issued  # the first, and all but perhaps the last renewal


@pytest.mark.slow
@pytest.mark.parametrize("example", ["test_with_fake.py"])
def test_fixture_example(example: str) -> None:
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", example)
    assert "4 passed" in out


@pytest.mark.slow
def test_tail_events_survives_a_real_restart(tmp_path: pathlib.Path) -> None:
    """Against a standalone gateway (not the in-process fake): SIGKILL it
    mid-tail and start it again on its state directory."""
    import asyncio

    from scaigrid_client import ScaiGrid
    from tests.support.standalone import Standalone

    token = "sgst_example_restart"
    gateway = Standalone(token, "--state-dir", str(tmp_path)).start()

    def invoke(times: int) -> None:
        async def go() -> None:
            async with ScaiGrid(gateway.target, token=token, tls=False) as grid:
                for _ in range(times):
                    await grid.core.invoke_core(core_id="core-x")

        asyncio.run(go())

    try:
        invoke(3)  # events 1..4
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIGRID_")}
        env |= {
            "SCAIGRID_TARGET": gateway.target,
            "SCAIGRID_SERVICE_TOKEN": token,
            "SCAIGRID_PLAINTEXT": "1",
        }
        tail = subprocess.Popen(
            [sys.executable, "tail_events.py", "core-x", "--limit", "8"],
            cwd=EXAMPLES,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert tail.stdout is not None
        lines = [tail.stdout.readline() for _ in range(4)]
        assert lines[-1].startswith("#4 ")
        gateway.kill()
        gateway.start()
        invoke(4)  # events 5..8, on the restarted gateway
        out, _ = tail.communicate(timeout=60)
    finally:
        gateway.stop()
    assert tail.returncode == 0, out
    assert "8 events, sequences 1..8, gapless: True" in out
    assert "resuming CoreRuntimeService.StreamEvents" in out


def test_upgrading_uses_only_the_1_0_spellings() -> None:
    out = run("-W", "error::DeprecationWarning", "upgrading.py")
    assert "request id upgrade-1, 1 attempt" in out
    assert "core core-upgrade passivated" in out and "core restored" in out
    assert "page(s) of jobs" in out and "typed error: core_not_found" in out


def test_versions_are_logged_and_within_the_window() -> None:
    out = run("versions.py")
    assert "scaigrid-client " in out and "grpcio " in out and "protobuf " in out
    assert "within the supported window" in out and "one call:" in out

"""`scaigrid fake` standalone: the new flags (`--step-interval manual`,
`--token-interval`), the banner (transport, state restored, epoch) and
every control of issue 21 over the HTTP control plane, driven through the
SDK as a suite in another language would drive it with curl."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time

import pytest

from scaigrid_client import ScaiGrid, errors
from tests.support.standalone import free_port

OMNI = "scailabs/poolnoodle-omni"


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaigrid_client._cli", "fake", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner: dict[str, str] = {}
    while "steps" not in banner:  # the banner's last line
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"fake exited early: {proc.stderr.read() if proc.stderr else ''}")
        key, _, value = line.strip().partition(": ")
        banner[key] = value
    return proc, banner


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr


@pytest.mark.asyncio
async def test_flags_banner_and_controls(tmp_path: pathlib.Path) -> None:
    import httpx

    port = str(free_port())
    common = ("--port", port, "--token", "sgst_standalone", "--control-port", "0")
    state = ("--state-dir", str(tmp_path))
    proc, banner = start(*common, *state, "--step-interval", "manual", "--token-interval", "0.02")
    try:
        assert banner["transport"] == "plaintext"
        assert banner["state"].startswith(f"new in {tmp_path} (epoch ")
        assert banner["steps"] == "manual; tokens: every 0.02 s"
        epoch = banner["state"].rsplit("epoch ", 1)[1].rstrip(")")
        async with (
            httpx.AsyncClient(base_url=banner["control"], timeout=10) as http,
            ScaiGrid(banner["target"], token="sgst_standalone", tls=False) as grid,
        ):
            job = await grid.coordinator.submit_job(name="j", base_model=OMNI, gpus=1, max_steps=4)
            assert (await grid.coordinator.get_job(job.id)).current_step == 0  # manual
            stepped = await http.post("/step_job", json={"job_id": job.id, "steps": 2})
            assert stepped.json()["current_step"] == 2
            failed = await http.post("/finish_job", json={"job_id": job.id, "error": "boom"})
            assert failed.json()["state"] == "FAILED"
            assert [p.step async for p in grid.coordinator.stream_metrics(job.id)] == [1, 2]

            await http.post("/script_reply", json={"text": "a b c d e", "when": "pace"})
            started = time.monotonic()
            chunks = [
                c.delta.content
                async for c in grid.inference.stream_inference(
                    model=OMNI, messages=[{"role": "user", "content": "pace it"}]
                )
            ]
            assert chunks[:5] == ["a", " b", " c", " d", " e"]
            assert time.monotonic() - started >= 0.1  # five tokens, 0.02 s apart

            await grid.core.invoke_core("c1")
            event = await http.post("/emit_event", json={"core_id": "c1", "type": "restored"})
            assert event.json()["sequence"] == 3 and event.json()["epoch"] == epoch

            assert (await http.post("/restart")).json() == {"epoch": epoch}
            assert (await grid.core.get_core("c1")).last_sequence == 3

            token = (await http.post("/tokens", json={})).json()["token"]
            await http.post("/revoke_token", json={"token": token})
        async with ScaiGrid(banner["target"], token=token, tls=False) as revoked:
            with pytest.raises(errors.AuthenticationError):
                await revoked.inference.list_models()
    finally:
        stop(proc)
    # Started again on its directory: it says it restored the state, and the epoch.
    proc, banner = start(*common, *state)
    try:
        assert banner["state"] == f"restored from {tmp_path} (epoch {epoch})"
        assert banner["steps"] == "0.05 s; tokens: every 0 s"
    finally:
        stop(proc)


def test_banner_says_tls_and_in_memory(tmp_path: pathlib.Path) -> None:
    proc, banner = start("--port", "0", "--tls-dir", str(tmp_path), "--require-client-cert")
    try:
        assert banner["transport"] == "mTLS (client certificate required)"
        assert banner["tls"] == f"certificates in {tmp_path}"
        assert banner["state"].startswith("in memory, new (epoch ")
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("flag", "value"), [("--step-interval", "soon"), ("--token-interval", "-1")]
)
def test_bad_intervals_are_usage_errors(flag: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scaigrid_client._cli", "fake", flag, value],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert f"argument {flag}: '{value}' is" in result.stderr

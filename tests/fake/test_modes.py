"""The fake's TLS and mTLS, its threaded and standalone modes, and the
pytest fixture (used here from outside the package, as users do)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import grpc
import pytest

from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.v1 import scaiinfer
from tests.support.fake_calls import auth
from tests.support.standalone import free_port


def _credentials(fake: FakeScaiGrid, *, with_client_cert: bool = True) -> grpc.ChannelCredentials:
    tls = fake.client_tls()
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca_cert,
        private_key=tls.client_key if with_client_cert else None,
        certificate_chain=tls.client_cert if with_client_cert else None,
    )


async def _list_models(fake: FakeScaiGrid, creds: grpc.ChannelCredentials) -> int:
    options = [("grpc.ssl_target_name_override", "localhost")]
    async with grpc.aio.secure_channel(fake.target, creds, options=options) as channel:
        stub = scaiinfer.InferenceServiceStub(channel)
        resp = await stub.ListModels(
            scaiinfer.ListModelsRequest(), metadata=auth(fake.token), timeout=5
        )
        return len(resp.models)


@pytest.mark.asyncio
async def test_tls() -> None:
    async with FakeScaiGrid(tls=True) as fake:
        assert fake.client_tls().client_cert is None
        assert await _list_models(fake, _credentials(fake)) == 3
        # A client that trusts only the system roots fails closed.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _list_models(fake, grpc.ssl_channel_credentials())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.asyncio
async def test_mtls_requires_client_cert() -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        assert await _list_models(fake, _credentials(fake)) == 3
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _list_models(fake, _credentials(fake, with_client_cert=False))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_threaded_mode_for_sync_tests() -> None:
    with FakeScaiGrid() as fake:
        with grpc.insecure_channel(fake.target) as channel:
            stub = scaiinfer.InferenceServiceStub(channel)
            fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE)
            with pytest.raises(grpc.RpcError):
                stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(fake.token))
            assert (
                len(
                    stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(fake.token)).models
                )
                == 3
            )
        assert len(fake.calls("InferenceService.ListModels")) == 2
        fake.reset()
        assert fake.calls() == []
        assert "scailabs/poolnoodle-omni" in fake.state.models


def test_fixture_sync(scaigrid_fake: FakeScaiGrid) -> None:
    with grpc.insecure_channel(scaigrid_fake.target) as channel:
        stub = scaiinfer.InferenceServiceStub(channel)
        stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(scaigrid_fake.token))
    assert len(scaigrid_fake.calls("InferenceService.ListModels")) == 1


@pytest.mark.asyncio
async def test_fixture_async(scaigrid_fake: FakeScaiGrid) -> None:
    # Fresh state for each test: the sync test's call is not here.
    assert scaigrid_fake.calls() == []
    async with grpc.aio.insecure_channel(scaigrid_fake.target) as channel:
        stub = scaiinfer.InferenceServiceStub(channel)
        await stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(scaigrid_fake.token))
    assert len(scaigrid_fake.calls()) == 1


@pytest.mark.scaigrid_fake(record_responses=True, token="sgst_marked_fixture")
def test_fixture_takes_options_from_a_marker(scaigrid_fake: FakeScaiGrid) -> None:
    assert scaigrid_fake.token == "sgst_marked_fixture"
    with grpc.insecure_channel(scaigrid_fake.target) as channel:
        stub = scaiinfer.InferenceServiceStub(channel)
        reply = stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(scaigrid_fake.token))
    assert scaigrid_fake.calls("InferenceService.ListModels")[0].responses == [reply]


def _start_standalone(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaigrid_client._cli", "fake", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    info: dict[str, str] = {}
    expected = {"target", "token"} | ({"control"} if "--control-port" in args else set())
    assert proc.stdout is not None
    while not expected <= info.keys():
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"fake exited early: {proc.stderr.read() if proc.stderr else ''}")
        key, _, value = line.strip().partition(": ")
        if key in expected:
            info[key] = value
    return proc, info


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_standalone_serves_until_signal(sig: signal.Signals) -> None:
    port = free_port()
    proc, info = _start_standalone("--port", str(port), "--token", "sgst_cli_test")
    try:
        assert info == {"target": f"127.0.0.1:{port}", "token": "sgst_cli_test"}
        with grpc.insecure_channel(info["target"]) as channel:
            stub = scaiinfer.InferenceServiceStub(channel)
            resp = stub.ListModels(
                scaiinfer.ListModelsRequest(), metadata=auth("sgst_cli_test"), timeout=10
            )
            assert len(resp.models) == 3
    finally:
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_standalone_tls_dir(tmp_path: pathlib.Path) -> None:
    port = free_port()
    proc, info = _start_standalone("--port", str(port), "--tls-dir", str(tmp_path))
    try:
        names = {p.name for p in tmp_path.iterdir()}
        assert {"ca.pem", "client.pem", "client.key", "server.pem", "server.key"} <= names
        assert oct((tmp_path / "client.key").stat().st_mode & 0o777) == "0o600"
        creds = grpc.ssl_channel_credentials(root_certificates=(tmp_path / "ca.pem").read_bytes())
        options = [("grpc.ssl_target_name_override", "localhost")]
        with grpc.secure_channel(info["target"], creds, options=options) as channel:
            stub = scaiinfer.InferenceServiceStub(channel)
            stub.ListModels(scaiinfer.ListModelsRequest(), metadata=auth(info["token"]), timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_standalone_help_has_example() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scaigrid_client._cli", "fake", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert "--port" in out.stdout and "example:" in out.stdout


@pytest.mark.asyncio
async def test_standalone_control_plane_drives_faults_journal_and_tokens() -> None:
    import httpx

    from scaigrid_client import RetryPolicy, ScaiGrid, errors

    proc, info = _start_standalone(
        "--port",
        str(free_port()),
        "--token",
        "sgst_control_test",
        "--control-port",
        "0",
        "--record-responses",
    )
    fast = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    try:
        async with httpx.AsyncClient(base_url=info["control"], timeout=10) as control:
            fault = {
                "method": "InferenceService.ListModels",
                "status": "UNAVAILABLE",
                "code": "backend_unavailable",
                "times": 2,
            }
            assert (await control.post("/fail", json=fault)).status_code == 200
            async with ScaiGrid(info["target"], token=info["token"], tls=False, retry=fast) as grid:
                assert len(await grid.inference.list_models(request_id="ctl-1")) == 3

            journal = await control.get("/calls", params={"method": "InferenceService.ListModels"})
            calls = journal.json()["calls"]
            assert [c["status"] for c in calls] == ["UNAVAILABLE", "UNAVAILABLE", "OK"]
            assert [c["code"] for c in calls] == ["backend_unavailable"] * 2 + [None]
            assert {c["request_id"] for c in calls} == {"ctl-1"}
            assert calls[0]["metadata"]["authorization"] == "<redacted>"
            assert [len(c["responses"]) for c in calls] == [0, 0, 1]  # --record-responses
            assert len(calls[2]["responses"][0]["models"]) == 3
            assert "sgst_control_test" not in journal.text

            # A token scoped to inference only: the core runtime refuses it.
            minted = await control.post("/tokens", json={"scopes": ["scaiinfer"]})
            token = minted.json()["token"]
            async with ScaiGrid(info["target"], token=token, tls=False) as grid:
                assert len(await grid.inference.list_models()) == 3
                with pytest.raises(errors.PermissionDeniedError):
                    await grid.core.invoke_core(core_id="c1")

            state = (await control.get("/state")).json()
            assert "scailabs/poolnoodle-omni" in state["models"]
            assert (await control.post("/drop_streams")).json() == {"dropped": 0}
            assert (await control.post("/reset")).json() == {}
            assert (await control.get("/calls")).json() == {"calls": []}

            # Bad input: 400, naming the field; an unknown path: 404.
            for body, field in [
                ({"status": "UNAVAILABLE"}, "method"),
                ({"method": "InferenceService.ListModels", "status": "NOPE"}, "status"),
                ({"method": "Nope.Nothing", "status": "INTERNAL"}, "method"),
                ({"method": "InferenceService.Embed", "status": "INTERNAL", "times": "2"}, "times"),
            ]:
                answer = await control.post("/fail", json=body)
                assert answer.status_code == 400
                assert answer.json()["error"].startswith(f"{field}:")
            assert (await control.post("/fail", content=b"{not json")).status_code == 400
            assert (await control.get("/nothing")).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0

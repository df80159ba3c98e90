"""The dependency window: on whatever grpcio and protobuf are installed, the
client path imports and calls without a warning (users run with -W error) and
without loading the generated gRPC stubs; scaigrid_client.v1 still has them.

tools/matrix.py runs this suite at both ends of the window."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from scaigrid_client.v1 import scaicore, scaiinfer, scaimind
from tests.support.standalone import Standalone

TOKEN = "sgst_compat_suite_token_0123456789"

# Runs in a fresh interpreter under -W error against a standalone fake (so
# that nothing of the fake is imported here): plaintext, then mTLS.
CLIENT = """
import asyncio, sys
import scaigrid_client
from scaigrid_client import ScaiGrid, TLSConfig

async def use(target, tls):
    async with ScaiGrid(target, token=sys.argv[1], tls=tls) as grid:
        models = await grid.inference.list_models()
        chunks = [
            chunk.delta.content
            async for chunk in grid.inference.stream_inference(
                model="scailabs/poolnoodle-omni", messages=[{"role": "user", "content": "hi"}], max_tokens=3
            )
        ]
        job = await grid.coordinator.submit_job(
            name="compat", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=2
        )
        return len(models), len(chunks), job.id

async def main():
    print(await use(sys.argv[2], False))
    certs = sys.argv[4]
    tls = TLSConfig(ca_cert=f"{certs}/ca.pem", client_cert=f"{certs}/client.pem",
                    client_key=f"{certs}/client.key", server_name="localhost")
    print(await use(sys.argv[3], tls))
    stubs = sorted(name for name in sys.modules if name.endswith("_pb2_grpc"))
    assert not stubs, stubs

asyncio.run(main())
"""


def test_client_path_warns_about_nothing_and_loads_no_grpc_stubs(tmp_path: pathlib.Path) -> None:
    certs = str(tmp_path)
    with (
        Standalone(TOKEN) as plain,
        Standalone(TOKEN, "--tls-dir", certs, "--require-client-cert") as mtls,
    ):
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", CLIENT, TOKEN, plain.target, mtls.target, certs],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("(") and "job-" in line for line in lines), lines


# The same calls against the bundled fake in the same interpreter, as a
# user's suite under -W error runs it: the fake's handlers must not warn either.
WITH_FAKE = """
import asyncio
from scaigrid_client import ScaiGrid
from scaigrid_client.testing import FakeScaiGrid

async def main():
    for options in ({}, {"tls": True, "require_client_cert": True}):
        async with FakeScaiGrid(**options) as fake:
            tls = fake.client_tls() if options else False
            async with ScaiGrid(fake.target, token=fake.token, tls=tls) as grid:
                await grid.inference.list_models()
                job = await grid.coordinator.submit_job(
                    name="compat", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=2
                )
                steps = [point.step async for point in grid.coordinator.stream_metrics(job.id)]
                await grid.core.invoke_core(core_id="core-1", payload=b"{}")
                await grid.heartbeat.heartbeat(node_id="gpu-01")
            assert fake.calls(), "the fake journals every call"
    print(steps)

asyncio.run(main())
"""


def test_the_fake_warns_about_nothing_either() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", WITH_FAKE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2]"


@pytest.mark.parametrize(
    ("module", "stubs"),
    [
        (scaiinfer, ["InferenceServiceStub", "HeartbeatServiceStub"]),
        (scaimind, ["CoordinatorServiceStub", "ClusterServiceStub"]),
        (scaicore, ["CoreRuntimeServiceStub"]),
    ],
)
def test_v1_still_offers_every_stub(module: object, stubs: list[str]) -> None:
    for stub in stubs:
        assert callable(getattr(module, stub))
        servicer = stub.replace("Stub", "Servicer")
        assert callable(getattr(module, f"add_{servicer}_to_server"))

"""Service-mesh targets (``xds:///name``): what the SDK checks before
anything is sent, and calls through grpc's own xDS resolver and balancer
against a management server written in the tests (tests/support/xds_server.py)
that serves fakes on loopback.

One management server for the module, so one bootstrap: grpc reads
GRPC_XDS_BOOTSTRAP_CONFIG when it creates its xDS client, and (seen on 1.85;
1.70 keeps one client per target instead) keeps that client, with that
bootstrap, while any xDS channel of the process is open; a second server
with its own bootstrap would not be seen while a channel from the first is
still open. So the tests share one server, each sets the same bootstrap (in
the environment for that test only) and serves its own service name on it,
and the module is one xdist_group: under `make test`'s --dist loadgroup its
tests run in one worker, in order, around that one server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from scaigrid_client import RetryPolicy, ScaiGrid, sync
from scaigrid_client._channel import channel_arguments, is_loopback, parse_target
from scaigrid_client.errors import UnavailableError
from scaigrid_client.testing import FakeScaiGrid
from scaigrid_client.testing._tls import TLSMaterial
from tests.support import flavours

xds_server = pytest.importorskip(
    "tests.support.xds_server", reason="xds-protos (the dev extra) is not installed"
)

TOKEN = "sgst_xds-tests"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
_names = itertools.count(1)


# -- before anything is sent -----------------------------------------------------------


@pytest.fixture
def no_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GRPC_XDS_BOOTSTRAP", "GRPC_XDS_BOOTSTRAP_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("target", ["xds:///gateway", "xds:///gateway.ns.svc:8080", "xds://td/gw"])
def test_xds_targets_pass_unchanged(target: str) -> None:
    assert parse_target(target) == target  # no default port: the name is the mesh's
    assert not is_loopback(target)


@pytest.mark.parametrize("bad", ["xds:gateway", "xds:///", "xds://td/", "xds://td", "xds:///g?x=1"])
def test_bad_xds_targets_show_the_forms(bad: str) -> None:
    with pytest.raises(ValueError, match=r"target: .*xds:///name"):
        parse_target(bad)


@pytest.mark.usefixtures("no_bootstrap")
@pytest.mark.parametrize("cls", [ScaiGrid, sync.ScaiGrid])
def test_no_bootstrap_is_a_value_error_naming_the_variables(cls: Any) -> None:
    with pytest.raises(ValueError, match=r"GRPC_XDS_BOOTSTRAP .*GRPC_XDS_BOOTSTRAP_CONFIG"):
        cls("xds:///gateway", token="t", tls=False)


@pytest.mark.usefixtures("no_bootstrap")
def test_a_bad_bootstrap_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRPC_XDS_BOOTSTRAP", str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r"GRPC_XDS_BOOTSTRAP names .*missing\.json"):
        ScaiGrid("xds:///gateway", token="t")
    monkeypatch.delenv("GRPC_XDS_BOOTSTRAP")
    monkeypatch.setenv("GRPC_XDS_BOOTSTRAP_CONFIG", "/etc/istio/bootstrap.json")
    with pytest.raises(ValueError, match="GRPC_XDS_BOOTSTRAP_CONFIG is not JSON"):
        ScaiGrid("xds:///gateway", token="t")
    monkeypatch.setenv("GRPC_XDS_BOOTSTRAP_CONFIG", "{}")
    with pytest.raises(ValueError, match="xds_servers"):
        ScaiGrid("xds:///gateway", token="t")


def test_a_proxy_is_refused_and_the_environments_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRPC_XDS_BOOTSTRAP_CONFIG", '{"xds_servers": [{"server_uri": "x:1"}]}')
    with pytest.raises(ValueError, match="proxy: 'xds:///gateway' is an xDS target"):
        ScaiGrid("xds:///gateway", token="t", proxy="http://proxy:3128")
    creds, options = channel_arguments(False, (), None, None, "xds:///gateway")
    merged = dict(options)
    assert merged["grpc.enable_http_proxy"] == 0
    assert "grpc.service_config" not in merged  # balancing is the mesh's
    assert merged["grpc.enable_retries"] == 0  # retries are the SDK's
    assert creds is not None  # grpc's xDS credentials, plaintext as the fallback


def test_the_clis_hint_for_an_unavailable_mesh_target() -> None:
    from scaigrid_client._cli._errors import _hint

    args = argparse.Namespace(target="xds:///gateway", plaintext_source=None)
    hint = _hint(UnavailableError("no children to pick from"), args)
    assert "control plane" in hint
    assert "xds:///gateway" in hint


# -- through the mesh ------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # The mesh's certificates (its file_watcher provider's): those a TLS
    # fake with this tls_dir serves and trusts.
    certificates = tmp_path_factory.mktemp("mesh-certificates")
    TLSMaterial(certificates).files()
    with xds_server.XdsServer() as server:
        server.certificates = certificates
        yield server


@pytest.fixture
def mesh(mesh_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The process's management server, its bootstrap in the environment
    for this test only (the same JSON every time: see the module)."""
    monkeypatch.delenv("GRPC_XDS_BOOTSTRAP", raising=False)
    bootstrap = mesh_server.bootstrap(mesh_server.certificates)
    monkeypatch.setenv("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap)
    return mesh_server


def _serve(mesh: Any, *fakes: FakeScaiGrid, mtls: bool = False) -> tuple[str, str]:
    """A new service name on the mesh, served by ``fakes``; (name, target)."""
    name = f"gateway-{os.getpid()}-{next(_names)}"
    mesh.serve(name, [fake.target for fake in fakes], mtls=mtls)
    return name, f"xds:///{name}"


def _count(fake: FakeScaiGrid, method: str = "InferenceService.ListModels") -> int:
    return len(fake.calls(method))


async def _until(condition: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


pytestmark = pytest.mark.xdist_group("xds")
mesh_test = pytest.mark.asyncio


@mesh_test
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_calls_spread_over_both_and_a_retry_moves(mesh: Any, flavour: str) -> None:
    async with FakeScaiGrid(token=TOKEN) as a, FakeScaiGrid(token=TOKEN) as b:
        _, target = _serve(mesh, a, b)
        grid = flavours.client(flavour, "ScaiGrid", target, token=TOKEN, tls=False, retry=FAST)
        async with grid:
            # round_robin, the cluster's lb_policy (once both are connected)
            for _ in range(500):
                await grid.inference.list_models()
                if min(_count(a), _count(b)) >= 10:
                    break
            assert min(_count(a), _count(b)) >= 10
            # the SDK's retries on top: one attempt fails on each, the call succeeds
            for fake in (a, b):
                fake.fail("InferenceService.ListModels", grpc.StatusCode.UNAVAILABLE)
            await grid.inference.list_models(request_id="through-the-mesh")
        attempts = [
            call.status
            for fake in (a, b)
            for call in fake.calls("InferenceService.ListModels")
            if call.request_id == "through-the-mesh"
        ]
        assert sorted(map(str, attempts)) == sorted(
            map(str, [grpc.StatusCode.UNAVAILABLE] * 2 + [grpc.StatusCode.OK])
        )


@mesh_test
async def test_an_authority_in_the_target_is_the_bootstraps(mesh: Any) -> None:
    # xds://mesh.test/name: grpc asks for the listener by its xdstp:// name
    async with FakeScaiGrid(token=TOKEN) as fake:
        name, _ = _serve(mesh, fake)
        async with ScaiGrid(f"xds://mesh.test/{name}", token=TOKEN, tls=False) as grid:
            assert await grid.inference.list_models()
    assert any(xds_server.federated(name) in r.resource_names for r in mesh.requests)


@mesh_test
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_tls_is_the_fallback_of_grpcs_xds_credentials(mesh: Any, flavour: str) -> None:
    # The mesh sends no security config here, so the client's tls= applies:
    # its CA, server name and client certificate (mTLS).
    async with FakeScaiGrid(token=TOKEN, tls=True, require_client_cert=True) as fake:
        _, target = _serve(mesh, fake)
        tls = fake.client_tls()
        grid = flavours.client(flavour, "ScaiGrid", target, token=TOKEN, tls=tls, retry=FAST)
        async with grid:
            assert await grid.inference.list_models()
        once = RetryPolicy(max_attempts=1)
        plain = flavours.client(flavour, "ScaiGrid", target, token=TOKEN, tls=False, retry=once)
        async with plain:  # plaintext is the fallback of tls=False: refused by a TLS gateway
            with pytest.raises(UnavailableError):
                await plain.inference.list_models(timeout=2)


@mesh_test
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_the_meshs_mtls_comes_before_tls(mesh: Any, flavour: str) -> None:
    # The cluster's security config says mTLS with the mesh's certificates:
    # grpc's xDS credentials use it, and tls=False (the fallback) is not.
    mtls = {"tls": True, "require_client_cert": True, "tls_dir": mesh.certificates}
    async with FakeScaiGrid(token=TOKEN, **mtls) as fake:
        _, target = _serve(mesh, fake, mtls=True)
        grid = flavours.client(flavour, "ScaiGrid", target, token=TOKEN, tls=False, retry=FAST)
        async with grid:
            assert await grid.inference.list_models()


@mesh_test
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_an_endpoint_update_moves_new_calls(mesh: Any, flavour: str) -> None:
    async with FakeScaiGrid(token=TOKEN) as a, FakeScaiGrid(token=TOKEN) as b:
        name, target = _serve(mesh, a)
        grid = flavours.client(flavour, "ScaiGrid", target, token=TOKEN, tls=False, retry=FAST)
        async with grid:
            for _ in range(5):
                await grid.inference.list_models()
            assert (_count(a), _count(b)) == (5, 0)
            mesh.serve(name, [b.target])  # the control plane moves the service
            for _ in range(500):
                await grid.inference.list_models()
                if _count(b):
                    break
            on_a = _count(a)
            for _ in range(10):
                await grid.inference.list_models()
            assert _count(a) == on_a
            assert _count(b) == 11


@mesh_test
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_a_stream_resumes_on_the_other_when_one_dies(
    mesh: Any, flavour: str, tmp_path: Path
) -> None:
    # Two gateways with one history (as a real deployment's share a store):
    # the fakes start from copies of one state directory, so one epoch.
    async with FakeScaiGrid(token=TOKEN, state_dir=tmp_path / "seed") as seed:
        direct = ScaiGrid(seed.target, token=TOKEN, tls=False)
        async with direct:
            for _ in range(4):
                await direct.core.invoke_core(core_id="c")  # events 1..5
    for copy in ("a", "b"):
        shutil.copytree(tmp_path / "seed", tmp_path / copy)
    method = "CoreRuntimeService.StreamEvents"
    async with (
        FakeScaiGrid(token=TOKEN, state_dir=tmp_path / "a") as a,
        FakeScaiGrid(token=TOKEN, state_dir=tmp_path / "b") as b,
    ):
        _, target = _serve(mesh, a, b)
        grid = flavours.client(flavour, "ScaiGrid", target, token=TOKEN, tls=False, retry=FAST)
        async with grid:
            seen: list[int] = []

            async def tail() -> None:
                async with grid.core.stream_events("c") as stream:
                    async for event in stream:
                        seen.append(event.sequence)
                        if event.sequence == 6:
                            return

            reader = asyncio.create_task(tail())
            await _until(lambda: len(seen) == 5)
            serving = [f for f in (a, b) if any(c.ended is None for c in f.calls(method))]
            assert len(serving) == 1
            dead, other = serving[0], b if serving[0] is a else a
            await dead.stop()  # its streams end UNAVAILABLE (service_draining)
            await _until(lambda: any(c.ended is None for c in other.calls(method)))
            resumed = next(c for c in other.calls(method) if c.ended is None)
            assert resumed.request.after_sequence == 5
            async with ScaiGrid(other.target, token=TOKEN, tls=False) as direct:
                await direct.core.invoke_core(core_id="c")  # event 6, on the survivor
            await asyncio.wait_for(reader, 10)
        assert seen == [1, 2, 3, 4, 5, 6]

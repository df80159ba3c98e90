"""Where the fake listens (unix sockets, busy ports, bad hosts) and the ready
clients it hands to suites (``fake.client()``, ``fake.retry_policy()``, the
``scaigrid_client`` fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import threading

import grpc
import pytest

from scaigrid_client import RetryPolicy, ScaiGrid
from scaigrid_client._config import RetryEvent
from scaigrid_client.testing import FakeScaiGrid

LINUX = sys.platform.startswith("linux")


# -- unix sockets -------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("form", ["unix:/path", "unix:///path", "unix:relative", "unix-abstract"])
async def test_unix_socket_serves_the_sdk(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    path = tmp_path / "fake.sock"
    monkeypatch.chdir(tmp_path)
    host = {
        "unix:/path": f"unix:{path}",
        "unix:///path": f"unix://{path}",
        "unix:relative": "unix:fake.sock",
        "unix-abstract": f"unix-abstract:scaigrid-test-{secrets.token_hex(6)}",
    }[form]
    if form == "unix-abstract" and not LINUX:
        pytest.skip("abstract unix sockets are Linux only")
    async with FakeScaiGrid(host=host) as fake:
        assert fake.target == host  # no ":port" appended
        assert fake.port == 0
        async with ScaiGrid(fake.target, token=fake.token, tls=False) as grid:
            assert len(await grid.inference.list_models()) == 3
    # grpc removes the socket file when the server stops.
    assert not (tmp_path / "fake.sock").exists()


@pytest.mark.asyncio
async def test_unix_socket_with_tls(tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(host=f"unix:{tmp_path / 'tls.sock'}", tls=True) as fake:
        # client_tls() names the certificate's host, which a socket path is not.
        assert fake.client_tls().server_name == "localhost"
        async with ScaiGrid(fake.target, token=fake.token, tls=fake.client_tls()) as grid:
            assert len(await grid.inference.list_models()) == 3
        async with fake.client() as grid:
            assert len(await grid.inference.list_models()) == 3


def test_unix_socket_in_threaded_mode(tmp_path: pathlib.Path) -> None:
    with FakeScaiGrid(host=f"unix:{tmp_path / 'sync.sock'}") as fake:
        with grpc.insecure_channel(fake.target) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
        assert (tmp_path / "sync.sock").exists()


@pytest.mark.asyncio
async def test_stale_socket_is_replaced_but_a_live_one_or_a_file_is_kept(
    tmp_path: pathlib.Path,
) -> None:
    # A socket file left by a killed run: nobody listens, so it is replaced.
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as leftover:
        leftover.bind(str(stale))
    async with FakeScaiGrid(host=f"unix:{stale}") as fake, fake.client() as grid:
        assert len(await grid.inference.list_models()) == 3

    # A socket another server listens on is not taken over (grpc would).
    live = tmp_path / "live.sock"
    with socket.socket(socket.AF_UNIX) as other:
        other.bind(str(live))
        other.listen()
        with pytest.raises(OSError, match="another server is listening") as info:
            await FakeScaiGrid(host=f"unix:{live}").start()
        assert info.value.errno == errno.EADDRINUSE
        assert f"unix:{live}" in str(info.value)
        other.settimeout(5)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(live))  # still the other server's socket

    # A regular file is never removed.
    regular = tmp_path / "notes.sock"
    regular.write_text("keep me")
    with pytest.raises(OSError, match="is not a socket"):
        await FakeScaiGrid(host=f"unix:{regular}").start()
    assert regular.read_text() == "keep me"

    missing = tmp_path / "no-such-dir" / "fake.sock"
    with pytest.raises(OSError, match="does not exist") as info:
        await FakeScaiGrid(host=f"unix:{missing}").start()
    assert info.value.errno == errno.ENOENT


@pytest.mark.parametrize(
    "host",
    [
        "",
        "unix:",
        "unix://",
        "unix://host/path.sock",
        "unix-abstract:",
        "http://localhost",
        "dns:///localhost",
        "vsock:2:50051",
        "127.0.0.1:50051",
        "local host",
        "[not-v6]",
        7,
    ],
)
def test_bad_host_is_refused_at_construction(host: object) -> None:
    with pytest.raises(ValueError, match=r"^host: ") as info:
        FakeScaiGrid(host=host)  # type: ignore[arg-type]
    assert "'unix" in str(info.value)  # names the accepted form(s)


@pytest.mark.parametrize("port", [-5, 65536, 99999, "50051", 1.5, True, None])
def test_bad_port_is_refused_at_construction(port: object) -> None:
    with pytest.raises(ValueError, match=r"^port: must be an int from 0 to 65535"):
        FakeScaiGrid(port=port)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_ipv6_loopback_host() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    for host in ("::1", "[::1]"):
        async with FakeScaiGrid(host=host) as fake, fake.client() as grid:
            assert fake.target == f"[::1]:{fake.port}"
            assert len(await grid.inference.list_models()) == 3


# -- a port that cannot be bound ------------------------------------------------------


def _fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "FakeScaiGrid"]


@pytest.mark.asyncio
async def test_busy_port_raises_oserror_naming_the_address_and_the_fix() -> None:
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]

        fake = FakeScaiGrid(port=port)
        with pytest.raises(OSError, match="cannot listen on") as info:
            await fake.start()
        assert type(info.value) is OSError  # not grpc's RuntimeError
        assert info.value.errno == errno.EADDRINUSE
        message = str(info.value)
        assert f"cannot listen on 127.0.0.1:{port}" in message
        assert "port is in use" in message and "port=0" in message
        with pytest.raises(RuntimeError, match="not running"):
            _ = fake.port
        # Nothing is left half-started: the same object starts on a free port.
        fake._address = dataclasses.replace(fake._address, port=0)
        async with fake, fake.client() as grid:
            assert len(await grid.inference.list_models()) == 3

        # The threaded form raises the same, and leaves no thread behind.
        before = len(_fake_threads())
        with pytest.raises(OSError, match="port is in use"), FakeScaiGrid(port=port):
            pass
        assert len(_fake_threads()) == before


@pytest.mark.asyncio
async def test_address_not_on_this_machine_is_explained() -> None:
    # 192.0.2.0/24 is reserved for documentation: never a local address.
    with pytest.raises(OSError, match="not an address of this machine") as info:
        await FakeScaiGrid(host="192.0.2.1").start()
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert "cannot listen on 192.0.2.1:0" in str(info.value)


# -- fast retries for fault-injection suites ------------------------------------------


def test_retry_policy_is_the_default_made_fast() -> None:
    fake = FakeScaiGrid()
    policy, default = fake.retry_policy(), RetryPolicy()
    assert policy.max_attempts == default.max_attempts
    assert policy.retry_on == default.retry_on
    assert policy.multiplier == default.multiplier
    assert (policy.initial_backoff, policy.max_backoff) == (0.01, 0.05)
    assert policy.budget_max_tokens == 1000 and policy.budget_token_ratio == 1.0

    events: list[RetryEvent] = []
    watched = fake.retry_policy(on_retry=events.append, max_attempts=3)
    assert watched.on_retry is not None and watched.max_attempts == 3
    # A longer first wait takes the cap along instead of failing validation.
    assert fake.retry_policy(initial_backoff=0.2).max_backoff == 0.2
    with pytest.raises(TypeError):
        fake.retry_policy(no_such_field=1)  # type: ignore[call-arg]


async def _three_unavailable_then_ok(fake: FakeScaiGrid, grid: ScaiGrid) -> None:
    fake.fail(
        "InferenceService.ListModels",
        grpc.StatusCode.UNAVAILABLE,
        code="backend_unavailable",
        times=3,
    )
    assert len(await grid.inference.list_models()) == 3
    assert len(fake.calls("InferenceService.ListModels")) == 4


def _assert_fast(events: list[RetryEvent]) -> None:
    assert [e.attempt for e in events] == [1, 2, 3]
    assert all(e.status is grpc.StatusCode.UNAVAILABLE for e in events)
    # The default policy would wait about 0.5 + 1 + 2 s.
    assert all(0 < e.delay <= 0.05 for e in events)
    assert sum(e.delay for e in events) < 0.15


@pytest.mark.asyncio
async def test_fake_client_retries_fast_async_form() -> None:
    events: list[RetryEvent] = []
    async with FakeScaiGrid() as fake:
        retry = fake.retry_policy(on_retry=events.append)
        async with fake.client(retry=retry) as grid:
            await _three_unavailable_then_ok(fake, grid)
    _assert_fast(events)


def test_fake_client_retries_fast_threaded_form_with_tls() -> None:
    events: list[RetryEvent] = []
    with FakeScaiGrid(tls=True, require_client_cert=True) as fake:

        async def main() -> None:
            retry = fake.retry_policy(on_retry=events.append)
            async with fake.client(retry=retry, timeout=10) as grid:
                await _three_unavailable_then_ok(fake, grid)

        asyncio.run(main())
    _assert_fast(events)


@pytest.mark.asyncio
async def test_fake_client_takes_any_scaigrid_keyword() -> None:
    async with FakeScaiGrid() as fake:
        other = fake.issue_token(scopes=["scaiinfer"])
        async with fake.client(token=other, timeout=5, retry=None) as grid:
            await grid.inference.list_models(request_id="kw-1")
        assert fake.calls()[0].metadata["authorization"] == f"Bearer {other}"
        with pytest.raises(TypeError):
            fake.client(no_such_keyword=1)


def test_fake_client_needs_a_running_fake() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        FakeScaiGrid().client()


@pytest.mark.asyncio
async def test_fixture_client_retries_fast(
    scaigrid_fake: FakeScaiGrid, scaigrid_client: ScaiGrid
) -> None:
    transport = scaigrid_client.inference._transport
    assert transport.retry == scaigrid_fake.retry_policy()  # on_retry is not compared
    # Watch the fixture's own policy: the same fields, plus a hook.
    events: list[RetryEvent] = []
    transport.retry = dataclasses.replace(transport.retry, on_retry=events.append)
    await _three_unavailable_then_ok(scaigrid_fake, scaigrid_client)
    _assert_fast(events)


@pytest.mark.asyncio
async def test_fixture_client_may_be_closed_by_the_test(scaigrid_client: ScaiGrid) -> None:
    async with scaigrid_client as grid:
        stream = grid.inference.stream_inference(
            model="scailabs/poolnoodle-omni",
            messages=[{"role": "user", "content": "left open"}],
            max_tokens=500,
        )
        async for _ in stream:
            break  # a stream left open is closed with the client


@pytest.mark.asyncio
async def test_fixture_client_left_open_with_a_stream(scaigrid_client: ScaiGrid) -> None:
    stream = scaigrid_client.inference.stream_inference(
        model="scailabs/poolnoodle-omni",
        messages=[{"role": "user", "content": "left open"}],
        max_tokens=500,
    )
    async for _ in stream:
        break  # the fixture closes the client after the loop has gone


@pytest.mark.asyncio(loop_scope="module")
async def test_fixture_client_on_a_module_scoped_loop(scaigrid_client: ScaiGrid) -> None:
    # The loop outlives the test here: the client is closed while it is idle.
    stream = scaigrid_client.inference.stream_inference(
        model="scailabs/poolnoodle-omni",
        messages=[{"role": "user", "content": "left open"}],
        max_tokens=500,
    )
    async for _ in stream:
        break
    assert len(await scaigrid_client.inference.list_models()) == 3


def test_fixture_client_in_a_sync_test(scaigrid_client: ScaiGrid) -> None:
    async def main() -> int:
        return len(await scaigrid_client.inference.list_models())

    assert asyncio.run(main()) == 3


# -- the testing extra ----------------------------------------------------------------


def test_testing_extra_brings_grpc_type_stubs() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = pathlib.Path(__file__).parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("types-grpcio>=") for req in extras["testing"])


# -- standalone ---------------------------------------------------------------------------


def test_standalone_serves_on_a_unix_socket(tmp_path: pathlib.Path) -> None:
    sock = tmp_path / "standalone.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scaigrid_client._cli",
            "fake",
            "--host",
            f"unix:{sock}",
            "--token",
            "sgst_unix_test",
            "--control-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        info: dict[str, str] = {}
        while len(info) < 3:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            key, _, value = line.strip().partition(": ")
            info[key] = value
        assert info["target"] == f"unix:{sock}"
        assert info["control"].startswith("http://127.0.0.1:")

        async def main() -> int:
            async with ScaiGrid(info["target"], token="sgst_unix_test", tls=False) as grid:
                return len(await grid.inference.list_models())

        assert asyncio.run(main()) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert not sock.exists()

"""Live mTLS certificate rotation (TLSFiles), both flavours, against the
fake over real TLS with short-lived certificates in a Kubernetes-style
secret volume (``..2026_x/`` versions, a ``..data`` symlink, per-file
links, swapped with os.replace)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import pathlib
import threading
import time
from typing import Any

import grpc
import pytest

from scaigrid_client import InferenceClient, RetryPolicy, ScaiGrid, TLSConfig, TLSFiles, errors
from scaigrid_client.testing import ClientCert, FakeScaiGrid, SecretVolume
from tests.support import flavours

CHECK_EVERY = 0.2
ONCE = RetryPolicy(max_attempts=1)


def _files(cert: ClientCert) -> dict[str, bytes]:
    return {"ca.crt": cert.ca, "tls.crt": cert.cert, "tls.key": cert.key}


def _mount(
    directory: pathlib.Path, cert: ClientCert, check_every: float = CHECK_EVERY
) -> tuple[SecretVolume, TLSFiles]:
    volume = SecretVolume(directory)
    volume.write(_files(cert))
    tls = TLSFiles(
        ca_cert=volume.path("ca.crt"),
        client_cert=volume.path("tls.crt"),
        client_key=volume.path("tls.key"),
        server_name="localhost",
        check_every=check_every,
    )
    return volume, tls


async def _until(predicate: Any, within: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails after ``within``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def _seen(fake: FakeScaiGrid, method: str, cert: ClientCert) -> bool:
    return any(c.client_cert == cert.fingerprint for c in fake.calls(method))


@pytest.mark.serial  # the certificate seen within check_every + 1 s; calls held 1 s
@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_rotation_under_steady_calls_fails_none(flavour: str, tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        first = fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first)
        layout = sorted(os.listdir(tmp_path))
        assert layout[0].startswith("..2026") and "..data" in layout
        assert os.readlink(tmp_path / "tls.crt") == "..data/tls.crt"
        grid = flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
        )
        async with grid:
            failures: list[BaseException] = []
            stop = asyncio.Event()

            async def steady() -> None:
                while not stop.is_set():
                    try:
                        await grid.inference.list_models()
                    except Exception as exc:
                        failures.append(exc)

            # Three calls still running on the old channel when it is retired.
            fake.delay("InferenceService.ListModels", seconds=1.0, times=3)
            workers = [asyncio.create_task(steady()) for _ in range(6)]
            await asyncio.sleep(0.3)
            second = fake.issue_client_cert()
            volume.write(_files(second))
            took = await _until(
                lambda: _seen(fake, "InferenceService.ListModels", second),
                CHECK_EVERY + 1.0,
                "the gateway sees the new certificate",
            )
            assert grid.tls_status.draining == 1  # the delayed calls' channel
            await _until(lambda: grid.tls_status.draining == 0, 3.0, "the old channel closes")
            stop.set()
            await asyncio.gather(*workers)
            assert failures == []
            ended = [c for c in fake.calls() if c.ended is not None]
            assert ended and all(c.status is grpc.StatusCode.OK for c in ended)
            status = grid.tls_status
            assert status.fingerprint == second.fingerprint and status.last_error is None
            assert status.not_after == second.not_after
            print(f"{flavour}: the gateway saw the new certificate {took:.2f}s after the swap")


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_a_stream_outlives_the_old_certificate(flavour: str, tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True, token_interval=0.05) as fake:
        first = fake.issue_client_cert(valid_for=3.0)
        volume, tls = _mount(tmp_path, first)
        async with flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
        ) as grid:
            await grid.core.invoke_core("c1", payload="0")  # events 1 and 2
            events: list[int] = []
            chunks: list[str] = []

            async def tail() -> None:
                async with grid.core.stream_events("c1") as stream:
                    async for event in stream:
                        events.append(event.sequence)
                        if event.sequence == 8:
                            return

            async def reply() -> None:  # not resumable: it stays on its channel
                async for chunk in grid.inference.stream_inference(
                    model="scailabs/poolnoodle-omni",
                    messages=[{"role": "user", "content": "long"}],
                    max_tokens=100,  # 5 s at 50 ms a token
                ):
                    chunks.append(chunk.delta.content)

            tasks = [asyncio.create_task(tail()), asyncio.create_task(reply())]
            await _until(lambda: len(events) == 2 and len(chunks) > 2, 3.0, "streams open")
            second = fake.issue_client_cert()
            volume.write(_files(second))
            assert await grid.reload_tls()
            expired = (
                first.not_after - datetime.datetime.now(datetime.timezone.utc)
            ).total_seconds()
            await asyncio.sleep(max(expired, 0) + 0.5)
            for n in range(6):  # after the first certificate expired: events 3..8
                await grid.core.invoke_core("c1", payload=str(n))
            try:
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
            except TimeoutError:
                raise AssertionError((events, len(chunks), fake.calls()[-5:])) from None
            assert events == list(range(1, 9))  # no gap, no duplicate
            assert len(chunks) >= 100
            inference = fake.calls("InferenceService.StreamInference")
            assert [c.client_cert for c in inference] == [first.fingerprint]
            assert inference[0].status is grpc.StatusCode.OK
            assert inference[0].ended > first.not_after.timestamp()
            tails = fake.calls("CoreRuntimeService.StreamEvents")
            assert [c.client_cert for c in tails] == [first.fingerprint, second.fingerprint]
        # The first certificate is really expired: alone, it is refused now.
        stale = TLSConfig(
            ca_cert=first.ca, client_cert=first.cert, client_key=first.key, server_name="localhost"
        )
        async with InferenceClient(fake.target, token=fake.token, tls=stale, retry=ONCE) as old:
            with pytest.raises(errors.UnavailableError):
                await old.list_models()


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_rotated_clients_connect_when_the_old_ca_is_dropped(
    flavour: str, tmp_path: pathlib.Path
) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        first = fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first)
        async with flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
        ) as grid:
            await grid.inference.list_models()
            old_server = fake.server_cert_fingerprint
            fake.rotate_client_ca()  # both client CAs trusted: the overlap
            bundle = fake.rotate_server_cert(new_ca=True)
            assert fake.server_cert_fingerprint != old_server
            second = fake.issue_client_cert()
            assert second.ca == bundle and bundle.count(b"BEGIN CERTIFICATE") == 2
            volume.write(_files(second))
            assert await grid.reload_tls()
            await grid.inference.list_models()
            fake.retire_old_client_cas()  # the old CA is no longer trusted
            await grid.inference.list_models()
            assert _seen(fake, "InferenceService.ListModels", second)
            # A new connection with the rotated files is accepted...
            async with flavours.client(
                flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
            ) as fresh:
                assert len(await fresh.inference.list_models()) == 3
            # ...and one with the old CA's certificate is not.
            stale = TLSConfig(
                ca_cert=bundle,
                client_cert=first.cert,
                client_key=first.key,
                server_name="localhost",
            )
            async with flavours.client(
                flavour, "InferenceClient", fake.target, token=fake.token, tls=stale, retry=ONCE
            ) as old:
                with pytest.raises(errors.UnavailableError):
                    await old.list_models()


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_bad_files_keep_the_last_good_material(
    flavour: str, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scaigrid_client")
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        first = fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first, check_every=30.0)
        async with flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
        ) as grid:

            async def in_use() -> str | None:
                await grid.inference.list_models()
                return fake.calls()[-1].client_cert

            assert not await grid.reload_tls()  # nothing changed
            second = fake.issue_client_cert()
            volume.write({"tls.crt": second.cert})  # the certificate written, its key not yet
            for _ in range(3):
                assert not await grid.reload_tls()
            assert "does not belong" in grid.tls_status.last_error
            assert await in_use() == first.fingerprint
            volume.write({"tls.key": second.key})
            assert await grid.reload_tls()
            assert grid.tls_status.last_error is None
            assert await in_use() == second.fingerprint
            bad = {
                "tls.key": b"garbage",
                "tls.crt": b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
                "ca.crt": second.key,  # PEM, but not a CA certificate
            }
            for name, content in bad.items():
                volume.write({**_files(second), name: content})
                assert not await grid.reload_tls()
                assert grid.tls_status.last_error.startswith("TLSFiles.")
                assert grid.tls_status.fingerprint == second.fingerprint
                assert await in_use() == second.fingerprint
            expired = fake.issue_client_cert(
                valid_for=-5, not_before=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
            )
            volume.write(_files(expired))
            assert not await grid.reload_tls()
            assert "expired at" in grid.tls_status.last_error
            (tmp_path / "..data").unlink()  # the files gone
            assert not await grid.reload_tls()
            assert "cannot read" in grid.tls_status.last_error
            assert await in_use() == second.fingerprint
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(set(warnings)) == 6  # one per distinct problem
    assert all("stays in use" in w for w in warnings)
    rotations = [r for r in caplog.records if getattr(r, "scaigrid", {}).get("event")]
    assert [r.scaigrid["fingerprint"] for r in rotations] == [second.fingerprint]  # type: ignore[attr-defined]
    assert "PRIVATE KEY" not in caplog.text and "garbage" not in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_heartbeats_use_the_new_channel_from_the_next_beat(
    flavour: str, tmp_path: pathlib.Path
) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        first = fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first, check_every=30.0)
        async with flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls
        ) as grid:
            beats = grid.heartbeat.start_heartbeats(
                node_id="node-1", capacity=lambda: {"gpu_count": 1}, interval=0.05
            )
            method = "HeartbeatService.Heartbeat"
            await _until(lambda: _seen(fake, method, first), 2.0, "a beat")
            second = fake.issue_client_cert()
            volume.write(_files(second))
            assert await grid.reload_tls()
            await _until(lambda: _seen(fake, method, second), 1.0, "a beat with the new cert")
            await beats.stop()
            assert beats.failed == 0
            await _until(lambda: grid.tls_status.draining == 0, 2.0, "the old channel closes")


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_fifty_rotations_leak_no_fds_or_threads(flavour: str, tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True, token_interval=0.01) as fake:
        certs = [fake.issue_client_cert() for _ in range(56)]
        volume, tls = _mount(tmp_path, certs[0])
        async with flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
        ) as grid:

            async def reply(done: asyncio.Event) -> int:  # open across rotations: it drains
                stream = grid.inference.stream_inference(
                    model="scailabs/poolnoodle-omni",
                    messages=[{"role": "user", "content": "long"}],
                    max_tokens=2000,  # 20 s at 10 ms a token: left early
                )
                chunks = 0
                async with stream:
                    async for _ in stream:
                        chunks += 1
                        if done.is_set():
                            break
                return chunks

            async def rotations(batch: list[ClientCert]) -> None:
                done = asyncio.Event()
                opened = len(fake.calls("InferenceService.StreamInference"))
                streaming = asyncio.create_task(reply(done))
                # This batch's stream, not the last one's: until it has started,
                # its start may adopt the first write before reload_tls does.
                await _until(
                    lambda: len(fake.calls("InferenceService.StreamInference")) > opened, 2, "open"
                )
                for cert in batch:
                    volume.write(_files(cert))
                    assert await grid.reload_tls()
                    await grid.inference.list_models()
                assert grid.tls_status.draining >= 1
                done.set()
                assert await streaming > 1
                await _until(lambda: grid.tls_status.draining == 0, 3.0, "drained")

            await rotations(certs[1:6])  # warm up: grpc's own threads and pools
            await asyncio.sleep(0.5)
            before = _counts()
            await rotations(certs[6:])
            assert fake.calls()[-1].client_cert == certs[-1].fingerprint
            await _until(
                lambda: all(n <= m for n, m in zip(_counts(), before, strict=True)),
                5.0,
                f"(fds, threads) {_counts()} back to {before}: {[t.name for t in threading.enumerate()]}",
            )
            print(f"{flavour}: (fds, threads) {before} before 50 rotations, {_counts()} after")


def _counts() -> tuple[int, int]:
    """Open fds, and threads but the test's own (asyncio.to_thread's pool,
    which runs the sync flavour's calls here and grows as it likes)."""
    threads = [t for t in threading.enumerate() if not t.name.startswith("asyncio_")]
    return len(os.listdir("/proc/self/fd")), len(threads)


@pytest.mark.asyncio
async def test_aging_certificate_warns_once(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        now = datetime.datetime.now(datetime.timezone.utc)
        aging = fake.issue_client_cert(
            valid_for=10, not_before=now - datetime.timedelta(seconds=30)
        )
        _, tls = _mount(tmp_path, aging)
    async with ScaiGrid("localhost:1", token="t", tls=tls) as grid:
        assert grid.tls_status.fingerprint == aging.fingerprint
        assert 0 < grid._transport.tls_expires_in() <= 10
        for _ in range(3):
            assert not await grid.reload_tls()
    aging_lines = [r for r in caplog.records if "two thirds of its lifetime" in r.getMessage()]
    assert len(aging_lines) == 1 and aging_lines[0].levelno == logging.WARNING


def test_tls_files_checks_its_files_at_construction(tmp_path: pathlib.Path) -> None:
    import trustme

    ca = trustme.CA()
    leaf, other = ca.issue_cert("a"), ca.issue_cert("b")
    files = {
        "ca.pem": ca.cert_pem.bytes(),
        "cert.pem": leaf.cert_chain_pems[0].bytes(),
        "key.pem": leaf.private_key_pem.bytes(),
        "other.key": other.private_key_pem.bytes(),
        "junk": b"junk",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)

    def make(**paths: Any) -> TLSFiles:
        given = {"ca_cert": "ca.pem", "client_cert": "cert.pem", "client_key": "key.pem"}
        given.update(paths)
        return TLSFiles(**{k: tmp_path / v if isinstance(v, str) else v for k, v in given.items()})

    tls = make()
    assert "PRIVATE" not in repr(tls) and str(tmp_path / "key.pem") in repr(tls)
    assert tls.check_every == 30.0 and tls.config().client_cert == files["cert.pem"]
    for paths, words in [
        ({"client_key": "other.key"}, "TLSFiles.client_key: the key does not belong"),
        ({"client_cert": "junk"}, "TLSFiles.client_cert: not PEM"),
        ({"ca_cert": "missing.pem"}, "TLSFiles.ca_cert: cannot read"),
        ({"ca_cert": "key.pem"}, "TLSFiles.ca_cert: no CA certificate"),
    ]:
        with pytest.raises(ValueError, match=words):
            make(**paths)
    with pytest.raises(ValueError, match="check_every"):
        make(check_every=0)
    with pytest.raises(TypeError, match="file path"):
        make(client_key=files["key.pem"])
    with pytest.raises(ValueError, match="server_name"):
        make(server_name="not a host")
    with pytest.raises(ValueError, match="channel="):
        ScaiGrid("localhost:1", token="t", tls=tls, channel=object())  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_without_tls_files_nothing_to_reload() -> None:
    async with ScaiGrid("localhost:1", token="t", tls=False) as grid:
        assert grid.tls_status is None
        assert await grid.reload_tls() is False


_TELEMETRY_SCRIPT = """
import asyncio, json, sys, tempfile
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from scaigrid_client import ScaiGrid, TLSFiles
from scaigrid_client.testing import FakeScaiGrid, SecretVolume

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

async def main():
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        volume = SecretVolume(tempfile.mkdtemp())
        for valid_for in (600, 900):
            cert = fake.issue_client_cert(valid_for=valid_for)
            volume.write({"ca.crt": cert.ca, "tls.crt": cert.cert, "tls.key": cert.key})
            if valid_for == 600:
                tls = TLSFiles(ca_cert=volume.path("ca.crt"), client_cert=volume.path("tls.crt"),
                               client_key=volume.path("tls.key"), server_name="localhost")
                grid = ScaiGrid(fake.target, token=fake.token, tls=tls)
                await grid.inference.list_models()
        assert await grid.reload_tls()
        points = {}
        for resource in reader.get_metrics_data().resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name.startswith("scaigrid.client.tls."):
                        for point in metric.data.data_points:
                            points[metric.name] = [point.value, dict(point.attributes)]
        await grid.close()
        print(json.dumps({"points": points, "target": fake.target}))

asyncio.run(main())
"""


def test_telemetry_counts_rotations_and_gauges_the_expiry() -> None:
    pytest.importorskip("opentelemetry.sdk")
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _TELEMETRY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    points = result["points"]
    assert points["scaigrid.client.tls.rotations"][0] == 1
    seconds, attributes = points["scaigrid.client.tls.expires_in"]
    assert 800 < seconds <= 900  # the second certificate's
    assert attributes == {"server.address": result["target"]}


def test_rotation_across_event_loops(tmp_path: pathlib.Path) -> None:
    with FakeScaiGrid(tls=True, require_client_cert=True) as fake:  # on its own thread
        first = fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first, check_every=30.0)
        grid = ScaiGrid(fake.target, token=fake.token, tls=tls)

        async def call(reload: bool = False) -> str | None:
            if reload:
                assert await grid.reload_tls()
            await grid.inference.list_models()
            return fake.calls()[-1].client_cert

        assert asyncio.run(call()) == first.fingerprint  # a loop that then closes
        second = fake.issue_client_cert()
        volume.write(_files(second))
        assert asyncio.run(call(reload=True)) == second.fingerprint  # a new loop
        third = fake.issue_client_cert()
        volume.write(_files(third))

        async def in_thread_loop() -> str | None:  # a loop in another thread, at once
            return await asyncio.to_thread(asyncio.run, call(reload=True))

        assert asyncio.run(in_thread_loop()) == third.fingerprint
        assert asyncio.run(call()) == third.fingerprint  # a fourth loop: the material in use
        assert grid.tls_status.draining == 0
        asyncio.run(grid.close())


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_a_call_whose_channel_closed_meanwhile_goes_to_the_new_one(
    flavour: str, tmp_path: pathlib.Path
) -> None:
    """A call takes its channel's callable, then awaits its token; a
    rotation meanwhile retires and closes that channel (no call was open on
    it). The call goes to the new channel instead of failing."""
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        first, second = fake.issue_client_cert(), fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first, check_every=30.0)
        rotate = False

        def rotate_now(grid: Any) -> None:
            volume.write(_files(second))
            assert grid.reload_tls() if flavour == "sync" else True

        if flavour == "async":

            async def token() -> str:
                if rotate:
                    rotate_now(grid)
                    assert await grid.reload_tls()
                    assert grid.tls_status.draining == 0  # closed: nothing was open on it
                return fake.token

            grid: Any = ScaiGrid(fake.target, token=token, tls=tls, retry=ONCE)
            async with grid:
                await grid.inference.list_models()
                rotate = True
                await grid.inference.list_models()
        else:
            from scaigrid_client import sync

            def sync_token() -> str:
                if rotate:
                    rotate_now(sync_grid)
                return fake.token

            def run() -> None:
                nonlocal rotate
                with sync_grid:
                    sync_grid.inference.list_models()
                    rotate = True
                    sync_grid.inference.list_models()

            sync_grid = sync.ScaiGrid(fake.target, token=sync_token, tls=tls, retry=ONCE)
            await asyncio.to_thread(run)
        assert [c.client_cert for c in fake.calls()] == [first.fingerprint, second.fingerprint]


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_metrics_stream_moves_with_no_gap(flavour: str, tmp_path: pathlib.Path) -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True, step_interval=0.02) as fake:
        first = fake.issue_client_cert()
        volume, tls = _mount(tmp_path, first)
        async with flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=tls, retry=ONCE
        ) as grid:
            job = await grid.coordinator.submit_job(
                name="rotating", base_model="scailabs/poolnoodle-omni", gpus=1, max_steps=40
            )
            second = fake.issue_client_cert()
            steps = []
            async for point in grid.coordinator.stream_metrics(job.id):
                steps.append(point.step)
                if point.step == 5:
                    volume.write(_files(second))
                    assert await grid.reload_tls()  # the next message comes on the new channel
            assert steps == list(range(1, 41))
            certs = [c.client_cert for c in fake.calls("CoordinatorService.StreamMetrics")]
            assert certs == [first.fingerprint, second.fingerprint]

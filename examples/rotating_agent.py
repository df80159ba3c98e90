"""An agent whose mTLS certificate is rotated under it, without a restart.

    python examples/rotating_agent.py [--seconds S] [--cert-dir DIR]

The agent heartbeats and tails a core's events with ``TLSFiles``: the
files are re-read every ``check_every`` seconds, new material is validated
and adopted for new calls, and the tail moves over with no gap.

Against the fake (the default), this script also plays cert-manager: it
writes short-lived certificates into a Kubernetes-style secret volume
(``..data`` symlink swapped atomically) and renews them before they
expire, once with a half-written pair that the agent refuses. Against a
real gateway (SCAIGRID_TARGET set), point ``--cert-dir`` at the mounted
secret (``ca.crt``, ``tls.crt``, ``tls.key``) and let your issuer rotate it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pathlib
import tempfile
from collections.abc import AsyncIterator

from scaigrid_client import ScaiGrid, TLSFiles
from scaigrid_client.testing import ClientCert, FakeScaiGrid, SecretVolume

LIFETIME = 3.0  # seconds a certificate lives here; cert-manager's default is 90 days
RENEW_EVERY = 1.0  # renewed at a third of its life, as cert-manager does


def files(cert: ClientCert) -> dict[str, bytes]:
    return {"ca.crt": cert.ca, "tls.crt": cert.cert, "tls.key": cert.key}


def tls_files(directory: pathlib.Path) -> TLSFiles:
    return TLSFiles(
        ca_cert=directory / "ca.crt",
        client_cert=directory / "tls.crt",
        client_key=directory / "tls.key",
        server_name=os.environ.get("SCAIGRID_SERVER_NAME", "localhost"),
        check_every=0.25,  # in production: the default 30 s, or a tenth of the lifetime
    )


async def cert_manager(fake: FakeScaiGrid, volume: SecretVolume, seconds: float) -> int:
    """Renew the certificate every RENEW_EVERY seconds; returns how many were issued."""
    issued = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(RENEW_EVERY)
        cert = fake.issue_client_cert(valid_for=LIFETIME)
        issued += 1
        if issued == 2:  # a writer that writes the certificate, then the key
            volume.write({"tls.crt": cert.cert})
            await asyncio.sleep(0.4)
        volume.write(files(cert))
    return issued


async def agent(grid: ScaiGrid, core_id: str, stop: asyncio.Event) -> list[int]:
    """Heartbeats and an event tail: the agent's work, unaware of rotation."""
    beats = grid.heartbeat.start_heartbeats(
        node_id="node-a1", capacity=lambda: {"gpu_count": 8}, interval=0.1
    )
    sequences: list[int] = []
    seen = grid.tls_status.fingerprint if grid.tls_status else None
    async with grid.core.stream_events(core_id) as events:
        async for event in events:
            sequences.append(event.sequence)
            status = grid.tls_status
            if status is not None and status.fingerprint != seen:
                seen = status.fingerprint
                print(
                    f"  now on certificate {seen[:12]}…, expires {status.not_after:%H:%M:%S}, "
                    f"{status.draining} old channel(s) draining"
                )
            if stop.is_set():
                break
    await beats.stop()
    print(f"heartbeats sent: {beats.sent}, failed: {beats.failed}")
    return sequences


@contextlib.asynccontextmanager
async def fake_cluster(directory: pathlib.Path) -> AsyncIterator[tuple[FakeScaiGrid, SecretVolume]]:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        print(f"(running against the bundled fake ScaiGrid at {fake.target}, mTLS)")
        volume = SecretVolume(directory)
        volume.write(files(fake.issue_client_cert(valid_for=LIFETIME)))
        yield fake, volume


async def main(seconds: float, cert_dir: str | None) -> None:
    stop = asyncio.Event()
    if os.environ.get("SCAIGRID_TARGET"):
        async with ScaiGrid(tls=tls_files(pathlib.Path(cert_dir or "/etc/scaigrid"))) as grid:
            await grid.core.invoke_core("core-agent")
            work = asyncio.create_task(agent(grid, "core-agent", stop))
            await asyncio.sleep(seconds)
            stop.set()
            await grid.core.invoke_core("core-agent")  # an event to end the tail on
            await work
        return
    with tempfile.TemporaryDirectory() as tmp:
        await against_the_fake(pathlib.Path(tmp), seconds, stop)


async def against_the_fake(directory: pathlib.Path, seconds: float, stop: asyncio.Event) -> None:
    async with (
        fake_cluster(directory) as (fake, volume),
        ScaiGrid(fake.target, token=fake.token, tls=tls_files(volume.directory)) as grid,
    ):
        await grid.core.invoke_core("core-a1")  # the core, and its first events
        work = asyncio.create_task(agent(grid, "core-a1", stop))
        renewals = asyncio.create_task(cert_manager(fake, volume, seconds))
        while not renewals.done():
            await grid.core.invoke_core("core-a1")  # events for the tail
            await asyncio.sleep(0.05)
        stop.set()
        await grid.core.invoke_core("core-a1")
        sequences = await work
        gapless = sequences == list(range(1, len(sequences) + 1))
        print(
            f"certificates issued: {renewals.result()}, events: {len(sequences)}, "
            f"gapless: {gapless}"
        )
        certs = {c.client_cert for c in fake.calls()}
        tails = fake.calls("CoreRuntimeService.StreamEvents")
        print(
            f"the gateway saw {len(certs)} client certificates; the tail moved "
            f"{len(tails) - 1} times"
        )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="  [%(levelname)s] %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--cert-dir", help="the mounted secret (a real gateway only)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.cert_dir))

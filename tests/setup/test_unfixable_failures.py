"""Failures that no retry can fix are named at once: TLS on one side only,
mTLS without (or with the wrong) client certificate, a key that is not the
certificate's, a host name that does not resolve. And grpc-core's own log
lines stay off stderr unless asked for."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest
import trustme

from scaigrid_client import RetryEvent, RetryPolicy, ScaiGrid, TLSConfig, errors
from scaigrid_client.testing import FakeScaiGrid


def _recording_policy(events: list[RetryEvent]) -> RetryPolicy:
    return RetryPolicy(initial_backoff=0.2, max_backoff=0.2, on_retry=events.append)


async def _list_models(target: str, tls: bool | TLSConfig, events: list[RetryEvent]) -> Any:
    async with ScaiGrid(
        target, token="sgst_never_sent", tls=tls, retry=_recording_policy(events), timeout=20
    ) as grid:
        return await grid.inference.list_models()


@pytest.mark.asyncio
async def test_plaintext_client_to_a_tls_gateway_is_named_at_once() -> None:
    async with FakeScaiGrid(tls=True) as fake:
        events: list[RetryEvent] = []
        started = time.monotonic()
        with pytest.raises(errors.TLSVerificationError) as info:
            await _list_models(fake.target, False, events)
        assert info.value.reason == "tls_required"
        assert "tls=False" in info.value.message
        assert events == []  # not retried
        assert time.monotonic() - started < 5
        assert fake.calls() == []


@pytest.mark.asyncio
async def test_mtls_gateway_without_a_client_certificate() -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        ca = fake.client_tls().ca_cert
        events: list[RetryEvent] = []
        with pytest.raises(errors.TLSVerificationError) as info:
            await _list_models(fake.target, TLSConfig(ca_cert=ca, server_name="localhost"), events)
        assert info.value.reason == "client_cert_required"
        assert "client_cert" in info.value.message
        assert events == []


@pytest.mark.asyncio
async def test_mtls_gateway_rejects_a_certificate_from_another_ca() -> None:
    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        stranger = trustme.CA().issue_cert("client")
        tls = TLSConfig(
            ca_cert=fake.client_tls().ca_cert,
            client_cert=stranger.cert_chain_pems[0].bytes(),
            client_key=stranger.private_key_pem.bytes(),
            server_name="localhost",
        )
        events: list[RetryEvent] = []
        with pytest.raises(errors.TLSVerificationError) as info:
            await _list_models(fake.target, tls, events)
        assert info.value.reason == "client_cert_rejected"
        assert events == []


@pytest.mark.asyncio
async def test_mtls_gateway_rejects_an_expired_certificate_as_expired() -> None:
    """Signed by the CA the gateway trusts, but expired: the error says so
    (the gateway closes the connection as for a stranger's certificate)."""
    import datetime

    async with FakeScaiGrid(tls=True, require_client_cert=True) as fake:
        long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
        expired = fake.issue_client_cert(not_before=long_ago, valid_for=-3600)
        tls = TLSConfig(
            ca_cert=fake.client_tls().ca_cert,
            client_cert=expired.cert,
            client_key=expired.key,
            server_name="localhost",
        )
        events: list[RetryEvent] = []
        with pytest.raises(errors.TLSVerificationError) as info:
            await _list_models(fake.target, tls, events)
        assert info.value.reason == "client_cert_expired"
        assert "expired" in info.value.message and "TLSFiles" in info.value.message
        assert events == []


@pytest.mark.asyncio
async def test_a_connection_closed_by_a_plaintext_peer_is_still_retried() -> None:
    """A peer that closes every connection at once (a gateway going away)
    looks like the TLS cases to grpc; the probe proves nothing there, so the
    failure stays an ordinary UNAVAILABLE and is retried."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        events: list[RetryEvent] = []
        with pytest.raises(errors.UnavailableError) as info:
            await _list_models(f"127.0.0.1:{port}", False, events)
    assert type(info.value) is errors.UnavailableError
    assert len(events) == 4


def test_a_client_key_that_is_not_the_certificates_is_refused_before_the_wire() -> None:
    ca = trustme.CA()
    mine, other = ca.issue_cert("me"), ca.issue_cert("other")
    with pytest.raises(ValueError, match=r"TLSConfig\.client_key: the key does not belong"):
        TLSConfig(
            client_cert=mine.cert_chain_pems[0].bytes(),
            client_key=other.private_key_pem.bytes(),
        )
    TLSConfig(client_cert=mine.cert_chain_pems[0].bytes(), client_key=mine.private_key_pem.bytes())


@pytest.mark.asyncio
async def test_a_host_name_that_does_not_resolve() -> None:
    events: list[RetryEvent] = []
    with pytest.raises(errors.NameResolutionError) as info:
        await _list_models("gateway.scaigrid-test.invalid:50051", False, events)
    assert info.value.host == "gateway.scaigrid-test.invalid"
    assert "does not resolve" in info.value.message
    assert isinstance(info.value, errors.UnavailableError)
    assert events == []


_GRPC_LOG_SCRIPT = """
import asyncio
from scaigrid_client import RetryPolicy, ScaiGrid, TLSConfig, errors
from scaigrid_client.testing import FakeScaiGrid

async def main():
    async with FakeScaiGrid() as fake:   # plaintext; the client speaks TLS
        tls = TLSConfig(server_name="localhost")
        async with ScaiGrid(fake.target, token=fake.token, tls=tls,
                            retry=RetryPolicy(max_attempts=1)) as grid:
            try:
                await grid.inference.list_models()
            except errors.TLSVerificationError as error:
                print(error.reason)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("verbosity", "opt_in", "grpc_lines"),
    [(None, True, False), ("INFO", True, True), (None, False, True)],
    ids=["quiet_grpc_logs", "asked-for-INFO-wins", "grpc-default-left-alone"],
)
def test_grpc_core_logs_are_off_only_when_asked(
    verbosity: str | None, opt_in: bool, grpc_lines: bool
) -> None:
    """1.0: importing the SDK changes no process-wide setting; an
    application (and the CLI) opts in with quiet_grpc_logs(), before grpc
    is imported, and an explicit GRPC_VERBOSITY still wins."""
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    if verbosity is not None:
        env["GRPC_VERBOSITY"] = verbosity
    prefix = (
        f"import scaigrid_client\nassert scaigrid_client.quiet_grpc_logs() is {verbosity is None}\n"
    )
    expected = "NONE" if opt_in and verbosity is None else verbosity
    check_env = f"\nimport os\nassert os.environ.get('GRPC_VERBOSITY') == {expected!r}\n"
    script = (prefix if opt_in else "") + _GRPC_LOG_SCRIPT + check_env
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "not_tls"
    assert ("ssl_transport_security" in done.stderr) is grpc_lines, done.stderr


def test_quiet_grpc_logs_is_too_late_once_grpc_is_imported() -> None:
    script = (
        "import grpc, os\nimport scaigrid_client\n"
        "assert scaigrid_client.quiet_grpc_logs() is False\n"
        "assert 'GRPC_VERBOSITY' not in os.environ\nprint('ok')"
    )
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr

"""Print the status code and details grpc gives a client for TLS and connection failures.

errors.py recognises some failures (a TLS host name mismatch) by grpc's status
text, which differs between grpcio versions; run this with each grpcio the
SDK supports to see the texts. Each case makes one call (ListModels, 5 s
deadline) on a channel built the way the SDK builds it (the SDK's retries
are not involved), against the bundled fake.

Usage: python tools/probe_connection_errors.py   (needs the `testing` extra)
"""

from __future__ import annotations

import asyncio
import socket
import sys

import grpc
import trustme

from scaigrid_client._channel import build_channel
from scaigrid_client._config import TLSConfig
from scaigrid_client._messages import scaiinfer
from scaigrid_client.testing import FakeScaiGrid

LIST_MODELS = "/scaiinfer.v1.InferenceService/ListModels"


async def call(target: str, tls: bool | TLSConfig) -> tuple[str, str]:
    channel = build_channel(target, tls, [], None, None)
    try:
        list_models = channel.unary_unary(
            LIST_MODELS,
            request_serializer=scaiinfer.ListModelsRequest.SerializeToString,
            response_deserializer=scaiinfer.ListModelsResponse.FromString,
        )
        await list_models(scaiinfer.ListModelsRequest(), timeout=5)
        return "OK", ""
    except grpc.aio.AioRpcError as exc:
        return exc.code().name, exc.details() or ""
    except Exception as exc:  # creating credentials can fail before any call
        return type(exc).__name__, str(exc)
    finally:
        await channel.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main() -> None:
    stranger = trustme.CA()
    rows: list[tuple[str, str, str]] = []
    async with FakeScaiGrid(tls=True) as tls_fake:
        good = tls_fake.client_tls()
        rows.append(
            (
                "unknown CA",
                *await call(
                    tls_fake.target,
                    TLSConfig(ca_cert=stranger.cert_pem.bytes(), server_name="localhost"),
                ),
            )
        )
        rows.append(
            (
                "hostname mismatch",
                *await call(
                    tls_fake.target,
                    TLSConfig(ca_cert=good.ca_cert, server_name="wrong.example.com"),
                ),
            )
        )
        rows.append(("plaintext client to TLS server", *await call(tls_fake.target, False)))
    async with FakeScaiGrid() as plain_fake:
        rows.append(
            (
                "TLS client to plaintext server",
                *await call(
                    plain_fake.target,
                    TLSConfig(ca_cert=stranger.cert_pem.bytes(), server_name="localhost"),
                ),
            )
        )
    async with FakeScaiGrid(tls=True, require_client_cert=True) as mtls_fake:
        mtls = mtls_fake.client_tls()
        rows.append(
            (
                "mTLS server, client without a cert",
                *await call(
                    mtls_fake.target, TLSConfig(ca_cert=mtls.ca_cert, server_name="localhost")
                ),
            )
        )
        other_key = stranger.issue_cert("someone-else").private_key_pem.bytes()
        rows.append(
            (
                "client key does not match its cert",
                *await call(
                    mtls_fake.target,
                    TLSConfig(
                        ca_cert=mtls.ca_cert,
                        client_cert=mtls.client_cert,
                        client_key=other_key,
                        server_name="localhost",
                    ),
                ),
            )
        )
    rows.append(("host name does not resolve", *await call("nonexistent.invalid:50051", False)))
    rows.append(("connection refused", *await call(f"127.0.0.1:{closed_port()}", False)))
    print(f"grpcio {grpc.__version__}, Python {sys.version.split()[0]}")
    print("| case | status | details |")
    print("| --- | --- | --- |")
    for case, status, details in rows:
        print(f"| {case} | {status} | `{details}` |")


if __name__ == "__main__":
    asyncio.run(main())

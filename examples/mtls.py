"""Mutual TLS: a client certificate, a private CA, and the files they live in.

    python examples/mtls.py

Starts the fake with mTLS and its certificates written to a temporary
directory, then connects with a TLSConfig that reads them from there, as a
client of a real gateway would.
"""

from __future__ import annotations

import asyncio
import pathlib
import tempfile

from scaigrid_client import InferenceClient, RetryPolicy, TLSConfig, errors
from scaigrid_client.testing import FakeScaiGrid


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        certs = pathlib.Path(tmp)
        async with FakeScaiGrid(tls=True, require_client_cert=True, tls_dir=certs) as fake:
            print(f"fake gateway with mTLS at {fake.target}; certificates in {certs}")
            tls = TLSConfig(
                ca_cert=certs / "ca.pem",
                client_cert=certs / "client.pem",
                client_key=certs / "client.key",
                server_name="localhost",
            )
            print(f"client TLS: {tls}")
            async with InferenceClient(fake.target, token=fake.token, tls=tls) as client:
                models = await client.list_models()
                print("with a client certificate:", ", ".join(m.id for m in models))
            no_cert = TLSConfig(ca_cert=certs / "ca.pem", server_name="localhost")
            # One attempt: a refused handshake will not go better on a retry.
            once = RetryPolicy(max_attempts=1)
            async with InferenceClient(
                fake.target, token=fake.token, tls=no_cert, retry=once
            ) as client:
                try:
                    await client.list_models()
                except errors.UnavailableError as exc:
                    print(f"without one, refused: {exc.status.name}")


if __name__ == "__main__":
    asyncio.run(main())

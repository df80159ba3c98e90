"""The fake's TLS material: a throwaway CA and certificates from trustme, or
those in ``tls_dir`` (written there when missing), for the server and for
`client_tls()`; and what rotation needs: new server certificates, new
client CAs trusted with an overlap, short-lived client certificates.

The server's credentials are grpc's dynamic ones: grpc asks for the
configuration at each new handshake, so what the fake presents and whom it
trusts change for new connections only, as on a real gateway.
"""

from __future__ import annotations

import datetime
import pathlib
import threading
from dataclasses import dataclass
from typing import Any

import grpc

from scaigrid_client._config import TLSConfig
from scaigrid_client._x509 import validity

__all__ = ["ClientCert", "TLSMaterial"]

_NAMES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
_SKEW = 60.0  # issued certificates start up to a minute back (a tenth of their life)


@dataclass(frozen=True, repr=False)
class ClientCert:
    """A client certificate the fake issued, with what a client needs."""

    cert: bytes
    """The certificate (PEM)."""
    key: bytes
    """Its private key (PEM; never in repr())."""
    ca: bytes
    """The CA bundle that verifies the fake's server certificate (PEM)."""
    fingerprint: str
    """SHA-256 of the certificate's DER, hex: what ``tls_status`` shows."""
    not_after: datetime.datetime
    """When it expires (UTC)."""

    def __repr__(self) -> str:
        return f"ClientCert(fingerprint={self.fingerprint[:16]!r}…, not_after={self.not_after})"


def _trustme() -> Any:
    try:
        import trustme  # only a TLS fake needs it (the testing extra)
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "FakeScaiGrid(tls=True) needs trustme: pip install 'scaigrid-client[testing]'"
        ) from None
    return trustme


class TLSMaterial:
    """PEM files by name, made or read the first time they are needed; then
    the rotating state: the server's pair, the server CAs a client should
    trust, the client CAs the server accepts."""

    def __init__(self, tls_dir: pathlib.Path | None) -> None:
        self._tls_dir = tls_dir
        self._files: dict[str, bytes] = {}
        self._lock = threading.Lock()  # grpc asks for the configuration on its own thread
        self._server_ca: Any = None  # trustme CAs, when made here (not read from tls_dir)
        self._client_ca: Any = None
        self._server_pair: tuple[bytes, bytes] = (b"", b"")  # (key, chain)
        self._client_pair: tuple[bytes, bytes] = (b"", b"")  # client_tls()'s
        self._server_cas: list[bytes] = []
        self._client_cas: list[bytes] = []
        self._require_client_cert = False
        self._changed = False

    def files(self) -> dict[str, bytes]:
        if not self._files:
            self._files = self._read() or self._make()
            files = self._files
            self._server_pair = (files["server.key"], files["server.pem"])
            self._client_pair = (files["client.key"], files["client.pem"])
            self._server_cas = [files["ca.pem"]]
            self._client_cas = [files["ca.pem"]]
        return self._files

    def _read(self) -> dict[str, bytes]:
        if self._tls_dir is not None and all((self._tls_dir / n).exists() for n in _NAMES):
            return {n: (self._tls_dir / n).read_bytes() for n in _NAMES}
        return {}

    def _make(self) -> dict[str, bytes]:
        ca = self._server_ca = self._client_ca = _trustme().CA()
        server = ca.issue_cert("localhost", "127.0.0.1", "::1")
        client = ca.issue_cert("scaigrid-fake-client")
        files = {
            "ca.pem": ca.cert_pem.bytes(),
            "server.pem": server.cert_chain_pems[0].bytes(),
            "server.key": server.private_key_pem.bytes(),
            "client.pem": client.cert_chain_pems[0].bytes(),
            "client.key": client.private_key_pem.bytes(),
        }
        if self._tls_dir is not None:
            self._tls_dir.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                path = self._tls_dir / name
                path.write_bytes(data)
                if name.endswith(".key"):
                    path.chmod(0o600)
        return files

    # -- the server side ------------------------------------------------------------------

    def _configuration(self) -> Any:
        roots = b"".join(self._client_cas) if self._require_client_cert else None
        return grpc.ssl_server_certificate_configuration(
            [self._server_pair], root_certificates=roots
        )

    def _fetch(self) -> Any:
        """grpc's question at each handshake: None while nothing changed."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            return self._configuration()

    def server_credentials(self, *, require_client_cert: bool) -> grpc.ServerCredentials:
        self.files()
        with self._lock:
            self._require_client_cert = require_client_cert
            self._changed = False
            initial = self._configuration()
        return grpc.dynamic_ssl_server_credentials(
            initial, self._fetch, require_client_authentication=require_client_cert
        )

    @property
    def server_fingerprint(self) -> str:
        self.files()
        return validity(self._server_pair[1]).fingerprint

    def server_ca_bundle(self) -> bytes:
        """Every server CA a client should trust (old and new: the overlap)."""
        self.files()
        return b"".join(self._server_cas)

    # -- rotation -------------------------------------------------------------------------

    def rotate_server_cert(self, *, new_ca: bool, valid_for: float | None) -> bytes:
        self.files()
        if new_ca or self._server_ca is None:
            self._server_ca = _trustme().CA()
            with self._lock:
                self._server_cas.append(self._server_ca.cert_pem.bytes())
        now = datetime.datetime.now(datetime.timezone.utc)
        leaf = self._server_ca.issue_cert(
            "localhost",
            "127.0.0.1",
            "::1",
            not_before=now - datetime.timedelta(seconds=_SKEW),
            not_after=None if valid_for is None else now + datetime.timedelta(seconds=valid_for),
        )
        with self._lock:
            self._server_pair = (leaf.private_key_pem.bytes(), leaf.cert_chain_pems[0].bytes())
            self._changed = True
        return self.server_ca_bundle()

    def rotate_client_ca(self, *, keep_previous: bool) -> None:
        self.files()
        self._client_ca = _trustme().CA()
        leaf = self._client_ca.issue_cert("scaigrid-fake-client")
        self._client_pair = (leaf.private_key_pem.bytes(), leaf.cert_chain_pems[0].bytes())
        with self._lock:
            pem = self._client_ca.cert_pem.bytes()
            self._client_cas = [*self._client_cas, pem] if keep_previous else [pem]
            self._changed = True

    def retire_old_client_cas(self) -> None:
        self.files()
        with self._lock:
            self._client_cas = self._client_cas[-1:]
            self._changed = True

    def issue_client_cert(
        self, *, valid_for: float, not_before: datetime.datetime | None, common_name: str
    ) -> ClientCert:
        self.files()
        if self._client_ca is None:
            raise RuntimeError(
                "issue_client_cert(): this fake read its certificates from tls_dir and has "
                "no CA key; call rotate_client_ca() first, or use a fresh tls_dir"
            )
        now = datetime.datetime.now(datetime.timezone.utc)
        skew = datetime.timedelta(seconds=min(_SKEW, max(valid_for, 0.0) / 10))
        start = not_before or now - skew
        leaf = self._client_ca.issue_cert(
            common_name,
            common_name=common_name,
            not_before=start,
            not_after=now + datetime.timedelta(seconds=valid_for),
        )
        cert = leaf.cert_chain_pems[0].bytes()
        read = validity(cert)
        return ClientCert(
            cert=cert,
            key=leaf.private_key_pem.bytes(),
            ca=self.server_ca_bundle(),
            fingerprint=read.fingerprint,
            not_after=read.not_after,
        )

    def client_config(self, *, require_client_cert: bool) -> TLSConfig:
        """The TLSConfig a client needs: the CA, and for mTLS a client cert."""
        self.files()
        if require_client_cert:
            return TLSConfig(
                ca_cert=self.server_ca_bundle(),
                client_cert=self._client_pair[1],
                client_key=self._client_pair[0],
                server_name="localhost",
            )
        return TLSConfig(ca_cert=self.server_ca_bundle(), server_name="localhost")

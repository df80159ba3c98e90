"""The fake's TLS material: a throwaway CA and certificates from trustme, or
those in ``tls_dir`` (written there when missing), for the server and for
`client_tls()`."""

from __future__ import annotations

import pathlib

import grpc

from scaigrid_client._config import TLSConfig

__all__ = ["TLSMaterial"]

_NAMES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")


class TLSMaterial:
    """PEM files by name, made or read the first time they are needed."""

    def __init__(self, tls_dir: pathlib.Path | None) -> None:
        self._tls_dir = tls_dir
        self._files: dict[str, bytes] = {}

    def files(self) -> dict[str, bytes]:
        if not self._files:
            self._files = self._read() or self._make()
        return self._files

    def _read(self) -> dict[str, bytes]:
        if self._tls_dir is not None and all((self._tls_dir / n).exists() for n in _NAMES):
            return {n: (self._tls_dir / n).read_bytes() for n in _NAMES}
        return {}

    def _make(self) -> dict[str, bytes]:
        try:
            import trustme  # only a TLS fake needs it (the testing extra)
        except ImportError:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "FakeScaiGrid(tls=True) needs trustme: pip install 'scaigrid-client[testing]'"
            ) from None
        ca = trustme.CA()
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

    def server_credentials(self, *, require_client_cert: bool) -> grpc.ServerCredentials:
        m = self.files()
        return grpc.ssl_server_credentials(
            [(m["server.key"], m["server.pem"])],
            root_certificates=m["ca.pem"] if require_client_cert else None,
            require_client_auth=require_client_cert,
        )

    def client_config(self, *, require_client_cert: bool) -> TLSConfig:
        """The TLSConfig a client needs: the CA, and for mTLS a client cert."""
        material = self.files()
        if require_client_cert:
            return TLSConfig(
                ca_cert=material["ca.pem"],
                client_cert=material["client.pem"],
                client_key=material["client.key"],
                server_name="localhost",
            )
        return TLSConfig(ca_cert=material["ca.pem"], server_name="localhost")

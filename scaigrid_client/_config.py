"""Configuration objects: TLS and retries."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["PEMSource", "TLSConfig"]

PEMSource = bytes | str | os.PathLike[str]
"""PEM data as bytes (or a str that starts with ``-----BEGIN``), or a file path."""


def _load_pem(value: PEMSource | None, field_name: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        data = value.encode("ascii", "replace")
    elif isinstance(value, (str, os.PathLike)):
        try:
            with open(value, "rb") as pem_file:
                data = pem_file.read()
        except OSError as exc:
            raise ValueError(
                f"TLSConfig.{field_name}: cannot read {os.fspath(value)!r} "
                f"({exc.strerror or exc}); pass PEM bytes or a readable file path"
            ) from None
    else:
        raise TypeError(
            f"TLSConfig.{field_name}: expected PEM bytes or a file path, got {type(value).__name__}"
        )
    if b"-----BEGIN" not in data:
        raise ValueError(
            f"TLSConfig.{field_name}: not PEM data (no '-----BEGIN' line); "
            "pass a PEM-encoded certificate or key"
        )
    return data


@dataclass(frozen=True, init=False)
class TLSConfig:
    """TLS settings for a custom CA and mutual TLS.

    Every certificate and key is PEM, given as bytes or as a file path; files
    are read once, here. ``client_cert`` and ``client_key`` go together and
    turn on mTLS. ``server_name`` overrides the host name the server's
    certificate is checked against (for example when connecting by IP).
    ``TLSConfig()`` with nothing set verifies against the system roots, as
    ``tls=True`` does.
    """

    ca_cert: bytes | None
    client_cert: bytes | None
    client_key: bytes | None = field(repr=False)
    server_name: str | None

    def __init__(
        self,
        *,
        ca_cert: PEMSource | None = None,
        client_cert: PEMSource | None = None,
        client_key: PEMSource | None = None,
        server_name: str | None = None,
    ) -> None:
        if (client_cert is None) != (client_key is None):
            missing = "client_key" if client_key is None else "client_cert"
            raise ValueError(
                f"TLSConfig.{missing}: mTLS needs both client_cert and client_key; "
                f"pass {missing} too, or neither"
            )
        if server_name is not None and (
            not isinstance(server_name, str)
            or not server_name
            or not server_name.isascii()
            or any(c.isspace() or c in "/\\@" for c in server_name)
        ):
            raise ValueError(
                f"TLSConfig.server_name: {server_name!r} is not a host name; "
                "pass a DNS name such as 'gateway.example.com'"
            )
        object.__setattr__(self, "ca_cert", _load_pem(ca_cert, "ca_cert"))
        object.__setattr__(self, "client_cert", _load_pem(client_cert, "client_cert"))
        object.__setattr__(self, "client_key", _load_pem(client_key, "client_key"))
        object.__setattr__(self, "server_name", server_name)

    def __repr__(self) -> str:
        # Certificates are public but long; the key is secret. Say what is set.
        return (
            f"TLSConfig(ca_cert={'<set>' if self.ca_cert else None}, "
            f"client_cert={'<set>' if self.client_cert else None}, "
            f"client_key={'<redacted>' if self.client_key else None}, "
            f"server_name={self.server_name!r})"
        )

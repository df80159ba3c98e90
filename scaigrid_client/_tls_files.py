"""`TLSFiles`: mTLS material read from files and re-read while a client
runs, so that certificates rotated by cert-manager, SPIRE, Istio or Vault
are used without a restart.

Each check reads the three files from one resolved directory (Kubernetes
swaps a ``..data`` symlink: a swap is seen whole, never half), compares
their content with what is in use (a hash, not modification times),
and validates new material before it is adopted: PEM that parses, a key
that belongs to the certificate, a certificate valid now, a CA bundle that
is not empty. Anything else keeps the last good material, logs one WARNING
per distinct problem and is tried again at the next check. How clients move
their channels to adopted material is `_tls_rotation`.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass

from scaigrid_client import _telemetry
from scaigrid_client._config import TLSConfig
from scaigrid_client._x509 import Validity, pem_ders, validity

__all__ = ["FileWatch", "Material", "TLSFiles", "TLSStatus"]

logger = logging.getLogger("scaigrid_client")

_FIELDS = ("ca_cert", "client_cert", "client_key")
_READ_ATTEMPTS = 5  # reads retried while a directory swap moves the files under them


@dataclass(frozen=True)
class TLSStatus:
    """Where a client's certificate rotation stands (``client.tls_status``)."""

    fingerprint: str
    """SHA-256 of the client certificate in use (hex of its DER)."""
    not_after: datetime.datetime
    """When that certificate expires (UTC)."""
    loaded_at: datetime.datetime
    """When it was adopted (UTC)."""
    last_error: str | None
    """What the latest check found wrong with the files, or None."""
    draining: int
    """Old channels still open for the calls that started on them."""


@dataclass(frozen=True)
class Material:
    """One validated read of the files."""

    config: TLSConfig
    digest: str
    certificate: Validity
    loaded_at: datetime.datetime
    source: str


def _read(paths: tuple[str, ...]) -> tuple[tuple[bytes, ...], str]:
    """The files' bytes, all from one resolved directory, and where they were."""
    for _ in range(_READ_ATTEMPTS):
        resolved = tuple(os.path.realpath(path) for path in paths)
        try:
            data = []
            for path in resolved:
                with open(path, "rb") as pem_file:
                    data.append(pem_file.read())
        except OSError as exc:
            failed: OSError | None = exc
        else:
            failed = None
        # Unchanged links: what was read is one version (Kubernetes never
        # writes into a version's directory; it makes a new one and swaps).
        if tuple(os.path.realpath(path) for path in paths) == resolved:
            if failed is None:
                return tuple(data), os.path.dirname(resolved[1])
            field = _FIELDS[len(data)]
            raise ValueError(
                f"TLSFiles.{field}: cannot read {paths[len(data)]!r} "
                f"({failed.strerror or failed}); pass a readable file path"
            )
    raise ValueError("TLSFiles: the files kept changing while they were read")


def _validate(
    data: tuple[bytes, ...], server_name: str | None, now: datetime.datetime
) -> tuple[TLSConfig, Validity]:
    """The TLSConfig of one read, or the ValueError that says what is wrong."""
    ca, cert, key = data
    try:
        config = TLSConfig(ca_cert=ca, client_cert=cert, client_key=key, server_name=server_name)
    except ValueError as exc:
        raise ValueError(str(exc).replace("TLSConfig.", "TLSFiles.", 1)) from None
    try:
        bundle = [Validity(der) for der in pem_ders(ca)]
    except ValueError:
        bundle = []
    if not bundle:
        raise ValueError("TLSFiles.ca_cert: no CA certificate in it; pass a PEM CA bundle")
    certificate = validity(cert)
    if now < certificate.not_before:
        raise ValueError(
            f"TLSFiles.client_cert: not valid before {certificate.not_before:%Y-%m-%d %H:%M:%S} UTC"
        )
    if now >= certificate.not_after:
        raise ValueError(
            f"TLSFiles.client_cert: expired at {certificate.not_after:%Y-%m-%d %H:%M:%S} UTC"
        )
    return config, certificate


def _load(paths: tuple[str, ...], server_name: str | None, current: str | None) -> Material | None:
    """A new validated `Material`, or None if the files still hold ``current``
    (a digest)."""
    data, source = _read(paths)
    digest = hashlib.sha256(b"".join(len(d).to_bytes(8, "big") + d for d in data)).hexdigest()
    if digest == current:
        return None
    now = datetime.datetime.now(datetime.timezone.utc)
    config, certificate = _validate(data, server_name, now)
    return Material(config, digest, certificate, now, source)


class FileWatch:
    """The state of one `TLSFiles`: the material in use (``current``, with
    its generation, replaced as one tuple), when to check next, and what
    the last check found. Shared by every client given the same TLSFiles."""

    def __init__(self, paths: tuple[str, ...], server_name: str | None, every: float) -> None:
        material = _load(paths, server_name, None)
        assert material is not None
        self.paths = paths
        self.server_name = server_name
        self.every = every
        self.current: tuple[Material, int] = (material, 1)
        self.last_error: str | None = None
        self.next_check = time.monotonic() + every
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._aging_warned = ""

    @property
    def generation(self) -> int:
        return self.current[1]

    def poll(self) -> None:
        """Check if a check is due, unless another thread is checking."""
        if self._lock.acquire(blocking=False):
            try:
                if time.monotonic() >= self.next_check:
                    self._check()
            finally:
                self._lock.release()

    def check(self) -> bool:
        """Check now; whether new material was adopted."""
        with self._lock:
            return self._check()

    def _check(self) -> bool:
        self.next_check = time.monotonic() + self.every
        material, generation = self.current
        try:
            new = _load(self.paths, self.server_name, material.digest)
        except ValueError as exc:
            self._problem(str(exc))
            self._aging(material)
            return False
        if new is None:
            self.last_error = None
            self._aging(material)
            return False
        self.current = (new, generation + 1)
        self.last_error = None
        self._warned.clear()
        _telemetry.tls_rotated(
            new.certificate.fingerprint, new.certificate.not_after.isoformat(), new.source
        )
        return True

    def _problem(self, problem: str) -> None:
        self.last_error = problem
        if problem not in self._warned:
            self._warned.add(problem)
            logger.warning(
                "TLS files not adopted, the last good certificate stays in use: %s", problem
            )

    def _aging(self, material: Material) -> None:
        """One WARNING when the certificate in use is two thirds through its
        life and no newer one has appeared."""
        certificate = material.certificate
        now = datetime.datetime.now(datetime.timezone.utc)
        if (
            self._aging_warned != certificate.fingerprint
            and certificate.lifetime_used(now) >= 2 / 3
        ):
            self._aging_warned = certificate.fingerprint
            logger.warning(
                "client certificate %s… has passed two thirds of its lifetime (expires %s UTC) "
                "and no newer one has appeared in %s",
                certificate.fingerprint[:16],
                f"{certificate.not_after:%Y-%m-%d %H:%M:%S}",
                os.path.dirname(self.paths[1]),
            )

    def status(self, draining: int) -> TLSStatus:
        material = self.current[0]
        return TLSStatus(
            fingerprint=material.certificate.fingerprint,
            not_after=material.certificate.not_after,
            loaded_at=material.loaded_at,
            last_error=self.last_error,
            draining=draining,
        )


def _path(value: object, field: str) -> str:
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        path = os.fspath(value)
        if isinstance(path, str) and path and not path.lstrip().startswith("-----BEGIN"):
            return path
    raise TypeError(
        f"TLSFiles.{field}: expected a file path (str or os.PathLike), got "
        f"{'PEM data' if isinstance(value, (str, bytes)) else type(value).__name__}; "
        "for PEM held in memory use TLSConfig"
    )


class TLSFiles:
    """mTLS from files that are re-read while the client runs.

    For certificates that rotate under a running agent: Kubernetes secret
    volumes (cert-manager), SPIFFE helper files (SPIRE), Istio or Vault
    agents. Every ``check_every`` seconds, as calls are made, and on
    ``client.reload_tls()``, the three files are read from one resolved
    directory and compared by content. New material is validated first
    (PEM, key of the certificate, valid now, CA bundle not empty); if it
    fails, the last good material stays in use and a WARNING says why.
    Adopted material goes to a new channel that new calls use at once;
    calls in flight finish on the old one, which is closed when they end.

    Args:
        ca_cert: path of the PEM CA bundle that verifies the gateway.
        client_cert: path of the PEM client certificate (and its chain).
        client_key: path of its unencrypted PEM private key.
        server_name: the host name the gateway's certificate is checked
            against, instead of the target's.
        check_every: seconds between checks (30 by default).

    Raises:
        ValueError: the files are unreadable or invalid now (as TLSConfig
            says), or ``check_every`` is not a positive number.
        TypeError: a path is not a str or os.PathLike.
    """

    __slots__ = ("_watch",)

    def __init__(
        self,
        *,
        ca_cert: str | os.PathLike[str],
        client_cert: str | os.PathLike[str],
        client_key: str | os.PathLike[str],
        server_name: str | None = None,
        check_every: float = 30.0,
    ) -> None:
        paths = tuple(
            _path(value, field)
            for value, field in zip((ca_cert, client_cert, client_key), _FIELDS, strict=True)
        )
        if (
            isinstance(check_every, bool)
            or not isinstance(check_every, (int, float))
            or not check_every > 0
        ):
            raise ValueError(
                f"TLSFiles.check_every: must be a positive number of seconds, got {check_every!r}"
            )
        self._watch = FileWatch(paths, server_name, float(check_every))

    @property
    def ca_cert(self) -> str:
        """Path of the CA bundle."""
        return self._watch.paths[0]

    @property
    def client_cert(self) -> str:
        """Path of the client certificate."""
        return self._watch.paths[1]

    @property
    def client_key(self) -> str:
        """Path of the client key."""
        return self._watch.paths[2]

    @property
    def server_name(self) -> str | None:
        """The host name the gateway's certificate is checked against, if set."""
        return self._watch.server_name

    @property
    def check_every(self) -> float:
        """Seconds between checks."""
        return self._watch.every

    def config(self) -> TLSConfig:
        """The material in use now, as a TLSConfig (for a channel of your own).

        Returns:
            The last good material, validated.
        """
        return self._watch.current[0].config

    def __repr__(self) -> str:
        return (
            f"TLSFiles(ca_cert={self.ca_cert!r}, client_cert={self.client_cert!r}, "
            f"client_key={self.client_key!r}, server_name={self.server_name!r}, "
            f"check_every={self.check_every!r})"
        )

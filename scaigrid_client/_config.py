"""Configuration objects: TLS and retries."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import grpc

__all__ = ["Keepalive", "PEMSource", "RetryEvent", "RetryPolicy", "TLSConfig"]

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


def _check_key_pair(cert: bytes, key: bytes) -> None:
    """Raise ValueError unless ``key`` is the private key of ``cert``.

    Checked here, before anything is sent: grpc would only fail at the
    handshake, with "Failed to create security handshaker". Python's ssl reads
    PEM from files alone, so the PEM goes to memory-backed files where the
    system has them (memfd), else to a private temporary directory.
    """
    import ssl
    import tempfile

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
            fds = [os.memfd_create("scaigrid-tls"), os.memfd_create("scaigrid-tls")]
            try:
                for fd, data in zip(fds, (cert, key), strict=True):
                    os.write(fd, data)
                cert_path, key_path = (f"/proc/self/fd/{fd}" for fd in fds)
                context.load_cert_chain(cert_path, key_path, password=lambda: b"")
            finally:
                for fd in fds:
                    os.close(fd)
        else:
            with tempfile.TemporaryDirectory() as private:  # mode 0700
                cert_path = os.path.join(private, "cert.pem")
                key_path = os.path.join(private, "key.pem")
                for path, data in ((cert_path, cert), (key_path, key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as pem_file:
                        pem_file.write(data)
                context.load_cert_chain(cert_path, key_path, password=lambda: b"")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(
                "TLSConfig.client_key: the key does not belong to client_cert; "
                "pass the private key of that certificate"
            ) from None
        raise ValueError(
            f"TLSConfig.client_cert/client_key: cannot be loaded ({exc.reason or exc}); "
            "pass a PEM certificate and its unencrypted PEM private key"
        ) from None


@dataclass(frozen=True, init=False)
class TLSConfig:
    """TLS settings for a custom CA and mutual TLS.

    Every certificate and key is PEM, given as bytes or as a file path; files
    are read once, here. ``client_cert`` and ``client_key`` go together and
    turn on mTLS. ``server_name`` overrides the host name the server's
    certificate is checked against (for example when connecting by IP).
    ``TLSConfig()`` with nothing set verifies against the system roots, as
    ``tls=True`` does.

    Args:
        ca_cert: the CA bundle that signs the gateway's certificate; None:
            the system roots.
        client_cert: this client's certificate chain, for mTLS.
        client_key: its private key (never shown in ``repr()``).
        server_name: the name to check the gateway's certificate against,
            instead of the target's host.

    Raises:
        ValueError: a file cannot be read or is not PEM, only one of
            ``client_cert``/``client_key`` is given, the key does not belong
            to the certificate, or ``server_name`` is not a host name; the
            message names the argument.
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
        if self.client_cert is not None and self.client_key is not None:
            _check_key_pair(self.client_cert, self.client_key)

    def __repr__(self) -> str:
        # Certificates are public but long; the key is secret. Say what is set.
        return (
            f"TLSConfig(ca_cert={'<set>' if self.ca_cert else None}, "
            f"client_cert={'<set>' if self.client_cert else None}, "
            f"client_key={'<redacted>' if self.client_key else None}, "
            f"server_name={self.server_name!r})"
        )


@dataclass(frozen=True)
class Keepalive:
    """HTTP/2 keepalive pings, which notice a link that died silently.

    Pings go out after ``interval`` seconds without traffic on a connection
    with calls open (an event tail, say); no answer within ``timeout``
    seconds closes the connection, and resumable streams reopen on a new
    one. The default, every 5.5 minutes, is what a gRPC server accepts by
    default: it refuses pings more often than every 5 minutes and closes the
    connection of a client that sends them (GOAWAY ``too_many_pings``).
    Ping more often only where the gateway permits it; elsewhere a stream's
    ``idle_timeout=`` notices a stall sooner. ``keepalive=None`` turns pings off.

    Args:
        interval: seconds without traffic before a ping (default 330).
        timeout: seconds to wait for the ping's answer (default 20).

    Raises:
        ValueError: either is not a positive number of seconds.
    """

    interval: float = 330.0
    timeout: float = 20.0

    def __post_init__(self) -> None:
        for name in ("interval", "timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(
                    f"Keepalive.{name}: must be a positive number of seconds, got {value!r}"
                )

    def channel_options(self) -> tuple[tuple[str, int], ...]:
        """The grpc channel arguments that apply this.

        Returns:
            ``(name, value)`` pairs for ``grpc.aio.insecure_channel(options=)``
            and the like, when you build your own channel.
        """
        return (
            ("grpc.keepalive_time_ms", round(self.interval * 1000)),
            ("grpc.keepalive_timeout_ms", round(self.timeout * 1000)),
            # Keep pinging idle streams: hours-long event feeds must survive
            # idle-connection reapers, and a dead link must be noticed.
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.keepalive_permit_without_calls", 0),
        )


@dataclass(frozen=True)
class RetryEvent:
    """What ``RetryPolicy.on_retry`` sees before each retry.

    Attributes:
        method: ``Service.Method``.
        request_id: the call's ``x-request-id`` (every attempt sends it).
        attempt: the attempt that just failed, from 1.
        max_attempts: the policy's ``max_attempts``.
        status: the failed attempt's gRPC status.
        code: its ``scaigrid-error-code``, or None.
        delay: seconds until the next attempt.
    """

    method: str
    """``Service.Method``."""
    request_id: str
    attempt: int
    """The attempt that just failed, from 1."""
    max_attempts: int
    status: grpc.StatusCode
    code: str | None
    delay: float
    """Seconds until the next attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    """When and how a failed call is retried.

    Attempt *n* waits ``min(initial_backoff * multiplier ** (n - 1),
    max_backoff)``, less a random share of up to ``jitter`` of it (1.0 is
    gRPC's full jitter; the default 0.2 keeps waits long enough to outlast a
    restart), unless the server's ``grpc-retry-pushback-ms`` says
    otherwise (a negative value means do not retry). ``max_attempts`` counts
    the first attempt; the call's deadline caps every attempt and sleep.

    ``budget_max_tokens`` and ``budget_token_ratio`` are gRPC's
    retryThrottling: each failure takes a token from a per-client bucket,
    each success returns ``budget_token_ratio``, and no retry is made while
    the bucket is at or below half. ``on_retry`` is called before each retry.

    Args:
        max_attempts: attempts in all, the first included (1 turns retries
            off); default 5.
        initial_backoff: seconds before the first retry; default 0.5.
        max_backoff: the longest wait, in seconds; default 5.
        multiplier: how much each wait grows, at least 1; default 2.
        jitter: the share of a wait taken off at random, 0 to 1; default 0.2.
        retry_on: the statuses to retry (``grpc.StatusCode``, not OK);
            default UNAVAILABLE only. Failures that cannot heal by waiting
            (a TLS mismatch, an unknown host) are never retried.
        on_retry: called with a `RetryEvent` before each retry (logging,
            metrics); an exception it raises ends the call with it.
        budget_max_tokens: the retry budget's size, in (0, 1000]; default 100.
        budget_token_ratio: what a success returns to the budget, above 0;
            default 0.1.

    Raises:
        ValueError: a value is out of its range; the message names it.
    """

    # The defaults wait about 0.5, 1, 2 and 4 seconds (less up to 20%), so a
    # call rides out a gateway restart of several seconds.
    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retry_on: Collection[grpc.StatusCode] = frozenset({grpc.StatusCode.UNAVAILABLE})
    """Statuses to retry; any collection, stored as a frozenset."""
    on_retry: Callable[[RetryEvent], object] | None = field(default=None, compare=False)
    budget_max_tokens: float = 100.0
    budget_token_ratio: float = 0.1

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ValueError:
            return ValueError(f"RetryPolicy.{name}: {rule}, got {getattr(self, name)!r}")

        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise bad("max_attempts", "must be an int of at least 1 (1 turns retries off)")
        if self.initial_backoff < 0:
            raise bad("initial_backoff", "must be at least 0 seconds")
        if self.max_backoff < self.initial_backoff:
            raise bad("max_backoff", "must be at least initial_backoff")
        if self.multiplier < 1:
            raise bad("multiplier", "must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise bad("jitter", "must be between 0 and 1")
        if not 0 < self.budget_max_tokens <= 1000:
            raise bad("budget_max_tokens", "must be in (0, 1000], as in gRPC's retryThrottling")
        if self.budget_token_ratio <= 0:
            raise bad("budget_token_ratio", "must be above 0")
        retry_on: Iterable[object] = self.retry_on
        statuses = frozenset(retry_on)
        if not all(isinstance(s, grpc.StatusCode) for s in statuses):
            raise bad("retry_on", "must hold grpc.StatusCode values")
        if grpc.StatusCode.OK in statuses:
            raise bad("retry_on", "cannot hold OK")
        object.__setattr__(self, "retry_on", statuses)

    def backoff(self, attempt: int, rand: float) -> float:
        """The wait after a failed attempt, before pushback and the deadline.

        Args:
            attempt: the attempt that failed, from 1.
            rand: a random number in [0, 1), the jitter's share.

        Returns:
            Seconds to wait.
        """
        ceiling = min(self.initial_backoff * self.multiplier ** (attempt - 1), self.max_backoff)
        return ceiling * (1.0 - self.jitter * rand)

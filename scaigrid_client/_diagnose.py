"""Why a connection closed before the first call: a probe of the gateway.

grpc reports a plaintext client talking to a TLS gateway, and a TLS client
that a mutual-TLS gateway turns away, as "Socket closed": the same words as
a gateway that went away. Both fail the same way forever, so retrying them
only hides the cause. When a client that has never reached its gateway sees
that, one short probe asks the gateway what it speaks:

- the client is plaintext, and a TLS handshake succeeds: ``tls_required``;
- the client uses TLS, the handshake succeeds, and the gateway closes the
  connection instead of greeting HTTP/2 when no client certificate is sent:
  ``client_cert_required``, or ``client_cert_rejected`` if the client had
  sent one (``client_cert_expired`` when its dates say it is not valid now).

Anything else (refused, reset, a greeting) proves nothing, and the failure
stays an ordinary, retryable UNAVAILABLE. The probe verifies nothing and
sends nothing but TLS and the HTTP/2 preface: it never carries the token.
"""

from __future__ import annotations

import datetime
import socket
import ssl

from scaigrid_client._channel import tcp_addresses
from scaigrid_client._config import TLSConfig

__all__ = ["probe_address", "probe_setup_failure"]

# The client's HTTP/2 connection preface and an empty SETTINGS frame: a
# gateway that accepted the connection answers with its own SETTINGS.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# What a server's alert looks like when it wants a certificate (TLS 1.3, 1.2).
_CERT_ALERTS = ("CERTIFICATE_REQUIRED", "ALERT_HANDSHAKE_FAILURE", "PEER_DID_NOT_RETURN")

Address = tuple[str, str, int]
"""("tcp", host, port) or ("unix", path, 0)."""


def probe_address(target: str) -> Address | None:
    """Where to probe for a normalized target; None for forms not probed
    (several addresses, abstract sockets, vsock)."""
    if target.startswith("unix:"):
        path = target[len("unix:") :]
        if path.startswith("//"):
            path = path[2:]
        return ("unix", path, 0) if path else None
    rest = tcp_addresses(target)
    if rest is None or "," in rest:
        return None
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return ("tcp", host.strip("[]"), int(port))


def _context() -> ssl.SSLContext:
    # No verification: the probe asks only whether the gateway speaks TLS
    # and what it does without a client certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


def _connect(address: Address, timeout: float) -> socket.socket:
    kind, where, port = address
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(where)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((where, port), timeout=timeout)


def _probe(address: Address, tls: bool | TLSConfig, timeout: float) -> str | None:
    server_name = tls.server_name if isinstance(tls, TLSConfig) else None
    if server_name is None:
        server_name = "localhost" if address[0] == "unix" else address[1]
    try:
        raw = _connect(address, timeout)
    except OSError:
        return None
    with raw:
        try:
            conn = _context().wrap_socket(raw, server_hostname=server_name)
        except ssl.SSLError as exc:
            if tls is not False and any(alert in str(exc) for alert in _CERT_ALERTS):
                return _cert_reason(tls)
            return None
        except OSError:
            return None
        with conn:
            if tls is False:
                return "tls_required"  # the handshake succeeded: the gateway speaks TLS
            try:
                conn.sendall(_H2_PREFACE)
                greeting = conn.recv(9)
            except ssl.SSLError as exc:
                return _cert_reason(tls) if any(a in str(exc) for a in _CERT_ALERTS) else None
            except OSError:
                return None
            return None if greeting else _cert_reason(tls)


def _cert_reason(tls: bool | TLSConfig) -> str:
    if not isinstance(tls, TLSConfig) or tls.client_cert is None:
        return "client_cert_required"
    # The gateway rejects an expired certificate as it does an untrusted
    # one (the connection is closed either way): the dates tell them apart.
    from scaigrid_client import _x509

    try:
        dates = _x509.validity(tls.client_cert)
    except ValueError:
        return "client_cert_rejected"
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        "client_cert_rejected"
        if dates.not_before <= now <= dates.not_after
        else "client_cert_expired"
    )


def probe_setup_failure(target: str, tls: bool | TLSConfig, timeout: float) -> str | None:
    """The TLS failure reason the gateway's behaviour proves, or None.

    Blocking, with sockets of its own and ``timeout`` on each step: the sync
    clients call it directly, the async ones in a worker thread.
    """
    address = probe_address(target)
    if address is None or timeout <= 0:
        return None
    try:
        return _probe(address, tls, timeout)
    except (OSError, ValueError):
        return None

"""Where the fake listens: host and port checks, unix sockets, and bind errors
that say what went wrong instead of grpc's ``Failed to bind``."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import socket
import stat
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["ListenAddress", "bind_error", "check_before_bind"]

ACCEPTED_HOSTS = (
    "an IP address, a host name, 'unix:PATH', 'unix:///ABSOLUTE/PATH' or 'unix-abstract:NAME'"
)
# As the client's target parser: a name the resolver is then asked about.
_HOST_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
# sun_path holds 108 bytes on Linux, 104 on macOS, including the final NUL.
_MAX_UNIX_PATH = 103 if sys.platform == "darwin" else 107


@dataclass(frozen=True)
class ListenAddress:
    """A validated ``host``/``port`` pair of FakeScaiGrid."""

    host: str
    """As given: what ``target`` reports for a unix socket."""
    port: int
    unix: bool = False
    unix_path: str | None = None
    """The socket file of a ``unix:`` host (None for TCP and unix-abstract)."""
    ip_host: str | None = None
    """The TCP host without brackets, as the OS resolves it."""

    @classmethod
    def parse(cls, host: object, port: object) -> ListenAddress:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port: must be an int from 0 to 65535 (0: a free port), got {port!r}")
        if (
            not isinstance(host, str)
            or not host
            or any(c.isspace() or not c.isprintable() for c in host)
        ):
            raise ValueError(f"host: {host!r} is not an address; use {ACCEPTED_HOSTS}")
        if host.startswith("unix-abstract:"):
            if not host[len("unix-abstract:") :]:
                raise ValueError(f"host: {host!r} names no socket; use 'unix-abstract:NAME'")
            return cls(host, port, unix=True)
        if host.startswith("unix:"):
            rest = host[len("unix:") :]
            if rest.startswith("//"):
                # unix:///abs/path; an authority (unix://host/path) is not a thing.
                path = rest[2:]
                if not path.startswith("/") or path == "/":
                    raise ValueError(
                        f"host: {host!r} is not a unix socket; use 'unix:///ABSOLUTE/PATH'"
                    )
            else:
                path = rest
            if not path:
                raise ValueError(f"host: {host!r} names no socket file; use 'unix:PATH'")
            return cls(host, port, unix=True, unix_path=path)
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(bare)
            return cls(host, port, ip_host=bare)
        if host != bare or not _HOST_NAME.match(host):
            raise ValueError(f"host: {host!r} is not one of {ACCEPTED_HOSTS}")
        return cls(host, port, ip_host=host)

    @property
    def bind(self) -> str:
        """The address handed to grpc's ``add_*_port``."""
        if self.unix:
            return self.host
        assert self.ip_host is not None
        host = f"[{self.ip_host}]" if ":" in self.ip_host else self.ip_host
        return f"{host}:{self.port}"

    def target(self, bound_port: int) -> str:
        """Where a client connects once the server listens on ``bound_port``."""
        if self.unix:
            return self.host
        assert self.ip_host is not None
        host = self.ip_host
        if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard is reached over loopback
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{bound_port}"


def check_before_bind(address: ListenAddress) -> None:
    """Refuse an address that is in use before grpc tries it (and logs its
    own error line), and remove a stale socket file."""
    if address.unix_path is not None:
        _prepare_socket_file(address, address.unix_path)
    elif address.unix or address.port:
        cause = _probe(address)
        if cause is not None and cause.errno == errno.EADDRINUSE:
            raise _explain(address, cause)


def _prepare_socket_file(address: ListenAddress, path: str) -> None:
    """grpc-core unlinks whatever socket is at the path, even one another
    server is listening on; so a live socket is refused here, a dead one (left
    by a killed run) is removed, and a file that is not a socket is never
    touched."""
    where = f"cannot listen on {address.host}"
    if len(os.fsencode(path)) > _MAX_UNIX_PATH:
        raise OSError(
            errno.ENAMETOOLONG,
            f"{where}: a unix socket path is limited to {_MAX_UNIX_PATH} bytes; use a shorter one",
        )
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise OSError(errno.ENOENT, f"{where}: the directory {parent!r} does not exist")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(
            errno.EEXIST,
            f"{where}: {path!r} exists and is not a socket; remove it or choose another path",
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        # Nobody listens: a socket file left by a run that was killed.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError:
        return  # cannot tell (e.g. no permission): let the bind decide
    finally:
        probe.close()
    raise OSError(
        errno.EADDRINUSE,
        f"{where}: another server is listening on that socket; stop it or choose another path",
    )


def bind_error(address: ListenAddress) -> OSError:
    """Why grpc could not listen on ``address``, found by binding a plain socket."""
    cause = _probe(address)
    if cause is None:
        return OSError(
            f"cannot listen on {address.bind}: grpc could not bind it "
            "(set GRPC_VERBOSITY=debug to see grpc's reason)"
        )
    return _explain(address, cause)


def _explain(address: ListenAddress, cause: OSError) -> OSError:
    where = f"cannot listen on {address.bind}"
    if isinstance(cause, socket.gaierror):
        return OSError(
            errno.EADDRNOTAVAIL, f"{where}: the host name {address.host!r} does not resolve"
        )
    if cause.errno == errno.EADDRINUSE:
        fix = (
            "the name is in use; choose another"
            if address.unix
            else "the port is in use; pass port=0 for a free one"
        )
        return OSError(errno.EADDRINUSE, f"{where}: {fix}")
    if cause.errno == errno.EADDRNOTAVAIL:
        return OSError(
            errno.EADDRNOTAVAIL,
            f"{where}: {address.host!r} is not an address of this machine; "
            "use 127.0.0.1, or 0.0.0.0 for every interface",
        )
    if cause.errno in (errno.EACCES, errno.EPERM):
        hint = (
            "ports below 1024 need privileges; pass port=0 for a free one"
            if not address.unix and 0 < address.port < 1024
            else "permission denied"
        )
        return OSError(cause.errno, f"{where}: {hint}")
    return OSError(cause.errno, f"{where}: {cause.strerror or cause}")


def _probe(address: ListenAddress) -> OSError | None:
    """The error a plain bind to ``address`` raises (EADDRINUSE first, when
    one of a name's addresses gives it), or None if it binds."""
    if address.unix:
        if address.unix_path is not None:
            return None  # _prepare_socket_file has checked the file already
        name = "\0" + address.host[len("unix-abstract:") :]
        candidates: list[tuple[int, Any]] = [(socket.AF_UNIX, name)]
    else:
        try:
            infos = socket.getaddrinfo(
                address.ip_host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except socket.gaierror as exc:
            return exc
        candidates = [(info[0], info[4]) for info in infos]
    failures: list[OSError] = []
    for family, sockaddr in candidates:
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family != socket.AF_UNIX:
                # As grpc does, so that connections in TIME_WAIT do not count.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
        except OSError as exc:
            failures.append(exc)
        finally:
            probe.close()
    in_use = [f for f in failures if f.errno == errno.EADDRINUSE]
    return (in_use or failures)[0] if failures else None

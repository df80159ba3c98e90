"""Fork accounting, and the registry of live transports.

grpc cannot be used in a process forked from one that had channels open: the
child's grpc waits forever for threads that did not survive the fork. A child
of a parent that had none open works. So the open channels are counted, and
a child forked while any was open refuses every call at once, saying why.

The registry of live transports serves the fork hook (a child stops using
the parent's channels) and telemetry's budget gauge.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

import grpc

from scaigrid_client import errors

__all__ = [
    "channel_closed",
    "channel_opened",
    "check_not_forked",
    "live_transports",
    "register_transport",
]


class LiveTransport(Protocol):
    """What the registry needs of a transport."""

    target: str

    def forget_channels(self) -> object: ...

    def budget_tokens(self) -> float: ...

    def tls_expires_in(self) -> float | None: ...


_open_channels = 0
_ever_opened = False
_used_at_fork = False
# grpcio 1.85 and newer can start afresh in a child whose parent closed its
# channels before forking; older ones sometimes hang there (measured on 1.70).
_FRESH_CHILD_OK = tuple(int(part) for part in grpc.__version__.split(".")[:2]) >= (1, 85)
_open_lock = threading.Lock()
_forked_from: int | None = None  # the parent's pid, in a child forked with channels open
_live_transports: weakref.WeakSet[LiveTransport] = weakref.WeakSet()
_open_at_fork = 0
# The parent's channels, kept from the garbage collector in a forked child:
# their finalizers would close them, and touching grpc there crashes or hangs.
_inherited: list[object] = []


def channel_opened() -> None:
    global _open_channels, _ever_opened
    with _open_lock:
        _open_channels += 1
        _ever_opened = True


def channel_closed() -> None:
    global _open_channels
    with _open_lock:
        _open_channels = max(0, _open_channels - 1)


def register_transport(transport: LiveTransport) -> None:
    _live_transports.add(transport)


def live_transports() -> list[LiveTransport]:
    """Every client transport alive in this process (for the budget gauge)."""
    return list(_live_transports)


def _before_fork() -> None:
    global _open_at_fork, _used_at_fork
    _open_at_fork = _open_channels
    _used_at_fork = _ever_opened


def _after_fork_in_child() -> None:
    global _forked_from, _open_channels, _open_lock
    _open_lock = threading.Lock()  # it may have been held by a thread that is gone
    if _open_at_fork or (_used_at_fork and not _FRESH_CHILD_OK):
        _forked_from = os.getppid()
        for transport in list(_live_transports):
            _inherited.append(transport.forget_channels())
    _open_channels = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def check_not_forked() -> None:
    """Raise ForkError in a child forked while grpc channels were open."""
    if _forked_from is not None:
        raise errors.ForkError(
            f"this process was forked from process {_forked_from} while that process had "
            "gRPC channels open (with grpcio older than 1.85: after it had used any), and "
            "gRPC cannot be used in such a child: it would hang. "
            "Create clients in the child only (gunicorn: no --preload of clients; Celery: "
            "create them in worker_process_init), close them before forking, or use the "
            "'spawn' start method (multiprocessing.get_context('spawn'))"
        )

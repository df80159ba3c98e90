"""The fake's state as data: every table the domains keep, and their rows.

Kept apart from the rules that change it (the domain modules) so that the
persistence module can write and replay all of it without importing them.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from google.protobuf import message as _message

from scaigrid_client._messages import scaicore, scaiinfer, scaimind

__all__ = ["CoreEntry", "HeartbeatRecord", "JobEntry", "Tables"]


@dataclass
class HeartbeatRecord:
    """One heartbeat as the fake received it (``fake.state.heartbeats``)."""

    request: scaiinfer.HeartbeatRequest
    """The heartbeat as sent."""
    received_at: float
    """``time.time()`` when it arrived."""
    sequence: int
    """Its number among the node's heartbeats, from 1."""


@dataclass
class JobEntry:
    job: scaimind.Job
    points: list[scaimind.StreamMetricsResponse] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass
class CoreEntry:
    instance: scaicore.CoreInstance
    events: list[scaicore.StreamEventsResponse] = field(default_factory=list)
    invocations: list[scaicore.InvokeCoreRequest] = field(default_factory=list)


@dataclass
class Tables:
    """All of the fake's mutable state."""

    models: dict[str, scaiinfer.Model] = field(default_factory=dict)
    jobs: dict[str, JobEntry] = field(default_factory=dict)
    nodes: dict[str, scaimind.Node] = field(default_factory=dict)
    node_gpus_used: dict[str, set[int]] = field(default_factory=dict)
    allocations: dict[str, scaimind.Allocation] = field(default_factory=dict)
    cores: dict[str, CoreEntry] = field(default_factory=dict)
    heartbeats: dict[str, list[HeartbeatRecord]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    # Replies of the RPCs whose request id is their idempotency key.
    replies: dict[tuple[str, str], _message.Message] = field(default_factory=dict)
    # Which history the events and metric points belong to: a gateway that
    # loses its state starts a new one, and a cursor from the old one must
    # not resume against it.
    epoch: str = field(default_factory=lambda: secrets.token_hex(8))

"""FakeState: the read-only copy of the fake's state that ``fake.state`` returns."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf import message as _message

from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client.testing._state._tables import HeartbeatRecord, Tables

__all__ = ["FakeState", "copy", "state_of"]

_T = TypeVar("_T")
_M = TypeVar("_M", bound=_message.Message)


@dataclass(frozen=True)
class FakeState:
    """A read-only snapshot of the fake's state, copied when taken
    (``fake.state``): later changes to the fake do not reach it, and
    changing its messages does not change the fake."""

    models: Mapping[str, scaiinfer.Model]
    """The models served, by id."""
    jobs: Mapping[str, scaimind.Job]
    """The training jobs, by id, as ``get_job`` answers them."""
    metrics: Mapping[str, tuple[scaimind.StreamMetricsResponse, ...]]
    """Each job's metrics points, by job id, oldest first."""
    nodes: Mapping[str, scaimind.Node]
    """The registered nodes, by id."""
    allocations: Mapping[str, scaimind.Allocation]
    """The GPU allocations not released, by id."""
    cores: Mapping[str, scaicore.CoreInstance]
    """The cores, by id."""
    events: Mapping[str, tuple[scaicore.StreamEventsResponse, ...]]
    """Each core's events, by core id, in sequence order."""
    invocations: Mapping[str, tuple[scaicore.InvokeCoreRequest, ...]]
    """Each core's ``invoke_core`` requests, by core id, oldest first."""
    heartbeats: Mapping[str, tuple[HeartbeatRecord, ...]]
    """Every heartbeat received, by node id, oldest first."""


def state_of(t: Tables) -> FakeState:
    """A copy of ``t`` that later changes to it do not reach."""
    return FakeState(
        models=_frozen({k: copy(v) for k, v in t.models.items()}),
        jobs=_frozen({k: copy(v.job) for k, v in t.jobs.items()}),
        metrics=_frozen({k: tuple(copy(p) for p in v.points) for k, v in t.jobs.items()}),
        nodes=_frozen({k: copy(v) for k, v in t.nodes.items()}),
        allocations=_frozen({k: copy(v) for k, v in t.allocations.items()}),
        cores=_frozen({k: copy(v.instance) for k, v in t.cores.items()}),
        events=_frozen({k: tuple(copy(e) for e in v.events) for k, v in t.cores.items()}),
        invocations=_frozen({k: tuple(copy(r) for r in v.invocations) for k, v in t.cores.items()}),
        heartbeats=_frozen({k: tuple(v) for k, v in t.heartbeats.items()}),
    )


def copy(msg: _M) -> _M:
    """A copy of ``msg`` that later changes to it do not reach."""
    clone = type(msg)()
    clone.CopyFrom(msg)
    return clone


def _frozen(d: dict[str, _T]) -> Mapping[str, _T]:
    return types.MappingProxyType(d)

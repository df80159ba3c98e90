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
    """A read-only snapshot of the fake's state, copied when taken."""

    models: Mapping[str, scaiinfer.Model]
    jobs: Mapping[str, scaimind.Job]
    metrics: Mapping[str, tuple[scaimind.StreamMetricsResponse, ...]]
    nodes: Mapping[str, scaimind.Node]
    allocations: Mapping[str, scaimind.Allocation]
    cores: Mapping[str, scaicore.CoreInstance]
    events: Mapping[str, tuple[scaicore.StreamEventsResponse, ...]]
    invocations: Mapping[str, tuple[scaicore.InvokeCoreRequest, ...]]
    heartbeats: Mapping[str, tuple[HeartbeatRecord, ...]]


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

"""CoreRuntimeService's domain: core instances and their event logs.

Every change of a core is an event with a per-core sequence from 1, no gaps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import grpc

from scaigrid_client._messages import scaicore
from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._names import enum_number, short_name
from scaigrid_client.testing._state._common import Ledger, now
from scaigrid_client.testing._state._persist import core_record, event_record, invocation_record
from scaigrid_client.testing._state._tables import CoreEntry

__all__ = ["CoreRuntimeDomain"]


class CoreRuntimeDomain:
    """InvokeCore, GetCore, PassivateCore, RestoreCore and StreamEvents."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.cores = ledger.tables.cores

    def core(self, core_id: str) -> CoreEntry:
        if not core_id:
            raise invalid("core_id", "is required")
        core = self.cores.get(core_id)
        if core is None:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND, "core_not_found", f"core '{core_id}' not found"
            )
        return core

    def _event(
        self,
        core: CoreEntry,
        event_type: int,
        invocation_id: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        instance = core.instance
        instance.last_sequence += 1
        instance.updated_at.CopyFrom(now())
        event = scaicore.StreamEventsResponse(
            core_id=instance.core_id,
            sequence=instance.last_sequence,
            type=event_type,  # type: ignore[arg-type]
            occurred_at=instance.updated_at,
            invocation_id=invocation_id,
            attributes={
                "state": short_name(scaicore.CoreState, instance.state),
                **(attributes or {}),
            },
            epoch=self._ledger.epoch,
        )
        self._ledger.save(core_record(instance), event_record(instance.core_id, event))
        core.events.append(event)
        self._ledger.notify()

    def invoke_core(self, request: scaicore.InvokeCoreRequest) -> scaicore.InvokeCoreResponse:
        if not request.core_id:
            raise invalid("core_id", "is required")
        core = self.cores.get(request.core_id)
        if core is None:
            core = CoreEntry(scaicore.CoreInstance(core_id=request.core_id))
            self.cores[request.core_id] = core
        instance = core.instance
        activated = instance.state != scaicore.CORE_STATE_ACTIVE
        if activated:
            instance.state = scaicore.CORE_STATE_ACTIVE
            self._event(core, scaicore.EVENT_TYPE_ACTIVATED)
        instance.invocation_count += 1
        invocation_id = self._ledger.next_id("inv")
        self._ledger.save(invocation_record(request.core_id, request))
        core.invocations.append(request)
        self._event(core, scaicore.EVENT_TYPE_INVOKED, invocation_id)
        try:
            echo: object = json.loads(request.payload) if request.payload else None
        except ValueError:
            echo = request.payload.decode("utf-8", "replace")
        output = {
            "core_id": request.core_id,
            "invocation": instance.invocation_count,
            "input_bytes": len(request.payload),
            "echo": echo,
        }
        return scaicore.InvokeCoreResponse(
            invocation_id=invocation_id,
            instance=instance,
            output=json.dumps(output, sort_keys=True).encode(),
            content_type="application/json",
            activated=activated,
        )

    def _move(
        self, core_id: str, source: int, target: int, event_type: int, refusal: str
    ) -> scaicore.CoreInstance:
        core = self.core(core_id)
        if core.instance.state != source:
            raise FakeError(
                grpc.StatusCode.FAILED_PRECONDITION, "invalid_state", f"core '{core_id}' {refusal}"
            )
        core.instance.state = target  # type: ignore[assignment]
        self._event(core, event_type)
        return core.instance

    def passivate_core(self, core_id: str) -> scaicore.CoreInstance:
        return self._move(
            core_id,
            scaicore.CORE_STATE_ACTIVE,
            scaicore.CORE_STATE_PASSIVATED,
            scaicore.EVENT_TYPE_PASSIVATED,
            "is already passivated",
        )

    def restore_core(self, core_id: str) -> scaicore.CoreInstance:
        return self._move(
            core_id,
            scaicore.CORE_STATE_PASSIVATED,
            scaicore.CORE_STATE_ACTIVE,
            scaicore.EVENT_TYPE_RESTORED,
            "is active; only a passivated core can be restored",
        )

    def emit_event(
        self, core_id: object, event_type: object, attributes: object
    ) -> scaicore.StreamEventsResponse:
        """Append an event a test chose to a core's history (FakeScaiGrid.emit_event)."""
        if not isinstance(core_id, str):
            raise TypeError(f"core_id: expected a str, got {type(core_id).__name__}")
        number = enum_number(event_type, scaicore.EventType, "type")
        if attributes is not None and (
            not isinstance(attributes, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
        ):
            raise TypeError(f"attributes: expected a mapping of str to str, got {attributes!r}")
        core = self.cores.get(core_id)
        if core is None:
            raise ValueError(
                f"core_id: no core {core_id!r}; InvokeCore creates one "
                f"(the fake has {sorted(self.cores)})"
            )
        self._event(core, number, attributes=attributes)
        return core.events[-1]

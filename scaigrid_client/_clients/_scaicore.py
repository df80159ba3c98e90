"""`CoreRuntimeClient`: the scaicore.v1 service (async source).

ScaiCore instances and their events. `tools/unasync.py` writes
`sync/_clients/_scaicore.py` from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from typing_extensions import Unpack

from scaigrid_client._clients._client import _Client
from scaigrid_client._messages import scaicore
from scaigrid_client._methods import (
    GET_CORE,
    INVOKE_CORE,
    PASSIVATE_CORE,
    RESTORE_CORE,
    STREAM_EVENTS,
    CallOptions,
    StreamOptions,
    _at_least,
    _epoch,
    _resume_events,
    _text,
)
from scaigrid_client._transport import (
    ServerStream,
)

__all__ = ["CoreRuntimeClient"]


class CoreRuntimeClient(_Client):
    """Core instances: invoke, passivate, restore, and their event feed."""

    async def invoke_core(
        self,
        core_id: str,
        *,
        payload: bytes | str | Mapping[str, Any] | None = None,
        content_type: str | None = None,
        **options: Unpack[CallOptions],
    ) -> scaicore.InvokeCoreResponse:
        """Run a core.

        Safe to retry: the request id is its idempotency key, so a retry
        never invokes twice.

        Args:
            core_id: the core instance's id.
            payload: bytes as is, a str as UTF-8, a dict as JSON; None: empty.
            content_type: the payload's type; default from the payload
                (``application/octet-stream``, ``text/plain; charset=utf-8``,
                ``application/json``).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``InvokeCoreResponse`` (``payload``, ``content_type``).

        Raises:
            errors.NotFoundError: no such core.
            errors.FailedPreconditionError: the core is not active.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: a dict payload is not JSON-serializable.
            TypeError: the payload is not bytes, str or a dict.
        """
        if payload is None:
            data, kind = b"", content_type or ""
        elif isinstance(payload, bytes):
            data, kind = payload, content_type or "application/octet-stream"
        elif isinstance(payload, str):
            data, kind = payload.encode(), content_type or "text/plain; charset=utf-8"
        elif isinstance(payload, Mapping):
            try:
                data = json.dumps(payload).encode()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"payload: not JSON-serializable ({exc})") from None
            kind = content_type or "application/json"
        else:
            raise TypeError(f"payload: expected bytes, str or a dict, got {type(payload).__name__}")
        request = scaicore.InvokeCoreRequest(
            core_id=_text(core_id, "core_id"), payload=data, content_type=kind
        )
        return await self._unary(INVOKE_CORE, request, options)

    async def get_core(self, core_id: str, **options: Unpack[CallOptions]) -> scaicore.CoreInstance:
        """A core instance's current state.

        Args:
            core_id: the core instance's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``CoreInstance``.

        Raises:
            errors.NotFoundError: no such core.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaicore.GetCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._unary(GET_CORE, request, options)).instance

    async def passivate_core(
        self, core_id: str, **options: Unpack[CallOptions]
    ) -> scaicore.CoreInstance:
        """Move an active instance to storage.

        Args:
            core_id: the core instance's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``CoreInstance``, now PASSIVATED.

        Raises:
            errors.NotFoundError: no such core.
            errors.FailedPreconditionError: it is not active.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaicore.PassivateCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._unary(PASSIVATE_CORE, request, options)).instance

    async def restore_core(
        self, core_id: str, **options: Unpack[CallOptions]
    ) -> scaicore.CoreInstance:
        """Bring a passivated instance back.

        Args:
            core_id: the core instance's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``CoreInstance``, now ACTIVE.

        Raises:
            errors.NotFoundError: no such core.
            errors.FailedPreconditionError: it is not passivated.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaicore.RestoreCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._unary(RESTORE_CORE, request, options)).instance

    def stream_events(
        self,
        core_id: str,
        *,
        after_sequence: int = 0,
        epoch: str = "",
        **options: Unpack[StreamOptions],
    ) -> ServerStream[scaicore.StreamEventsResponse]:
        """A core's events in sequence order, then live until cancelled.

        Resumes by itself after a dropped connection or a gateway restart
        from the last sequence delivered: no gap, no duplicate.

        Args:
            core_id: the core instance's id.
            after_sequence: deliver the events after this one (a saved
                cursor: the last event's ``sequence``); default 0, all.
            epoch: the saved cursor's ``epoch``; the stream fails rather than
                skip or repeat when the gateway lost or reset that history.
            **options: stream options (`types.StreamOptions`): ``timeout``,
                ``idle_timeout``, ``request_id``, ``metadata``, ``retry``.

        Returns:
            The stream's handle; iterate it for the events, close it to stop.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.HistoryResetError: while reading, when ``epoch`` is not
                the gateway's.
            errors.ScaiGridError: while reading, when the stream fails.
        """
        request = scaicore.StreamEventsRequest(
            core_id=_text(core_id, "core_id"),
            after_sequence=_at_least(after_sequence, 0, "after_sequence"),
            epoch=_epoch(epoch),
        )
        return self._stream(STREAM_EVENTS, request, options, resume=_resume_events)

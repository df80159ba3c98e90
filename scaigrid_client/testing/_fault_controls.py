"""Fault injection and inspection: what goes wrong at the fake, and what it
saw. `FaultControls` is a base of `FakeScaiGrid`; the faults themselves are
`_faults`, the journal `_calls`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import grpc

from scaigrid_client.testing._calls import Call, CallJournal
from scaigrid_client.testing._errors import FakeError
from scaigrid_client.testing._faults import Fault, Faults
from scaigrid_client.testing._names import status_code
from scaigrid_client.testing._services import check_method

if TYPE_CHECKING:
    from scaigrid_client.testing._state._backend import FakeBackend

__all__ = ["FaultControls"]

_T = TypeVar("_T")


class FaultControls:
    """`fail`, `delay`, `drop_streams` and the call journal, `calls`."""

    _faults: Faults
    _journal: CallJournal
    _backend: FakeBackend | None

    def _in_loop(self, fn: Callable[[], _T]) -> _T:
        raise NotImplementedError

    def fail(
        self,
        method: str,
        status: grpc.StatusCode | str,
        *,
        code: str | None = None,
        message: str = "injected fault",
        times: int = 1,
        after_messages: int = 0,
        after_effect: bool = False,
        pushback_ms: int | str | None = None,
    ) -> None:
        """Make the next ``times`` attempts of ``method`` fail with ``status``.

        Faults queue per method, first in first out, and are used one per
        attempt: "UNAVAILABLE twice, then OK" is deterministic. ``reset()``
        forgets them; a restart does not.

        Args:
            method: The RPC, as ``Service.Method``
                (``"InferenceService.ListModels"``).
            status: A ``grpc.StatusCode`` other than OK, or its name in any
                case (``"unavailable"``).
            code: The ``scaigrid-error-code`` trailer to send
                (``"backend_unavailable"``, ...); None (default): none.
            message: The status message.
            times: How many attempts fail, at least 1 (default 1).
            after_messages: Fail a server stream after this many response
                messages, at least 0 (default 0: before any response
                headers, Trailers-Only, so the client may retry).
            after_effect: Apply the call's side effect first (the job is
                submitted, then the call fails). Default False.
            pushback_ms: Sent as the ``grpc-retry-pushback-ms`` trailer (a
                string as is, to test malformed values); None (default): not sent.

        Raises:
            ValueError: ``method`` is not a method the fake serves (the
                message lists them), ``status`` is not a status other than
                OK, ``times`` is below 1 or ``after_messages`` below 0.
        """
        fault = Fault(status_code(status), code, message, after_messages, after_effect, pushback_ms)
        self._faults.fail(method, fault, times=times)

    def delay(self, method: str, *, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` attempts of ``method`` for ``seconds`` first.

        Delays queue per method, like faults, and come before an attempt's
        fault; a client deadline shorter than the delay fails the call
        DEADLINE_EXCEEDED.

        Args:
            method: The RPC, as ``Service.Method``.
            seconds: How long to hold each attempt, at least 0.
            times: How many attempts to hold, at least 1 (default 1).

        Raises:
            ValueError: ``method`` is not a method the fake serves,
                ``seconds`` is negative or ``times`` below 1.
        """
        self._faults.delay(method, seconds=seconds, times=times)

    def calls(self, method: str | None = None) -> list[Call]:
        """The call journal: every attempt the fake saw, oldest first.

        Args:
            method: Only the attempts of this RPC, as ``Service.Method``;
                None (default): of every method.

        Returns:
            A new list of the `Call` records (they are live: an open call's
            record changes as it goes on). With ``max_calls``, only the newest.

        Raises:
            ValueError: ``method`` is not a method the fake serves.
        """
        if method is not None:
            check_method(method)
        return self._journal.calls(method)

    def drop_streams(
        self,
        status: grpc.StatusCode | str = grpc.StatusCode.UNAVAILABLE,
        *,
        code: str = "service_draining",
        message: str = "stream dropped: gateway restarting",
    ) -> int:
        """End every open server stream with ``status``, as a gateway restart
        would. The server keeps running; clients may reconnect at once.

        Args:
            status: A ``grpc.StatusCode`` other than OK, or its name in any
                case (default UNAVAILABLE).
            code: The ``scaigrid-error-code`` trailer sent.
            message: The status message.

        Returns:
            How many streams were dropped.

        Raises:
            ValueError: ``status`` is not a status other than OK.
        """
        error = FakeError(status_code(status), code, message)
        return self._in_loop(lambda: self._drop_all(error))

    def _drop_all(self, error: FakeError) -> int:
        dropped = self._faults.drop_streams(error)
        if self._backend is not None:
            self._backend.notify()  # wakes the streams waiting for a change
        return dropped

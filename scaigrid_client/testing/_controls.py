"""What a test scripts the fake with, beyond faults: replies, jobs, events
and tokens. `FakeControls` is a base of `FakeScaiGrid`; each method checks
its arguments first (a ValueError or TypeError naming the argument), and
those that touch the state run on the fake's loop (`issue_token` needs no
running fake)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client.testing._auth import Tokens
from scaigrid_client.testing._scripts import ReplyCondition, ReplyScripts
from scaigrid_client.testing._state._inference import MODELS
from scaigrid_client.testing._state_view import copy as _copy
from scaigrid_client.types import EventTypeArg, JobStateArg

if TYPE_CHECKING:
    from scaigrid_client.testing._state._backend import FakeBackend

__all__ = ["FakeControls"]

_T = TypeVar("_T")
_CHAT_MODELS = tuple(m.id for m in MODELS if scaiinfer.CAPABILITY_CHAT in m.capabilities)


class FakeControls:
    """Scripting the fake: `script_reply`, `step_job`, `finish_job`,
    `emit_event`, `issue_token` and `revoke_token`."""

    _scripts: ReplyScripts
    _tokens: Tokens

    def _in_loop(self, fn: Callable[[], _T]) -> _T:
        raise NotImplementedError

    @property
    def _domain(self) -> FakeBackend:
        raise NotImplementedError

    def script_reply(
        self,
        text: str,
        *,
        model: str | None = None,
        when: ReplyCondition = None,
        times: int | None = None,
    ) -> None:
        """Make chat calls (``StreamInference`` and ``Infer``) answer ``text``.

        The reply is streamed token by token as the generated one is (a token
        is a word with the spaces before it), and ``max_tokens``, ``stop``,
        ``finish_reason`` and ``usage`` behave as for generated text: more
        tokens than ``max_tokens`` are cut, with finish reason ``LENGTH``.
        Scripts are matched newest first; calls no script matches keep the
        fake's deterministic text. ``reset()`` forgets them; a restart does not.

        Args:
            text: The reply.
            model: Only calls to this chat model (None: any model).
            when: Only calls whose last user message contains this string, or
                for which this callable, given the messages as a list of
                ``{"role", "content", "name"}`` dicts, returns true (None: any call).
            times: How many calls the script answers before it is forgotten
                (None: no limit).

        Raises:
            TypeError: ``text`` is not a str, ``model`` not a str, or ``when``
                neither a str nor a callable.
            ValueError: ``model`` is not one of the fake's chat models, or
                ``times`` is not a positive int.
        """
        self._in_loop(lambda: self._scripts.add(text, model, when, times, _CHAT_MODELS))

    def step_job(
        self, job_id: str, steps: int = 1, metrics: Mapping[str, float] | None = None
    ) -> scaimind.Job:
        """Advance a training job by ``steps`` steps, now.

        A queued job starts running first. Each step records a metrics point
        (what ``stream_metrics`` yields), with the fake's values for ``loss``,
        ``learning_rate`` and ``tokens_per_second`` unless ``metrics`` gives
        others; the job's last step makes it ``SUCCEEDED``. Meant for
        ``FakeScaiGrid(step_interval=None)``, where jobs move only when told;
        with a step interval it steps the job between its own steps.

        Args:
            job_id: The job, as ``submit_job`` returned it.
            steps: How many steps to record, at least 1 and at most the job's
                steps left.
            metrics: Values for these steps' points, replacing the fake's of
                the same name and adding the others.

        Returns:
            A copy of the job after the steps.

        Raises:
            ValueError: ``job_id`` names no job or a finished one, or ``steps``
                is not a positive int or more than the steps left.
            TypeError: ``job_id`` is not a str, or ``metrics`` not a mapping of
                str to numbers.
            RuntimeError: The fake is not running.
        """
        return _copy(
            self._in_loop(lambda: self._domain.coordinator.step_job(job_id, steps, metrics))
        )

    def finish_job(
        self, job_id: str, state: JobStateArg = "failed", error: str | None = None
    ) -> scaimind.Job:
        """End a training job now, in a terminal state.

        ``get_job`` then answers that state (and ``error_message`` for a failed
        job), and every ``stream_metrics`` of the job ends after the points
        recorded so far, as the gateway ends it for a job that failed or was
        cancelled (no point is added).

        Args:
            job_id: The job, as ``submit_job`` returned it.
            state: ``"succeeded"``, ``"failed"`` or ``"cancelled"``, in any
                case, or the full name (``"JOB_STATE_FAILED"``) or number.
            error: The failed job's ``error_message`` (default ``"job failed"``).

        Returns:
            A copy of the finished job.

        Raises:
            ValueError: ``job_id`` names no job or a finished one, ``state``
                is not a terminal state, or ``error`` is given for a state
                other than failed.
            TypeError: ``job_id`` or ``error`` is not a str.
            RuntimeError: The fake is not running.
        """
        return _copy(
            self._in_loop(lambda: self._domain.coordinator.finish_job(job_id, state, error))
        )

    def emit_event(
        self, core_id: str, type: EventTypeArg, attributes: Mapping[str, str] | None = None
    ) -> scaicore.StreamEventsResponse:
        """Append an event to a core's history, as if the core had emitted it.

        It gets the core's next sequence and the current epoch, and is
        delivered to every live ``stream_events`` tail of the core and to
        every resume after it, like the events the fake makes itself. Its
        attributes are ``{"state": <the core's state, short name>}`` updated
        with ``attributes``. The core's state does not change.

        Args:
            core_id: A core the fake knows (``invoke_core`` creates one).
            type: The event type: ``"activated"``, ``"invoked"``,
                ``"passivated"`` or ``"restored"`` in any case, the full name
                (``"EVENT_TYPE_INVOKED"``) or the number.
            attributes: The event's attributes, str to str.

        Returns:
            A copy of the event.

        Raises:
            ValueError: ``core_id`` names no core, or ``type`` is no event type.
            TypeError: ``core_id`` is not a str, or ``attributes`` not a
                mapping of str to str.
            RuntimeError: The fake is not running.
        """
        return _copy(
            self._in_loop(lambda: self._domain.core_runtime.emit_event(core_id, type, attributes))
        )

    def revoke_token(self, token: str) -> None:
        """Revoke a service token: later calls with it fail.

        They are answered UNAUTHENTICATED with ``scaigrid-error-code``
        ``invalid_token`` (``errors.AuthenticationError``), as the gateway
        answers a token ScaiKey revoked; calls already running go on. Any
        token the fake accepts may be revoked, its own ``token`` too;
        ``reset()`` makes that one valid again.

        Args:
            token: The token, as ``issue_token`` returned it, or ``fake.token``.

        Raises:
            ValueError: The fake does not accept ``token`` (never issued, or
                already revoked).
            TypeError: ``token`` is not a str.
        """
        self._in_loop(lambda: self._tokens.revoke(token))

    def issue_token(
        self,
        *,
        scopes: Iterable[str] = ("scaiinfer", "scaimind", "scaicore"),
        expires_in: float | None = None,
    ) -> str:
        """Mint a service token the fake accepts, as ScaiKey issues them.

        A call with it to a service outside ``scopes`` fails PERMISSION_DENIED
        ``permission_denied``; after it expires, UNAUTHENTICATED
        ``token_expired``. ``reset()`` and ``restart(keep_state=False)``
        forget it. It needs no running fake.

        Args:
            scopes: The services it may call: any of ``"scaiinfer"``,
                ``"scaimind"`` and ``"scaicore"`` (default all three).
            expires_in: Seconds until it expires (0 or less: already
                expired); None (default): never.

        Returns:
            The token (``sgst_...``), for ``token=`` of a client.

        Raises:
            ValueError: ``scopes`` names an unknown scope.
        """
        return self._tokens.issue(scopes, expires_in)

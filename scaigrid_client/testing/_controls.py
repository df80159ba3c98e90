"""What a test scripts the fake with, beyond faults: replies, jobs, events
and tokens. `FakeControls` is a base of `FakeScaiGrid`; each method runs on
the fake's loop and checks its arguments first (a ValueError or TypeError
naming the argument)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from scaigrid_client._messages import scaiinfer
from scaigrid_client.testing._auth import Tokens
from scaigrid_client.testing._scripts import ReplyCondition, ReplyScripts
from scaigrid_client.testing._state._inference import MODELS

if TYPE_CHECKING:
    from scaigrid_client.testing._state._backend import FakeBackend

__all__ = ["FakeControls"]

_T = TypeVar("_T")
_CHAT_MODELS = tuple(m.id for m in MODELS if scaiinfer.CAPABILITY_CHAT in m.capabilities)


class FakeControls:
    """Scripting the fake: `script_reply`, `step_job`, `finish_job`,
    `emit_event` and `revoke_token`."""

    _scripts: ReplyScripts
    _tokens: Tokens

    def _in_loop(self, fn: Callable[[], _T]) -> _T:
        raise NotImplementedError

    @property
    def backend(self) -> FakeBackend:
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

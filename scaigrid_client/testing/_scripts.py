"""Scripted chat replies: `FakeScaiGrid.script_reply`.

A script gives its text to the chat calls (StreamInference and Infer) it
matches: by model, and by the last user message (a substring of it, or a
predicate over the whole conversation). Scripts are tried newest first; a
script with a ``times`` limit is forgotten once used up. Unmatched calls
keep the fake's deterministic text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, Union

import grpc

from scaigrid_client._messages import scaiinfer
from scaigrid_client.testing._errors import FakeError

__all__ = ["ReplyCondition", "ReplyScripts", "split_tokens"]

ReplyCondition: TypeAlias = Union[str, Callable[[list[dict[str, str]]], bool], None]  # noqa: UP007 - evaluated at run time on 3.10
"""What a script matches: a substring of the last user message, or a
predicate over the messages (each ``{"role", "content", "name"}``)."""

# A token is a run of non-space characters with the spaces before it, as
# the fake's generated tokens are (" word"); trailing spaces stay on the last.
_TOKEN = re.compile(r"\s*\S+\s*$|\s*\S+|\s+$")


def split_tokens(text: str) -> list[str]:
    """``text`` as the tokens a reply streams; they join back to ``text``."""
    return _TOKEN.findall(text)


@dataclass
class _Script:
    text: str
    model: str | None
    when: ReplyCondition
    times: int | None


class ReplyScripts:
    """The scripted replies of one fake, newest last."""

    def __init__(self) -> None:
        self._scripts: list[_Script] = []

    def add(
        self,
        text: str,
        model: str | None,
        when: ReplyCondition,
        times: int | None,
        models: Sequence[str],
    ) -> None:
        """Check the arguments (``models``: the chat models) and add the script."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        if model is not None:
            if not isinstance(model, str):
                raise TypeError(f"model: expected a str or None, got {type(model).__name__}")
            if model not in models:
                raise ValueError(f"model: {model!r} is not a chat model; use one of {list(models)}")
        if when is not None and not isinstance(when, str) and not callable(when):
            raise TypeError(
                "when: expected a str (part of the last user message), a callable taking "
                f"the messages and returning a bool, or None; got {type(when).__name__}"
            )
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ValueError(
                f"times: must be None (no limit) or an int of at least 1, got {times!r}"
            )
        self._scripts.append(_Script(text, model, when, times))

    def match(self, model: str, messages: Sequence[scaiinfer.ChatMessage]) -> str | None:
        """The text of the newest script matching this call (using it once), or None."""
        for script in reversed(self._scripts):
            if script.model is not None and script.model != model:
                continue
            if not _matches(script.when, messages):
                continue
            if script.times is not None:
                script.times -= 1
                if script.times == 0:
                    self._scripts.remove(script)
            return script.text
        return None

    def clear(self) -> None:
        self._scripts.clear()


def _matches(when: ReplyCondition, messages: Sequence[scaiinfer.ChatMessage]) -> bool:
    if when is None:
        return True
    if isinstance(when, str):
        last = next((m.content for m in reversed(messages) if m.role == "user"), None)
        return last is not None and when in last
    conversation = [{"role": m.role, "content": m.content, "name": m.name} for m in messages]
    try:
        return bool(when(conversation))
    except Exception as exc:  # the test's predicate: say so, not UNKNOWN
        raise FakeError(
            grpc.StatusCode.INTERNAL,
            "internal_error",
            f"script_reply: the when= predicate raised {type(exc).__name__}: {exc}",
        ) from exc

"""What a server stream is in both flavours: its state across attempts
(`StreamFlowBase`) and what the caller's handle offers (`ServerStreamBase`).
The loop that reads a stream is in `_call_loop.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic

from scaigrid_client import errors
from scaigrid_client._call import CallState, Req, Resp
from scaigrid_client._retry import lost_link

__all__ = ["ServerStreamBase", "StreamFlowBase"]

# An attempt of a resumable stream that stayed open this long had a working
# link: its failure starts a new episode rather than counting as a retry.
_ESTABLISHED_AFTER = 1.0


class StreamFlowBase(Generic[Req, Resp]):
    """The state of one server stream across its attempts, whatever the
    flavour; each flavour's subclass adds the generator that reads it.

    Kept apart from the ServerStream the caller holds, so that the generator
    never refers back to it: dropping either never leaves a cycle, and a
    generator abandoned by ``break`` is closed (and its call cancelled) at
    once.
    """

    __slots__ = (
        "call",
        "delivered",
        "done",
        "finished",
        "idle_timeout",
        "last",
        "opened",
        "request",
        "resume",
        "state",
        "transport",
    )

    def __init__(
        self,
        transport: Any,
        state: CallState,
        request: Req,
        resume: Callable[[Req, Resp], Req] | None,
        idle_timeout: float | None,
    ) -> None:
        self.transport = transport
        self.state = state
        self.request = request
        self.resume = resume
        self.idle_timeout = idle_timeout
        self.call: Any = None
        self.finished: Any = None  # the call that ended the stream normally
        self.last: Resp | None = None
        self.delivered = False
        self.done = False
        self.opened = 0.0  # when the current attempt started (monotonic)

    def cancel(self) -> None:
        self.done = True
        call, self.call = self.call, None
        if call is not None:
            call.cancel()

    def cancelled(self) -> bool:
        """Whether cancel() was called (from any task or thread)."""
        return self.done

    def next_request(self) -> Req:
        """The request of the next attempt: after the last message delivered."""
        if self.last is not None and self.resume is not None:
            return self.resume(self.request, self.last)
        return self.request

    def on_progress(self) -> None:
        """The first message of an attempt: the call is healthy again."""
        state = self.state
        if not self.delivered or state.attempt > 1:
            self.transport.record_success()
            state.attempt = 1  # progress: the attempt count starts over
        self.delivered = True

    def after_error(self, error: errors.ScaiGridError, progressed: bool) -> tuple[float, bool]:
        """``(delay, resume)`` before the next attempt (announced), or raise.

        A resumable stream whose link broke resumes (``resume`` True: the
        caller waits for the channel before reopening). Any other stream is
        retried like a unary call until its first message.
        """
        self.call = None
        transport, state = self.transport, self.state
        if transport.closed:
            raise transport.closed_error(state)
        resume = self.resume is not None and lost_link(error)
        if resume:
            # The link had worked if it delivered, or stayed up for a while
            # (a stall past the idle timeout included): a new episode.
            established = (
                progressed
                or isinstance(error, errors.StreamIdleTimeoutError)
                or time.monotonic() - self.opened >= _ESTABLISHED_AFTER
            )
            delay = transport.retrier.resume_delay(state, error, established)
        else:
            if self.delivered or isinstance(error, errors.StreamIdleTimeoutError):
                raise error
            retry_delay = transport.retry_delay(state, error)
            if retry_delay is None:
                raise error
            delay = retry_delay
        transport.retrier.announce(state, error, delay, resume=resume)
        return delay, resume


class ServerStreamBase(Generic[Resp]):
    """What a server stream offers in both flavours; ``Resp`` is the type
    of its messages."""

    __slots__ = ("_flow", "_messages")

    _flow: StreamFlowBase[Any, Resp]

    @property
    def request_id(self) -> str:
        return self._flow.state.request_id

    def cancel(self) -> None:
        """Cancel the call; iteration then ends (safe from another task or thread)."""
        self._flow.cancel()

    @property
    def attempts(self) -> int:
        """Attempts made since the last message delivered (1 while all is well)."""
        return self._flow.state.attempt

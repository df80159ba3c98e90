"""The retry policy at work: which failures are retried or resumed, how long
to wait, and the retry budget (gRPC's retryThrottling).

`Retrier` holds a client's `RetryPolicy` and budget and answers, for a call's
state and its latest failure, how long to wait before the next attempt, or
that there is none. It makes no call and sleeps nowhere, so it is tested
without a transport; the call loops (`_call_loop.py`) act on its answers.
"""

from __future__ import annotations

import logging
import random
import threading

import grpc

from scaigrid_client import _telemetry, errors
from scaigrid_client._call import CallState
from scaigrid_client._config import RetryEvent, RetryPolicy

__all__ = ["Retrier", "RetryBudget", "jittered", "lost_link", "never_connected", "pushback"]

logger = logging.getLogger("scaigrid_client")

PUSHBACK_KEY = "grpc-retry-pushback-ms"
# Failures that a retry cannot fix.
_NEVER_RETRIED = (errors.TLSVerificationError, errors.NameResolutionError)
_RESET_STATUSES = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
)
# grpc's words for a call that failed because no connection could be made
# (its wording changed across releases; every known form is listed).
_NOT_CONNECTED = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "Failed to connect to remote host",
)


def pushback(error: errors.ScaiGridError) -> float | bool | None:
    """Seconds the server asks to wait; False means do not retry; None: not sent."""
    for key, value in error.metadata:
        if key == PUSHBACK_KEY:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
            try:
                ms = int(text.strip())
            except ValueError:
                return False
            return False if ms < 0 else ms / 1000.0
    return None


def never_retried(error: errors.ScaiGridError) -> bool:
    """Failures the same settings meet every time: bad TLS settings, an
    unknown host, a proxy that refuses the credentials (407) or the host (403)."""
    if isinstance(error, errors.ProxyError):
        return error.http_status in (403, 407)
    return isinstance(error, _NEVER_RETRIED)


def lost_link(error: errors.ScaiGridError) -> bool:
    """Whether a resumable stream should reopen after ``error``.

    Whatever breaks the link mid-stream: connection loss, a restart or drain
    (UNAVAILABLE), a stall (the idle timeout), and a proxy's or load
    balancer's RST_STREAM, which grpc reports as INTERNAL, CANCELLED or
    UNKNOWN. The gateway's own errors carry a ScaiGrid code and end the stream.
    """
    if isinstance(error, (errors.StreamIdleTimeoutError, errors.UnavailableError)):
        return not never_retried(error)
    return error.code is None and error.status in _RESET_STATUSES


def never_connected(error: errors.ScaiGridError) -> bool:
    """Whether the call failed without reaching the gateway (by grpc's words:
    by the time the error is handled, the channel may be connected again)."""
    return error.code is None and any(marker in error.message for marker in _NOT_CONNECTED)


def jittered(interval: float, jitter: float) -> float:
    """``interval`` plus or minus a random share of up to ``jitter``."""
    return interval * (1 + jitter * (2 * random.random() - 1))


# A heartbeat loop left to the gateway beats this often until the gateway
# says (HeartbeatResponse.next_interval_ms).
DEFAULT_HEARTBEAT_INTERVAL = 5.0


def heartbeat_wait(interval: float | None, last: object, jitter: float) -> float:
    """Seconds until the next beat: ``interval`` when the agent fixed one,
    else the interval the gateway last asked for; jittered either way."""
    if interval is None:
        asked = getattr(last, "next_interval_ms", 0)
        interval = asked / 1000 if asked else DEFAULT_HEARTBEAT_INTERVAL
    return jittered(interval, jitter)


class RetryBudget:
    """gRPC retryThrottling: token bucket shared by a client's calls."""

    def __init__(self, max_tokens: float, token_ratio: float) -> None:
        self.max_tokens = max_tokens
        self.ratio = token_ratio
        self.tokens = max_tokens
        self.warned = False  # the WARNING that retries stopped was logged
        # Sync callers share a client across threads, and async ones across
        # loops in threads: updates take the lock (a full bucket needs none).
        self._lock = threading.Lock()

    def success(self) -> None:
        if self.tokens < self.max_tokens:
            with self._lock:
                self.tokens = min(self.max_tokens, self.tokens + self.ratio)
                if self.warned and self.allows_retry():
                    self.warned = False

    def failure(self) -> None:
        with self._lock:
            self.tokens = max(0.0, self.tokens - 1)

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2


class Retrier:
    """A client's retry policy and budget, deciding for one call at a time."""

    def __init__(self, policy: RetryPolicy, target: str) -> None:
        self.policy = policy
        self.budget = RetryBudget(policy.budget_max_tokens, policy.budget_token_ratio)
        self._target = target  # named in the budget's warning

    def policy_for(self, state: CallState) -> RetryPolicy:
        """The call's own ``retry=``, else the client's. (The budget is the
        client's either way: it protects the gateway from all its calls.)"""
        return state.policy or self.policy

    def delay(self, state: CallState, error: errors.ScaiGridError, connected: bool) -> float | None:
        """Seconds to wait before retrying a call that failed with ``error``,
        or None: raise it. ``connected``: whether the failure reached the
        gateway (only those spend the budget)."""
        policy = state.policy or self.policy
        if error.status not in policy.retry_on or never_retried(error):
            return None
        # A call that failed because the channel is not connected never
        # reached the gateway, and its retries will not either until grpc
        # reconnects: a restart that fails a burst of calls is one event for
        # the channel, not one failure per call. The budget counts failures
        # the gateway itself answered, which are load on it.
        connected = connected and not never_connected(error)
        if connected:
            self.budget.failure()
        if state.attempt >= policy.max_attempts:
            return None
        if connected and not self.budget.allows_retry():
            self._budget_stopped(state, error)
            return None
        wait = pushback(error)
        if wait is False:
            return None
        if wait is None:
            wait = policy.backoff(state.attempt, random.random())
        return _within_deadline(state, float(wait))

    def resume_delay(
        self, state: CallState, error: errors.ScaiGridError, established: bool
    ) -> float:
        """Seconds before a resumable stream reopens after its link broke, or
        raise ``error``.

        Reopening is not a retry: it spends nothing from the budget, so a
        restart that breaks a thousand streams is one event, not a thousand
        failures. What protects the gateway instead: streams wait for the
        channel to connect again (one reconnect, made by grpc, for all of
        them), reopenings are spread at random over ``initial_backoff``, and
        attempts that fail without the link ever working (not
        ``established``) back off and count towards ``max_attempts``.
        """
        policy = state.policy or self.policy
        wait = pushback(error)
        if wait is False:
            raise error
        if established:
            state.attempt = 1  # a new episode
            delay = policy.initial_backoff * random.random()
        elif state.attempt >= policy.max_attempts:
            raise error
        else:
            delay = policy.backoff(state.attempt, random.random())
        if wait is not None:
            delay = float(wait)
        if _within_deadline(state, delay) is None:
            raise error
        return delay

    def outage_wait(self, state: CallState) -> float:
        """How long the next wait for the channel to connect may take."""
        return (state.policy or self.policy).backoff(state.attempt, random.random())

    def announce(
        self, state: CallState, error: errors.ScaiGridError, delay: float, resume: bool = False
    ) -> None:
        """Tell the log, telemetry and ``on_retry`` of the retry or resume
        about to be made after attempt ``state.attempt``."""
        policy = state.policy or self.policy
        if logger.isEnabledFor(logging.INFO):
            _log_retry(state, error, delay, resume, policy.max_attempts)
        if state.telemetry is not None:
            state.telemetry.retried(state.attempt, error, delay, resume)
        if policy.on_retry is not None:
            policy.on_retry(
                RetryEvent(
                    method=state.method.name,
                    request_id=state.request_id,
                    attempt=state.attempt,
                    max_attempts=policy.max_attempts,
                    status=error.status,
                    code=error.code,
                    delay=delay,
                )
            )

    def _budget_stopped(self, state: CallState, error: errors.ScaiGridError) -> None:
        _telemetry.count("budget_stopped", state.method.path)
        error.add_detail(
            "not retried: the client's retry budget is spent after many recent failures; "
            "retries resume as calls succeed again"
        )
        budget = self.budget
        if not budget.warned:
            budget.warned = True  # once per episode: success() re-arms it
            logger.warning(
                "retry budget spent (%.0f of %.0f tokens left): failing calls are no longer "
                "retried until calls succeed again; the gateway at %s is failing repeatedly",
                budget.tokens,
                budget.max_tokens,
                self._target,
            )


def _within_deadline(state: CallState, delay: float) -> float | None:
    """``delay``, or None when the call's deadline comes first."""
    remaining = state.remaining()
    if remaining is not None and delay >= remaining:
        return None
    return delay


def _log_retry(
    state: CallState, error: errors.ScaiGridError, delay: float, resume: bool, max_attempts: int
) -> None:
    fields = {
        "event": "resume" if resume else "retry",
        "method": state.method.name,
        "request_id": state.request_id,
        "attempt": state.attempt,
        "max_attempts": max_attempts,
        "status": error.status.name,
        "code": error.code,
        "delay_ms": round(delay * 1000, 3),
    }
    logger.info(
        "%s %s (request_id=%s): attempt %d of %d failed with %s%s; next in %.3fs",
        "resuming" if resume else "retrying",
        state.method.name,
        state.request_id,
        state.attempt,
        max_attempts,
        error.status.name,
        f" ({error.code})" if error.code else "",
        delay,
        extra={"scaigrid": fields},
    )

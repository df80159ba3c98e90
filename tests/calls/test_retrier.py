"""The retry policy at work, as a pure object: `_retry.Retrier` decides for a
call's state and its latest failure, with no transport, channel or server."""

from __future__ import annotations

import logging

import grpc
import pytest

from scaigrid_client import RetryPolicy, errors
from scaigrid_client._call import CallState, Method
from scaigrid_client._retry import Retrier, lost_link, pushback
from scaigrid_client.v1 import scaiinfer

LIST_MODELS = Method.of(scaiinfer, "InferenceService", "ListModels")


def _state(timeout: float | None = None) -> CallState:
    return CallState(LIST_MODELS, "rid-1", timeout, False, ())


def _unavailable(**kwargs: object) -> errors.ScaiGridError:
    return errors.UnavailableError("backend down", request_id="rid-1", **kwargs)  # type: ignore[arg-type]


def test_backoff_grows_and_attempts_are_capped() -> None:
    retrier = Retrier(RetryPolicy(max_attempts=3, initial_backoff=1.0, jitter=0.0), "gw:1")
    state = _state()
    assert retrier.delay(state, _unavailable(), connected=True) == 1.0
    state.attempt = 2
    assert retrier.delay(state, _unavailable(), connected=True) == 2.0
    state.attempt = 3
    assert retrier.delay(state, _unavailable(), connected=True) is None


def test_only_the_policy_statuses_are_retried() -> None:
    retrier = Retrier(RetryPolicy(), "gw:1")
    not_found = errors.NotFoundError("no such model", request_id="rid-1")
    assert retrier.delay(_state(), not_found, connected=True) is None
    assert retrier.delay(_state(), errors.TLSVerificationError("x", reason="r"), True) is None


def test_pushback_wins_and_a_negative_one_stops() -> None:
    retrier = Retrier(RetryPolicy(initial_backoff=0.5), "gw:1")
    asked = _unavailable(metadata=(("grpc-retry-pushback-ms", "1500"),))
    assert pushback(asked) == 1.5
    assert retrier.delay(_state(), asked, connected=True) == 1.5
    refused = _unavailable(metadata=(("grpc-retry-pushback-ms", "-1"),))
    assert retrier.delay(_state(), refused, connected=True) is None


def test_a_wait_past_the_deadline_is_no_retry() -> None:
    retrier = Retrier(RetryPolicy(initial_backoff=2.0, max_backoff=2.0, jitter=0.0), "gw:1")
    assert retrier.delay(_state(timeout=1.0), _unavailable(), connected=True) is None
    assert retrier.delay(_state(timeout=10.0), _unavailable(), connected=True) == 2.0


def test_the_budget_is_spent_only_by_answered_failures(caplog: pytest.LogCaptureFixture) -> None:
    retrier = Retrier(RetryPolicy(budget_max_tokens=10, budget_token_ratio=1.0), "gw:1")
    for _ in range(5):  # the gateway was never reached: nothing spent
        assert retrier.delay(_state(), _unavailable(), connected=False) is not None
    assert retrier.budget.tokens == 10
    for _ in range(4):
        assert retrier.delay(_state(), _unavailable(), connected=True) is not None
    with caplog.at_level(logging.WARNING, logger="scaigrid_client"):
        stopped = _unavailable()
        assert retrier.delay(_state(), stopped, connected=True) is None  # 5 of 10 left
    assert "retry budget" in str(stopped)
    assert "gw:1" in caplog.text
    retrier.budget.success()
    assert retrier.budget.allows_retry()


def test_resume_is_free_after_progress_and_backs_off_without() -> None:
    retrier = Retrier(RetryPolicy(max_attempts=2, initial_backoff=1.0, jitter=0.0), "gw:1")
    state = _state()
    state.attempt = 2
    delay = retrier.resume_delay(state, _unavailable(), established=True)
    assert 0.0 <= delay <= 1.0 and state.attempt == 1  # a new episode
    assert retrier.budget.tokens == retrier.budget.max_tokens
    state.attempt = 2
    with pytest.raises(errors.UnavailableError):
        retrier.resume_delay(state, _unavailable(), established=False)


def test_which_failures_a_resumable_stream_reopens_after() -> None:
    assert lost_link(_unavailable())
    reset = errors.InternalError("Received RST_STREAM with error code 2")  # no ScaiGrid code
    assert reset.status is grpc.StatusCode.INTERNAL
    assert lost_link(reset)
    coded = errors.InternalError("bug", code="internal_error")
    assert not lost_link(coded)

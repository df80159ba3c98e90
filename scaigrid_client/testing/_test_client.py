"""A RetryPolicy and a ScaiGrid client made for tests against the fake:
the default's attempts and statuses, with millisecond waits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypedDict

import grpc
from typing_extensions import Unpack

from scaigrid_client._clients import ScaiGrid
from scaigrid_client._config import RetryEvent, RetryPolicy, TLSConfig

if TYPE_CHECKING:
    from scaigrid_client.sync import ScaiGrid as SyncScaiGrid

__all__ = ["RetryOverrides", "client_for_tests", "retry_policy_for_tests", "sync_client_for_tests"]


class RetryOverrides(TypedDict, total=False):
    """The `RetryPolicy` fields that `FakeScaiGrid.retry_policy` takes,
    each with the meaning and range it has there."""

    max_attempts: int
    """Attempts in all, the first included, at least 1; default 5."""
    initial_backoff: float
    """Seconds before the first retry, at least 0; default 0.01."""
    max_backoff: float
    """The longest wait, in seconds, at least ``initial_backoff``; default
    0.05 (or ``initial_backoff``, when that is given and longer)."""
    multiplier: float
    """How much each wait grows, at least 1; default 2."""
    jitter: float
    """The share of a wait taken off at random, 0 to 1; default 0.2."""
    retry_on: Collection[grpc.StatusCode]
    """The statuses to retry; default UNAVAILABLE only."""
    on_retry: Callable[[RetryEvent], object] | None
    """Called with a `RetryEvent` before each retry; default None."""
    budget_max_tokens: float
    """The retry budget's size, in (0, 1000]; default 1000."""
    budget_token_ratio: float
    """What a success returns to the budget, above 0; default 1."""


# Retries as the default policy makes them (same attempts and statuses), but
# waiting milliseconds, and with a budget injected faults do not trip: the
# largest bucket, and each success refunds a whole token.
_TEST_RETRY = RetryOverrides(
    initial_backoff=0.01, max_backoff=0.05, budget_max_tokens=1000.0, budget_token_ratio=1.0
)


def retry_policy_for_tests(**overrides: Unpack[RetryOverrides]) -> RetryPolicy:
    fields = RetryOverrides(**_TEST_RETRY)
    if "initial_backoff" in overrides and "max_backoff" not in overrides:
        # A longer first wait raises the cap with it rather than failing.
        fields["max_backoff"] = max(_TEST_RETRY["max_backoff"], overrides["initial_backoff"])
    return dataclasses.replace(RetryPolicy(**fields), **overrides)


def _options(
    target: str, token: str, tls: TLSConfig | bool, overrides: dict[str, Any]
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "target": target,
        "token": token,
        "tls": tls,
        "retry": retry_policy_for_tests(),
    }
    options.update(overrides)
    return options


def client_for_tests(
    target: str, token: str, tls: TLSConfig | bool, overrides: dict[str, Any]
) -> ScaiGrid:
    """A ScaiGrid with these and the test retry policy; ``overrides`` are
    ScaiGrid keywords that replace any of them (``target`` too)."""
    return ScaiGrid(**_options(target, token, tls, overrides))


def sync_client_for_tests(
    target: str, token: str, tls: TLSConfig | bool, overrides: dict[str, Any]
) -> SyncScaiGrid:
    """The same, of the sync flavour."""
    from scaigrid_client.sync import ScaiGrid as SyncScaiGrid

    return SyncScaiGrid(**_options(target, token, tls, overrides))

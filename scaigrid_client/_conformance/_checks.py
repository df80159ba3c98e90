"""What cases assert with: each failure says what was expected and what came."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc

from scaigrid_client import errors
from scaigrid_client._conformance._registry import CaseFailed

__all__ = ["describe", "expect", "expect_equal", "expect_error", "unexpected"]

_T = TypeVar("_T")


def describe(error: errors.ScaiGridError) -> str:
    """An error as the report shows it: status, code and message."""
    code = f" ({error.code})" if error.code else " (no scaigrid-error-code)"
    return f"{error.status.name}{code}: {error.message}"


def unexpected(what: str, error: errors.ScaiGridError) -> CaseFailed:
    """A call that should have worked failed."""
    return CaseFailed(f"{what}: expected OK, got {describe(error)}")


def expect(condition: bool, what: str, expected: str, got: object) -> None:
    """Fail with ``what: expected ..., got ...`` unless ``condition``."""
    if not condition:
        raise CaseFailed(f"{what}: expected {expected}, got {got!r}")


def expect_equal(what: str, expected: object, got: object) -> None:
    """Fail unless ``got == expected``."""
    if got != expected:
        raise CaseFailed(f"{what}: expected {expected!r}, got {got!r}")


async def expect_error(
    what: str,
    call: Awaitable[Any],
    status: grpc.StatusCode,
    code: str | None,
    *,
    field: str | None = None,
) -> errors.ScaiGridError:
    """Await ``call``; it must fail with ``status``, the ``scaigrid-error-code``
    trailer ``code`` (None: any) and, if given, a message naming ``field``."""
    wanted = status.name + (f" ({code})" if code else "")
    try:
        await call
    except errors.ScaiGridError as error:
        problems = []
        if error.status != status:
            problems.append("status")
        if code is not None and error.code != code:
            problems.append("scaigrid-error-code")
        if field is not None and field not in error.message:
            problems.append(f"a message naming {field!r}")
        if problems:
            naming = f" naming {field!r}" if field else ""
            raise CaseFailed(
                f"{what}: expected {wanted}{naming}, got {describe(error)} "
                f"(wrong: {', '.join(problems)})"
            ) from None
        return error
    raise CaseFailed(f"{what}: expected {wanted}, got OK")

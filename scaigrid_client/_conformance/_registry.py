"""The case registry: the ``@case`` decorator, its marks, and what a case
raises to fail or skip.

Every case declares where it holds (``any_gateway``: against any ScaiGrid
gateway; ``fake_only``: it needs the bundled fake's control plane) and
whether it ``writes`` (changes state or costs something: tokens, GPUs).
A case without both marks, or without a docstring saying what it checks,
is refused when it is registered, so it can never run unmarked.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from scaigrid_client._conformance._context import Context

__all__ = [
    "ANY_GATEWAY",
    "CASES",
    "FAKE_ONLY",
    "Case",
    "CaseFailed",
    "CaseSkipped",
    "RegistrationError",
    "case",
]

Where: TypeAlias = Literal["any_gateway", "fake_only"]
ANY_GATEWAY: Where = "any_gateway"
FAKE_ONLY: Where = "fake_only"
CaseFn: TypeAlias = "Callable[[Context], Awaitable[str | None]]"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistrationError(ValueError):
    """A case declared wrongly: unmarked, unnamed, undocumented or a duplicate."""


class CaseFailed(AssertionError):
    """The gateway did not do what the contract says; the message says
    what was expected and what came instead."""


class CaseSkipped(Exception):
    """The case cannot run here; the message says why and what would make it run."""


@dataclass(frozen=True)
class Case:
    """One registered case.

    Attributes:
        name: the case's name in reports and ``--only``.
        where: ``any_gateway`` or ``fake_only``.
        writes: whether it changes state or costs something.
        checks: what it checks, one line (its docstring's first line).
        fn: the coroutine function; returns an optional note for the report.
    """

    name: str
    where: Where
    writes: bool
    checks: str
    fn: CaseFn


# Registration order is the order cases run and are reported in.
CASES: dict[str, Case] = {}


def case(
    name: str,
    *,
    where: Where | None = None,
    writes: bool | None = None,
    registry: dict[str, Case] | None = None,
) -> Callable[[CaseFn], CaseFn]:
    """Register a conformance case.

    Args:
        name: its name, lower snake case, unique.
        where: ``"any_gateway"`` or ``"fake_only"``; required.
        writes: True if it changes state or costs something (it then runs
            only with ``--allow-writes``), False if not; required.
        registry: where to register it (tests); default: ``CASES``.

    Returns:
        The decorator; it returns the function unchanged.

    Raises:
        RegistrationError: a mark is missing or wrong, the name is taken or
            malformed, or the function has no docstring.
    """
    target = CASES if registry is None else registry

    def register(fn: CaseFn) -> CaseFn:
        if not _NAME.match(name):
            raise RegistrationError(
                f"case {name!r}: a name is lower snake case, e.g. 'auth_missing'"
            )
        if where not in (ANY_GATEWAY, FAKE_ONLY):
            raise RegistrationError(
                f"case {name!r}: unmarked; pass where='any_gateway' (holds against any "
                f"gateway) or where='fake_only' (needs the fake's controls), got {where!r}"
            )
        if not isinstance(writes, bool):
            raise RegistrationError(
                f"case {name!r}: unmarked; pass writes=True (changes state or costs) "
                f"or writes=False, got {writes!r}"
            )
        if name in target:
            raise RegistrationError(f"case {name!r}: registered twice")
        doc = (fn.__doc__ or "").strip()
        if not doc:
            raise RegistrationError(f"case {name!r}: needs a docstring saying what it checks")
        target[name] = Case(name, where, writes, doc.splitlines()[0], fn)
        return fn

    return register

"""The conformance suite behind ``scaigrid conformance``: cases that check,
through the public SDK only, that a gateway (or the bundled fake) keeps the
contract the SDK relies on. See docs/conformance.md.

``_registry`` holds ``@case`` and its marks; ``_context`` what a case gets;
``_fixtures`` what cases share; ``_checks`` the expected-vs-got helpers;
``_runner`` runs cases and writes the report; the ``_cases_*`` modules are
the cases, registered in the order they run.
"""

# isort: skip_file
# (the case modules' import order is the order their cases run in)

from __future__ import annotations

# Importing the case modules registers their cases, in this order.
from scaigrid_client._conformance import _cases_errors  # noqa: F401
from scaigrid_client._conformance import _cases_calls  # noqa: F401
from scaigrid_client._conformance import _cases_streams  # noqa: F401
from scaigrid_client._conformance import _cases_history  # noqa: F401
from scaigrid_client._conformance import _cases_paging  # noqa: F401
from scaigrid_client._conformance import _cases_fake  # noqa: F401
from scaigrid_client._conformance._context import Context, LastCall
from scaigrid_client._conformance._fake_control import FakeControl
from scaigrid_client._conformance._registry import CASES, Case, RegistrationError, case
from scaigrid_client._conformance._runner import Result, report, run_cases

__all__ = [
    "CASES",
    "Case",
    "Context",
    "FakeControl",
    "LastCall",
    "RegistrationError",
    "Result",
    "case",
    "report",
    "run_cases",
]

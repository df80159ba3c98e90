"""Every public function and method documents its parameters, its result and
(for the clients' calls and the fake's controls) what it raises, Google
style, so the reference (docs/) is complete: a new parameter without a line
in ``Args:`` fails here. So does a field of a public dataclass or TypedDict
with neither a docstring nor a line in ``Attributes:``, and a fixture of the
pytest plugin that does not say what it yields."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import re
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, is_typeddict

import pytest

import scaigrid_client
from scaigrid_client import errors, sync, testing, types
from scaigrid_client.testing import _plugin

_SECTION = re.compile(r"^\s*(Args|Arguments|Returns|Yields|Raises|Attributes):\s*$", re.M)
_ARG = re.compile(r"^\s+(\*{0,2}\w+)(?: \([^)]*\))?:", re.M)
_MODULES = (scaigrid_client, sync, errors, testing, types)


def _sections(doc: str) -> dict[str, str]:
    """A Google-style docstring's sections by name, each its body."""
    found: dict[str, str] = {}
    matches = list(_SECTION.finditer(doc))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        found[match.group(1)] = doc[match.end() : end]
    return found


def _documented(doc: str, constructor: bool = False) -> set[str]:
    """The parameters ``doc`` describes; a constructor's may be the class's
    ``Attributes:`` (a field given as is)."""
    sections = _sections(doc)
    body = sections.get("Args", "") + sections.get("Arguments", "")
    if constructor:
        body += sections.get("Attributes", "")
    return {m.group(1).lstrip("*") for m in _ARG.finditer(body)}


# Made by the SDK and handed to the caller, never constructed by users: their
# fields are documented (``Attributes:``, or a docstring under each), not
# their constructors.
_NOT_CONSTRUCTED_BY_USERS = {
    "Call",
    "CallInfo",
    "ChatReply",
    "ClientCert",
    "Embeddings",
    "FakeState",
    "HeartbeatLoop",
    "HeartbeatRecord",
    "Pager",
    "RawResponse",
    "RetryEvent",
    "ServerStream",
    "TLSStatus",
}
# Methods that raise nothing on any input, so need no ``Raises:`` although
# their class's methods do.
_RAISE_NOTHING = {"__init__", "close", "reload_tls", "stop", "reset"}


def _raises_expected(class_name: str, member_name: str) -> bool:
    """Whether a method must say what it raises: the clients' calls, and the
    fake's controls (on bad input, or with the fake not running)."""
    checked = class_name.endswith("Client") or class_name in ("ScaiGrid", "FakeScaiGrid")
    return checked and member_name not in _RAISE_NOTHING


def _public_members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods of ``cls`` that the SDK defines (inherited ones
    too), and its constructor (documented where it is defined, or in the
    class's docstring)."""
    for name, member in inspect.getmembers(cls):
        if name == "__init__":
            if cls.__name__ in _NOT_CONSTRUCTED_BY_USERS or member is object.__init__:
                continue
        elif name.startswith("_"):
            continue
        ours = (getattr(member, "__module__", None) or "").startswith("scaigrid_client")
        if (inspect.isfunction(member) or inspect.ismethod(member)) and ours:
            yield name, member


def _field_docstrings(cls: type) -> set[str]:
    """The fields of ``cls`` (and of its bases) with a docstring under them."""
    out: set[str] = set()
    for klass in cls.__mro__:
        ours = klass.__module__.startswith("scaigrid_client.")
        if not ours and klass.__module__ != cls.__module__:
            continue  # object, dict, Generic: no fields of ours
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for stmt, after in itertools.pairwise(body):
            documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and documented:
                out.add(stmt.target.id)
    return out


def field_problems(where: str, cls: type) -> list[str]:
    """The fields of a dataclass or TypedDict ``cls`` that nothing describes."""
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    elif is_typeddict(cls):
        names = list(cls.__annotations__)
    else:
        return []
    documented = _field_docstrings(cls) | _documented(inspect.getdoc(cls) or "", True)
    missing = [n for n in names if n not in documented]
    return [f"{where}: no docstring for field {', '.join(missing)}"] if missing else []


def problems_of(
    where: str, function: Callable[..., Any], class_doc: str = "", raises: bool = False
) -> list[str]:
    """What ``function``'s docstring leaves out."""
    doc = inspect.getdoc(function) or ""
    if function.__name__ == "__init__":
        doc = f"{class_doc}\n{doc}"
    out = []
    if not doc.strip():
        return [f"{where}: no docstring"]
    signature = inspect.signature(function)
    names = [p for p in signature.parameters if p not in ("self", "cls")]
    documented = _documented(doc, constructor=function.__name__ == "__init__")
    missing = [p for p in names if p not in documented]
    if missing:
        out.append(f"{where}: Args: does not describe {', '.join(missing)}")
    returns = signature.return_annotation
    sections = _sections(doc)
    if (
        function.__name__ != "__init__"
        and returns not in ("None", None, inspect.Signature.empty, "Self", "NoReturn")
        and not ({"Returns", "Yields"} & set(sections))
    ):
        out.append(f"{where}: no Returns: section")
    if raises and "Raises" not in sections:
        out.append(f"{where}: no Raises: section")
    return out


def fixture_problems(name: str, function: Callable[..., Any]) -> list[str]:
    """What a fixture's docstring leaves out: what it yields, and the
    fixtures it is made from (``request`` aside)."""
    doc = inspect.getdoc(function) or ""
    if not doc.strip():
        return [f"fixture {name}: no docstring"]
    out = []
    if "Yields" not in _sections(doc):
        out.append(f"fixture {name}: no Yields: section")
    uses = [p for p in inspect.signature(function).parameters if p != "request"]
    unsaid = [p for p in uses if f"``{p}``" not in doc and p not in _documented(doc)]
    if unsaid:
        out.append(f"fixture {name}: does not say it uses {', '.join(unsaid)}")
    return out


def _class_problems(where: str, cls: type, seen: list[Any]) -> list[str]:
    """What the docstrings of class ``cls``, its fields and its methods leave out."""
    out = [] if (inspect.getdoc(cls) or "").strip() else [f"{where}: no docstring"]
    out += field_problems(where, cls)
    # A constructor is documented by the class that defines it.
    definer = next(k for k in cls.__mro__ if "__init__" in vars(k))
    class_doc = f"{inspect.getdoc(cls) or ''}\n{inspect.getdoc(definer) or ''}"
    for member_name, member in _public_members(cls):
        if member_name != "__init__" and member in seen:
            continue  # inherited: checked where first met
        seen.append(member)
        raises = _raises_expected(cls.__name__, member_name)
        out += problems_of(f"{where}.{member_name}", member, class_doc, raises=raises)
    return out


def fixtures() -> dict[str, Callable[..., Any]]:
    """The pytest plugin's fixtures, each its function."""
    return {
        name: obj.__wrapped__
        for name, obj in vars(_plugin).items()
        if getattr(obj, "_fixture_function_marker", None) is not None
    }


def all_problems(seen: list[Any] | None = None) -> list[str]:
    """Every public function's and method's docstring gaps; ``seen`` gets
    the functions checked."""
    out: list[str] = []
    seen = [] if seen is None else seen
    for module in _MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            where = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                out += _class_problems(where, obj, seen)
            elif inspect.isfunction(obj):
                seen.append(obj)
                out += problems_of(where, obj)
    for name, function in fixtures().items():
        seen.append(function)
        out += fixture_problems(name, function)
    return out


def test_every_public_function_documents_its_parameters_and_result() -> None:
    checked: list[Any] = []
    problems = all_problems(checked)
    assert not problems, "\n".join(problems)
    names = {getattr(f, "__qualname__", "") for f in checked}
    assert len(checked) > 60 and "_Client.with_options" in names  # it looked
    assert {"FaultControls.fail", "FakeControls.step_job", "SecretVolume.write"} <= names
    assert set(fixtures()) == {"scaigrid_fake", "scaigrid_client", "scaigrid_sync_client"}


def test_the_check_can_fail() -> None:
    def undocumented(self: object, model: str, *, n: int = 1) -> int:
        """Does a thing.

        Args:
            model: the model.
        """
        return n

    assert problems_of("x", undocumented, raises=True) == [
        "x: Args: does not describe n",
        "x: no Returns: section",
        "x: no Raises: section",
    ]


def test_the_field_and_fixture_checks_can_fail() -> None:
    @dataclasses.dataclass
    class Record:
        """A record.

        Attributes:
            said: in the class's docstring.
        """

        said: int
        under: int
        """Under the field."""
        bare: int

    def thing(request: Any, other: int) -> Iterator[int]:
        """A fixture that does not say what it yields, nor that it uses other."""
        yield other

    assert field_problems("r", Record) == ["r: no docstring for field bare"]
    assert fixture_problems("f", thing) == [
        "fixture f: no Yields: section",
        "fixture f: does not say it uses other",
    ]
    assert fixture_problems("g", lambda: None) == ["fixture g: no docstring"]
    # The fake's controls say what they raise; its stop() and reset() raise nothing.
    assert _raises_expected("FakeScaiGrid", "fail")
    assert not _raises_expected("FakeScaiGrid", "stop")
    assert not _raises_expected("SecretVolume", "write")


if __name__ == "__main__":  # pragma: no cover - a listing while writing docs
    print("\n".join(all_problems()))
    pytest.main([__file__])

"""Every public function and method documents its parameters, its result and
(for the clients' calls) what it raises, Google style, so the reference
(docs/) is complete: a new parameter without a line in ``Args:`` fails here."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import scaigrid_client
from scaigrid_client import errors, sync

_SECTION = re.compile(r"^\s*(Args|Arguments|Returns|Yields|Raises|Attributes):\s*$", re.M)
_ARG = re.compile(r"^\s+(\*{0,2}\w+)(?: \([^)]*\))?:", re.M)


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
# fields are documented (``Attributes:``), not their constructors.
_NOT_CONSTRUCTED_BY_USERS = {
    "CallInfo",
    "ChatReply",
    "Embeddings",
    "HeartbeatLoop",
    "Pager",
    "RawResponse",
    "RetryEvent",
    "ServerStream",
}


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
        ours = getattr(member, "__module__", "").startswith("scaigrid_client")
        if (inspect.isfunction(member) or inspect.ismethod(member)) and ours:
            yield name, member


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


def all_problems(seen: list[Any] | None = None) -> list[str]:
    """Every public function's and method's docstring gaps; ``seen`` gets
    the functions checked."""
    out: list[str] = []
    seen = [] if seen is None else seen
    for module in (scaigrid_client, sync, errors):
        for name in module.__all__:
            obj = getattr(module, name)
            where = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                client = name.endswith("Client") or name == "ScaiGrid"
                if not (inspect.getdoc(obj) or "").strip():
                    out.append(f"{where}: no docstring")
                # A constructor is documented by the class that defines it.
                definer = next(k for k in obj.__mro__ if "__init__" in vars(k))
                class_doc = f"{inspect.getdoc(obj) or ''}\n{inspect.getdoc(definer) or ''}"
                for member_name, member in _public_members(obj):
                    if member_name != "__init__" and member in seen:
                        continue  # inherited: checked where first met
                    seen.append(member)
                    out += problems_of(
                        f"{where}.{member_name}",
                        member,
                        class_doc,
                        raises=client and member_name not in ("__init__", "close", "reload_tls"),
                    )
            elif inspect.isfunction(obj):
                out += problems_of(where, obj)
    return out


def test_every_public_function_documents_its_parameters_and_result() -> None:
    checked: list[Any] = []
    problems = all_problems(checked)
    assert not problems, "\n".join(problems)
    names = {getattr(f, "__qualname__", "") for f in checked}
    assert len(checked) > 60 and "_Client.with_options" in names  # it looked


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


if __name__ == "__main__":  # pragma: no cover - a listing while writing docs
    print("\n".join(all_problems()))
    pytest.main([])

"""The public API as text: every public name of the package, with its
signature, so that a change to it is seen and made on purpose.

    python tools/api_snapshot.py          # write docs/public-api.txt
    python tools/api_snapshot.py --check  # exit 1 if it differs from the code

Covered: `scaigrid_client`, `scaigrid_client.sync`, `errors`, `enums`,
`testing`, `types` and the pytest plugin's fixtures. For each class, the public
methods, properties and attributes it defines itself (not what it inherits
from the standard library); for each function, its signature as written
(annotations are strings, so the text is the same on every Python).
`make test` runs the check (tests/package/test_api_snapshot.py), as `buf breaking`
guards the protos.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pathlib
import sys
import types
import typing
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "public-api.txt"
MODULES = (
    "scaigrid_client",
    "scaigrid_client.sync",
    "scaigrid_client.errors",
    "scaigrid_client.enums",
    "scaigrid_client.testing",
    "scaigrid_client.types",
)


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _type_text(value: Any) -> str:
    """A type as text, the same on every Python (typing's reprs are not)."""
    if value is type(None) or value is None:
        return "None"
    if value is Ellipsis:
        return "..."
    if isinstance(value, str):
        return value
    forward = getattr(value, "__forward_arg__", None)
    if forward is not None:
        return str(forward)
    origin, args = typing.get_origin(value), typing.get_args(value)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(_type_text(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    if origin is not None:
        inner = ", ".join(
            f"[{', '.join(_type_text(x) for x in a)}]" if isinstance(a, list) else _type_text(a)
            for a in args
        )
        return f"{getattr(origin, '__qualname__', str(origin))}[{inner}]"
    return str(getattr(value, "__qualname__", value))


def _ours(obj: Any) -> bool:
    return getattr(obj, "__module__", "").startswith("scaigrid_client")


_DUNDERS = ("__init__", "__aenter__", "__aexit__", "__enter__", "__exit__", "__aiter__", "__iter__")


def _member_line(attr: str, value: Any) -> str | None:
    if inspect.isfunction(value) and not _ours(value):
        return None  # put there by the standard library (a Protocol's __init__)
    if isinstance(value, property):
        returns = inspect.signature(value.fget).return_annotation if value.fget else "?"
        return f"    property {attr}: {returns}"
    if isinstance(value, (staticmethod, classmethod)):
        return f"    {type(value).__name__} {attr}{_signature(value.__func__)}"
    if inspect.isfunction(value):
        kind = "async def" if inspect.iscoroutinefunction(value) else "def"
        return f"    {kind} {attr}{_signature(value)}"
    return None


def _class_lines(name: str, cls: type) -> list[str]:
    """The class, its bases, and every public member that our own classes in
    its MRO define (so a client shows what its private base gives it)."""
    bases = ", ".join(b.__qualname__ for b in cls.__bases__ if b is not object)
    lines = [f"class {name}({bases})" if bases else f"class {name}"]
    if issubclass(cls, enum.Enum):
        return lines + [f"    {member.name} = {member.value!r}" for member in cls]
    seen: set[str] = set()
    members: dict[str, str] = {}
    for klass in cls.__mro__:
        if not _ours(klass):
            continue
        for attr, annotation in vars(klass).get("__annotations__", {}).items():
            if not attr.startswith("_") and attr not in seen:
                seen.add(attr)
                members[attr] = f"    {attr}: {_type_text(annotation)}"
        for attr, value in vars(klass).items():
            if (attr.startswith("_") and attr not in _DUNDERS) or attr in seen:
                continue
            line = _member_line(attr, value)
            if line is not None:
                seen.add(attr)
                members[attr] = line
    return lines + [members[attr] for attr in sorted(members)]


def _entry(name: str, value: Any) -> list[str]:
    if inspect.ismodule(value):
        return [f"module {name}: {value.__name__}"]
    if typing.get_origin(value) is not None:
        # A type alias; first, as Python 3.10 calls ``tuple[...]`` a class.
        return [f"type {name} = {_type_text(value)}"]
    if inspect.isclass(value):
        return _class_lines(name, value)
    if inspect.isfunction(value):
        kind = "async def" if inspect.iscoroutinefunction(value) else "def"
        return [f"{kind} {name}{_signature(value)}"]
    if name == "__version__":
        return [f"{name}: str"]  # its value changes with every release, not the API
    return [f"{name}: {type(value).__name__} = {value!r}"]


def render() -> str:
    out = [
        "# The public API of scaigrid-client, written by tools/api_snapshot.py.",
        "# A change here is a change of the promise: see CHANGELOG.md and README.md.",
    ]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        out.append("")
        out.append(f"## {module_name}")
        for name in sorted(module.__all__):
            out.extend(_entry(name, getattr(module, name)))
    from scaigrid_client.testing import _plugin

    out += ["", "## pytest fixtures (scaigrid_client.testing plugin)"]
    # Every fixture the plugin defines (they, and only they, are named scaigrid_*).
    fixtures = sorted(name for name in vars(_plugin) if name.startswith("scaigrid_"))
    for fixture in fixtures:
        wrapped = getattr(_plugin, fixture)
        function = getattr(wrapped, "__wrapped__", getattr(wrapped, "_fixture_function", wrapped))
        out.append(f"fixture {fixture}{_signature(function)}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} differs from the code: run 'make api'")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The site's own Sphinx extension.

- Before reading the sources, writes the generated reference pages:
  ``reference/messages/*.md`` from the protos (``tools/gen_proto_docs.py``)
  and ``reference/cli.md`` from the parser (``tools/gen_cli_docs.py``), so
  any ``sphinx-build`` of ``docs/`` is complete and current.
- References resolve to the public path of a name: the package's objects
  live in private modules (``scaigrid_client._config.TLSConfig``) and the
  sync flavour repeats the async names, so the Python domain here registers
  no private alias, maps a private path to the public one, and, where a
  short name is in both flavours, takes the referring page's flavour.
- A generated message in a signature (``scaimind.v1.coordinator_pb2.Job``)
  links to its section of the Messages pages.
- napoleon reads functions', methods' and classes' docstrings as Google
  style; an attribute's or property's docstring is prose (napoleon would
  take the text before its first colon for a type).
- ``.. fixture:: NAME`` declares a pytest fixture (``:fixture:`NAME```
  refers to it), and ``.. autofixture:: NAME`` documents one of the
  ``scaigrid_client.testing`` plugin's fixtures from its code: signature
  and (Google style) docstring. A fixture has no import path, so it is not
  a Python object of any module.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pathlib
import re
import sys
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.domains.python import PythonDomain
from sphinx.ext.napoleon import _process_docstring
from sphinx.ext.napoleon.docstring import GoogleDocstring
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN = "scaigrid_client.testing._plugin"
# The public modules, async before sync: a name's public path is its first.
PUBLIC = (
    "scaigrid_client",
    "scaigrid_client.types",
    "scaigrid_client.errors",
    "scaigrid_client.enums",
    "scaigrid_client.testing",
    "scaigrid_client.sync",
)


def generate_pages(app: Sphinx) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        gen_proto_docs = importlib.import_module("gen_proto_docs")
        gen_cli_docs = importlib.import_module("gen_cli_docs")
    finally:
        sys.path.remove(str(ROOT / "tools"))
    source = pathlib.Path(app.srcdir)
    if gen_proto_docs.main([str(source / "reference" / "messages")]) != 0:
        raise RuntimeError("tools/gen_proto_docs.py failed (see above)")
    gen_cli_docs.main([str(source / "reference" / "cli.md")])


@functools.cache
def _public_paths() -> tuple[dict[int, str], dict[int, str], dict[str, list[str]]]:
    """Each public object's path (async first, and sync first), and, by the
    name it was defined with, its public paths when exported under another
    name (``SyncTokenProvider`` is ``scaigrid_client.sync.TokenProvider``)."""
    first: dict[int, str] = {}
    sync_first: dict[int, str] = {}
    renamed: dict[str, list[str]] = {}
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.ismodule(value) or not hasattr(value, "__qualname__"):
                continue
            path = f"{module_name}.{name}"
            first.setdefault(id(value), path)
            if module_name.endswith(".sync") or id(value) not in sync_first:
                sync_first[id(value)] = path
            if value.__qualname__ != name:
                renamed.setdefault(value.__qualname__, []).append(path)
    return first, sync_first, renamed


def _resolve(path: str) -> Any:
    module_name, _, rest = path.partition(".")
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            value = getattr(value, attr)
        return value
    raise ImportError(module_name + rest)


class ScaiGridPythonDomain(PythonDomain):
    """The Python domain, resolving to public paths (see the module's text)."""

    def note_object(
        self, name: str, objtype: str, node_id: str, aliased: bool = False, location: Any = None
    ) -> None:
        if aliased and "._" in name:
            return  # autodoc's :canonical: private path: not a public name
        super().note_object(name, objtype, node_id, aliased, location)

    def _public(self, name: str, sync: bool) -> str:
        first, sync_first, renamed = _public_paths()
        if name in renamed:
            choices = renamed[name]
            preferred = [c for c in choices if c.startswith("scaigrid_client.sync.") == sync]
            return (preferred or choices)[0]
        if not name.startswith("scaigrid_client.") or "._" not in name:
            return name
        head, _, member = name.rpartition(".")
        for candidate, rest in ((name, ""), (head, member)):
            try:
                value = _resolve(candidate)
            except (ImportError, AttributeError):
                continue
            public = (sync_first if sync else first).get(id(value))
            if public is not None:
                return f"{public}.{rest}" if rest else public
        return name

    def find_obj(
        self,
        env: Any,
        modname: str,
        classname: str,
        name: str,
        type: str | None,
        searchmode: int = 0,
    ) -> list[tuple[str, Any]]:
        sync = (modname or "").startswith("scaigrid_client.sync")
        name = self._public(name, sync)
        matches = super().find_obj(env, modname, classname, name, type, searchmode)
        if len(matches) > 1:
            same = [m for m in matches if m[0].startswith("scaigrid_client.sync.") == sync]
            matches = sorted(same or matches, key=lambda m: m[0].count("."))[:1]
        return matches


# scaimind.v1.coordinator_pb2.Job, scaigrid_client._gen.protobuf6.scaimind.v1...
GENERATED_MESSAGE = re.compile(r"(?:.*\.)?(scai\w+)\.(v\d+)\.\w+_pb2\.(\w+(?:\.\w+)*)")


def _message_link(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> Any:
    """A generated message's reference: its section of the Messages pages."""
    if node.get("refdomain") != "py":
        return None
    match = GENERATED_MESSAGE.fullmatch(node.get("reftarget", ""))
    if match is None:
        return None
    package, version, message = match.groups()
    label = "proto-" + f"{package}.{version}.{message}".replace(".", "-").lower()
    target = env.domains.standard_domain.labels.get(label)
    if target is None:
        return None
    docname, label_id, _ = target
    return make_refnode(app.builder, node["refdoc"], docname, label_id, contnode)


def _public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """ "Bases:" names public classes and outside ones (``Exception``), not a
    private base (``_Client``) or ``Generic[T]``."""
    first, _, _ = _public_paths()
    kept = [
        base
        for base in bases
        if isinstance(base, type)
        and base.__module__ not in ("typing", "typing_extensions")
        and (not base.__module__.startswith("scaigrid_client") or id(base) in first)
    ]
    bases[:] = kept


def _napoleon_unless_attribute(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what not in ("attribute", "property", "data"):
        _process_docstring(app, what, name, obj, options, lines)  # type: ignore[arg-type]


def _no_docstring_of_the_values_type(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A constant or alias with no docstring of its own gets none, not its
    value's type's (``int | str`` is not "Represent a PEP 604 union type")."""
    if what in ("data", "attribute") and not inspect.isclass(obj):
        inherited = inspect.getdoc(type(obj)) or ""
        if inherited and "\n".join(lines).strip() == inherited.strip():
            lines[:] = []


class AutoFixture(SphinxDirective):
    """``.. autofixture:: scaigrid_fake``: a fixture of the bundled plugin."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        plugin = importlib.import_module(PLUGIN)
        definition: Any = getattr(plugin, name)
        function = getattr(definition, "__wrapped__", definition)
        signature = str(inspect.signature(function)).replace("'", "")
        docstring = inspect.getdoc(function) or ""
        body = str(GoogleDocstring(docstring, self.config, what="function", name=name))
        lines = [
            f".. fixture:: {name}",
            "",
            f"   ``{name}{signature}`` (pytest fixture, from the ``scaigrid_client`` plugin)",
            "",
            *(f"   {line}" if line else "" for line in body.splitlines()),
        ]
        self.env.note_dependency(inspect.getsourcefile(function) or "")
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines, source=PLUGIN), self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.napoleon")
    listeners = app.events.listeners["autodoc-process-docstring"]
    for index, listener in enumerate(listeners):
        if listener.handler is _process_docstring:
            listeners[index] = listener._replace(handler=_napoleon_unless_attribute)
    app.add_domain(ScaiGridPythonDomain, override=True)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("missing-reference", _message_link)
    app.connect("autodoc-process-docstring", _no_docstring_of_the_values_type, priority=600)
    app.connect("builder-inited", generate_pages)
    app.add_object_type(
        "fixture", "fixture", objname="pytest fixture", indextemplate="pair: %s; pytest fixture"
    )
    app.add_directive("autofixture", AutoFixture)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

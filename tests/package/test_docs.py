"""The docs site's sources are complete, without building it (``make docs``
builds it, with warnings as errors): every public name has a reference
entry, every page is in a toctree, every include finds its text, and every
example is shown from its file."""

from __future__ import annotations

import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
# A clone, not the copy of tests/, docs/, tools/ and examples/ that
# tools/matrix.py's cells run: proto/, README.md and CHANGELOG.md are here.
CHECKOUT = (ROOT / "proto").is_dir() and (ROOT / "README.md").is_file()
needs_checkout = pytest.mark.skipif(not CHECKOUT, reason="needs proto/ and README.md")
# Written at build time (gitignored), listed in toctrees all the same.
GENERATED = re.compile(r"reference/cli|reference/messages/[a-z]+\.v\d+")
# docs/ files that are not pages of their own (docs/conf.py's exclude_patterns).
# Included whole by guides/integration-tests.md and guides/conformance.md.
NOT_PAGES = {"testing", "conformance"}

DIRECTIVE = re.compile(r"^(?:```|:::)\{(\w[\w-]*)\}\s*(.*)$|^\.\. ([\w:-]+)::\s*(.*)$")


def pages() -> dict[str, str]:
    """Every page's name (path from docs/, no suffix) and source."""
    found = {}
    for path in sorted([*DOCS.rglob("*.md"), *DOCS.rglob("*.rst")]):
        relative = path.relative_to(DOCS)
        if relative.parts[0] in ("_build", "_ext") or relative.parts[:2] == (
            "reference",
            "messages",
        ):
            continue
        name = relative.with_suffix("").as_posix()
        if not GENERATED.fullmatch(name) and name not in NOT_PAGES:
            found[name] = path.read_text()
    return found


def directives(source: str) -> list[tuple[str, str, list[str]]]:
    """(name, argument, body lines) of each MyST or reST directive."""
    lines = source.splitlines()
    out = []
    for index, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        name = match.group(1) or match.group(3)
        argument = (match.group(2) if match.group(1) else match.group(4)) or ""
        body = []
        for following in lines[index + 1 :]:
            if following.startswith(("```", ":::")) or (
                match.group(3) and following and not following.startswith(" ")
            ):
                break
            body.append(following.strip())
        out.append((name, argument.strip(), body))
    return out


def option(body: list[str], key: str) -> str | None:
    for line in body:
        if line.startswith(f":{key}:"):
            return line.split(":", 2)[2].strip().strip('"')
    return None


def public_names() -> list[tuple[str, str]]:
    """(section, name) of each top-level entry of docs/public-api.txt."""
    names, section = [], ""
    for line in (DOCS / "public-api.txt").read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif section and line and not line.startswith((" ", "#")):
            match = re.match(r"(?:class|async def|def|type|fixture|module)\s+(\w+)|(\w+):", line)
            assert match, line
            names.append((section, match.group(1) or match.group(2)))
    return names


def test_every_public_name_has_a_reference_entry() -> None:
    reference = "\n".join(
        path.read_text() for path in REFERENCE.glob("*") if path.suffix in (".rst", ".md")
    )
    names = public_names()
    assert len(names) > 100
    missing = []
    for section, name in names:
        if section.startswith("pytest fixtures"):
            wanted = f"autofixture:: {name}"
        elif name in ("enums", "errors"):  # the modules, reachable from the package
            wanted = f"automodule:: scaigrid_client.{name}"
        else:
            wanted = f"{section}.{name}"
        if not re.search(re.escape(wanted) + r"\b", reference):
            missing.append(wanted)
    assert not missing, f"public names without an entry in docs/reference/: {missing}"


def toctree_entries() -> dict[str, list[str]]:
    """Each page's toctree entries, as page names from docs/."""
    entries: dict[str, list[str]] = {}
    for name, source in pages().items():
        base = pathlib.PurePosixPath(name).parent
        for directive, _, body in directives(source):
            if directive == "toctree":
                entries.setdefault(name, []).extend(
                    (base / line).as_posix() for line in body if line and not line.startswith(":")
                )
    return entries


def test_every_page_is_in_a_toctree() -> None:
    entries = toctree_entries()
    listed = {entry for children in entries.values() for entry in children}
    known = set(pages()) | {entry for entry in listed if GENERATED.fullmatch(entry)}
    assert not listed - known, f"toctree entries with no page: {sorted(listed - known)}"
    reachable, todo = set(), ["index"]
    while todo:
        page = todo.pop()
        if page not in reachable:
            reachable.add(page)
            todo.extend(entries.get(page, []))
    assert not known - reachable, f"pages in no toctree: {sorted(known - reachable)}"


@needs_checkout
def test_every_proto_package_has_a_messages_page() -> None:
    listed = {entry for children in toctree_entries().values() for entry in children}
    packages = {
        f"reference/messages/{path.parent.parent.name}.{path.parent.name}"
        for path in (ROOT / "proto").glob("*/v*/*.proto")
    }
    assert packages
    assert not packages - listed, f"proto packages with no page: {sorted(packages - listed)}"


@needs_checkout
def test_includes_find_their_files_and_markers() -> None:
    for name, source in pages().items():
        page = (DOCS / name).parent
        for directive, argument, body in directives(source):
            if directive not in ("include", "literalinclude"):
                continue
            included = (page / argument).resolve()
            assert included.is_file(), f"{name}: {argument} does not exist"
            text = included.read_text()
            for key in ("start-after", "end-before"):
                marker = option(body, key)
                assert marker is None or text.count(marker) >= 1, (
                    f"{name}: {key} {marker!r} is not in {argument}"
                )


def test_every_example_is_shown_from_its_file() -> None:
    shown = {
        (DOCS / name).parent.joinpath(argument).resolve()
        for name, source in pages().items()
        for directive, argument, _ in directives(source)
        if directive == "literalinclude"
    }
    examples = {p.resolve() for p in (ROOT / "examples").glob("[!_]*.py")}
    assert not examples - shown, f"examples on no page: {sorted(p.name for p in examples - shown)}"


def test_cli_reference_names_every_command() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        gen_cli_docs = pytest.importorskip("gen_cli_docs")
    finally:
        sys.path.remove(str(ROOT / "tools"))
    from scaigrid_client._cli._parser import build_parser

    text = gen_cli_docs.render()
    parser = build_parser()
    (commands,) = (a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for command in commands.choices:
        assert f"### `scaigrid {command}`" in text
    assert "| 130 | interrupted (Ctrl-C) |" in text

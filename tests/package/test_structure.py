"""The package's shape, as the architecture note promises it: no import
cycles among its modules, and no hand-written function, class or module too
big to read (generated files excepted; docstrings count, as lines to read
do)."""

from __future__ import annotations

import ast
import pathlib

import scaigrid_client

# The package as imported: the source tree, or the wheel a matrix cell installed.
PACKAGE = pathlib.Path(scaigrid_client.__file__).resolve().parent
# Written by tools (make generate), not by hand.
GENERATED = {"sync/_call_loop.py", "sync/_pager.py", "sync/_raw.py", "enums.py"} | {
    f"sync/_clients/{name}"
    for name in (
        "__init__.py",
        "_client.py",
        "_inference.py",
        "_scaimind.py",
        "_scaicore.py",
        "_grid.py",
    )
}
MAX_FUNCTION, MAX_CLASS, MAX_MODULE = 80, 400, 700


def _parse(text: str) -> ast.Module:
    """ast.parse, once more if CPython 3.11's parser trips over another
    thread parsing at the same moment (gh-106905: "AST constructor recursion
    depth mismatch"; a worker's threads may import, and so parse, meanwhile)."""
    try:
        return ast.parse(text)
    except SystemError:
        return ast.parse(text)


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("_gen/"):
            continue
        parts = ["scaigrid_client", *relative[:-3].split("/")]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports, at the top or inside a
    function (a lazy import still ties the two modules together).
    TYPE_CHECKING-only imports are left out: they are not run."""
    tree = _parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def _too_big(relative: str, text: str) -> list[str]:
    found = []
    tree = _parse(text)
    lines = len(text.splitlines())
    if lines > MAX_MODULE:
        found.append(f"{relative}: module of {lines} lines (> {MAX_MODULE})")
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            end = node.end_lineno or node.lineno
            size = end - node.lineno + 1
            limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
            if size > limit:
                found.append(f"{relative}: {node.name} is {size} lines (> {limit})")
    return found


def test_no_import_cycles() -> None:
    modules = _modules()
    assert len(modules) > 40, PACKAGE  # the package was found, not an empty folder
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # A package's __init__ re-exports its modules; importing a submodule
    # runs its package first, which is no cycle of the code's making.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    cycles = _cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_functions_classes_and_modules_fit_on_a_screen() -> None:
    too_big = []
    for path in _modules().values():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative not in GENERATED:
            too_big += _too_big(relative, path.read_text())
    assert too_big == []


def test_the_checks_see_a_cycle_and_a_long_function(tmp_path: pathlib.Path) -> None:
    """The checks above can fail: a lazy import that closes a cycle, and a
    function one line too long, are both found."""
    (tmp_path / "a.py").write_text("from pkg import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from pkg import a\n")
    known = {"pkg.a", "pkg.b"}
    graph = {name: _imports(name, tmp_path / f"{name[4:]}.py", known) for name in known}
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    assert _too_big("m.py", f"def long():\n{body}\n") == ["m.py: long is 81 lines (> 80)"]
    assert _too_big("m.py", f"def fits():\n{body[: body.rindex(chr(10))]}\n") == []
    documented = f'def long():\n    """Docs."""\n{body[: body.rindex(chr(10))]}\n'
    # docstrings count: the limits are lines to scroll through
    assert _too_big("m.py", documented) == ["m.py: long is 81 lines (> 80)"]

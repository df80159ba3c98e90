"""Run the test suite against the built wheel on several Python x grpcio x protobuf cells.

Each cell is its own virtual environment under .matrix/, made and filled by
.venv's uv: the wheel, its `testing` and `cli` extras, explicit pins of
grpcio and protobuf (none for "newest": uv takes the newest it finds) and the
test tools of the dev extra (not the generation, lint or typing tools). The
suite runs from tests/ against the installed wheel, never the work tree.

    python tools/matrix.py         # make test: the oldest pair on the oldest
                                   # Python (and the newest pair on the newest,
                                   # unless .venv is on it: see default_cells)
    python tools/matrix.py --grid  # every present Python x every pair below
    python tools/matrix.py --grid --only protobuf5   # the cells whose name has that
    python tools/matrix.py --prepare   # build the wheel and the cells' venvs only
    python tools/matrix.py --full      # the slow and serial tests too

The cells deselect the tests marked slow or serial and the CLI's tests
(`make test` runs those once, in .venv) unless --full is given, and run
--jobs of them at once (default 2). A cell's venv is installed once per
wheel and pins (a stamp file in it), so a run after --prepare goes straight
to the tests. A supported Python that is not on this machine gets a SKIP
line. A table of the cells closes the run; the exit status is 1 if any cell
failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import tomllib  # the script runs on .venv's Python; tomllib needs 3.11
from pythons import PYTHONS, find_pythons, find_uv as uv  # tools/, beside this script

ROOT = pathlib.Path(__file__).resolve().parent.parent
MATRIX = ROOT / ".matrix"
OLDEST = ("1.70.0", "5.29.1")
NEWEST = (None, None)
# The wider grid: each protobuf major at its oldest and newest, the runtimes
# that warn about older gencode (6.30, 6.31), and grpcio from oldest to newest.
GRID_PAIRS = (
    OLDEST,
    ("1.85.3", "5.29.6"),
    ("1.72.2", "6.30.2"),
    ("1.74.0", "6.31.1"),
    ("1.78.0", "6.32.1"),
    ("1.81.0", "6.33.6"),
    ("1.82.1", "7.35.1"),
    NEWEST,
)
# Pairs where no grpcio-health-checking/-reflection release fits (each pins
# protobuf to its major and needs a grpcio as new as itself): the wheel alone
# must still import and work.
CORE_ONLY_PAIRS = (
    ("1.70.0", "6.33.6"),
    ("1.70.0", "7.36.2"),
    ("1.85.3", "7.34.2"),
)
# Dev-extra packages that are for generation, lint, type checking or the docs
# site only.
NOT_FOR_TESTS = re.compile(r"^(buf-bin|mypy-protobuf|mypy|ruff|types-.*|sphinx|furo|myst-parser)\b")
# What the cell reports about itself, run with -W error: the import and a
# client's construction must not warn.
VERSIONS = (
    "import sys, grpc, google.protobuf, scaigrid_client;"
    "from google.protobuf.internal import api_implementation;"
    "from scaigrid_client import ScaiGrid;"
    "assert 'site-packages' in scaigrid_client.__file__, scaigrid_client.__file__;"
    "ScaiGrid('localhost', token='t', tls=False);"
    "print(f'{grpc.__version__} {google.protobuf.__version__} {api_implementation.Type()}')"
)
# pytest's closing line, with or without -q's missing "=" banner.
SUMMARY = re.compile(r"^=*\s*(\d+ \w+(?:, \d+ \w+)*) in [\d.]+s", re.MULTILINE)


@dataclasses.dataclass
class Cell:
    python: str
    interpreter: str
    grpcio: str | None
    protobuf: str | None
    installed: str = ""
    result: str = "not run"
    ok: bool = False
    seconds: float = 0.0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    # False: the `testing` extra is not expected to resolve on this pair, so
    # the cell falls back to the wheel alone and a client smoke test.
    full_required: bool = True

    @property
    def name(self) -> str:
        return (
            f"py{self.python}-grpcio{self.grpcio or 'newest'}-protobuf{self.protobuf or 'newest'}"
        )


def test_requirements() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        dev = tomllib.load(f)["project"]["optional-dependencies"]["dev"]
    return [req for req in dev if not NOT_FOR_TESTS.match(req)]


def build_wheel() -> pathlib.Path:
    dist = MATRIX / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run(
        [uv(), "build", "--quiet", "--wheel", "--out-dir", str(dist), str(ROOT)], check=True
    )
    (wheel,) = dist.glob("scaigrid_client-*.whl")
    return wheel


def stage_suite() -> pathlib.Path:
    """A copy of the suite with no scaigrid_client beside it, so that the
    tests import the installed wheel (they import each other as `tests.*`)."""
    suite = MATRIX / "suite"
    shutil.rmtree(suite, ignore_errors=True)
    suite.mkdir()
    # (tools/ and docs/: the API snapshot's writer and the snapshot it checks,
    # the docs' sources; not the site `make docs` may be writing meanwhile)
    for name in ("tests", "examples", "tools", "docs"):
        shutil.copytree(
            ROOT / name, suite / name, ignore=shutil.ignore_patterns("__pycache__", "_build")
        )
    shutil.copy(ROOT / "pyproject.toml", suite)
    return suite


def core_smoke(python: pathlib.Path, run: Callable[..., bool]) -> bool:
    """tests/package/test_dependency_window.py's client script, under -W error, against
    standalone fakes from .venv: for a cell without the `testing` extra."""
    sys.path.insert(0, str(ROOT))
    from tests.package.test_dependency_window import CLIENT, TOKEN
    from tests.support.standalone import Standalone

    with (
        tempfile.TemporaryDirectory() as certs,
        Standalone(TOKEN) as plain,
        Standalone(TOKEN, "--tls-dir", certs, "--require-client-cert") as mtls,
    ):
        return run(python, "-W", "error", "-c", CLIENT, TOKEN, plain.target, mtls.target, certs)


def run_cell(
    cell: Cell,
    wheel: pathlib.Path,
    requirements: list[str],
    suite: pathlib.Path,
    *,
    prepare: bool = False,
    full: bool = False,
) -> None:
    env_dir = MATRIX / cell.name
    python = env_dir / "bin" / "python"
    pins = [f"grpcio=={cell.grpcio}" if cell.grpcio else "grpcio"]
    pins.append(f"protobuf=={cell.protobuf}" if cell.protobuf else "protobuf")
    # --only-binary: a missing wheel is a finding, not a 20-minute source build.
    # Bytecode compiled at install, as pip does: the suite runs with
    # PYTHONDONTWRITEBYTECODE, and each subprocess would compile grpc again.
    install = (uv(), "pip", "install", "--quiet", "--python", python, "--compile-bytecode")
    resolve = (
        *install, "--upgrade", "--only-binary", "grpcio", "--only-binary", "protobuf",
        "--only-binary", "grpcio-health-checking", "--only-binary", "grpcio-reflection",
    )  # fmt: skip
    started = time.monotonic()
    with (MATRIX / f"{cell.name}.log").open("w") as log:
        last = ""

        def run(*args: str | pathlib.Path) -> bool:
            nonlocal last
            log.write(f"$ {' '.join(map(str, args))}\n")
            log.flush()
            done = subprocess.run(
                [str(a) for a in args],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=suite,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            log.write(done.stdout)
            log.flush()
            last = done.stdout
            return done.returncode == 0

        if not python.exists() and not run(
            uv(), "venv", "--quiet", "--python", cell.interpreter, env_dir
        ):
            cell.result = "venv failed"
            return
        # What this venv was installed from; the same again needs no install.
        stamp = env_dir / ".installed"
        wanted = hashlib.sha256(
            "\n".join([wheel.name, *pins, *requirements]).encode() + wheel.read_bytes()
        ).hexdigest()
        stamped = stamp.read_text().split() if stamp.exists() else []
        if stamped[:1] == [wanted]:
            with_extra = stamped[1:] == ["testing"]
            log.write(f"(installed from this wheel and these pins already: {stamp})\n")
        else:
            stamp.unlink(missing_ok=True)
            with_extra = run(*resolve, f"{wheel}[testing,cli]", *pins, *requirements)
            if not with_extra and (cell.full_required or not run(*resolve, wheel, *pins)):
                cell.result = "does not resolve"
                return
            # The same version of the wheel may be installed from an earlier run.
            run(*install, "--no-deps", "--reinstall", "--refresh-package", "scaigrid-client", wheel)
            stamp.write_text(f"{wanted} {'testing' if with_extra else 'core'}\n")
        if not run(python, "-W", "error", "-c", VERSIONS):
            cell.result = "import failed"
            return
        cell.installed = last.strip().splitlines()[-1]
        if prepare:
            cell.ok = True
            cell.seconds = time.monotonic() - started
            cell.result = "prepared"
            return
        if not with_extra:
            cell.ok = core_smoke(python, run)
            cell.seconds = time.monotonic() - started
            verdict = "passed" if cell.ok else "FAILED"
            cell.result = f"[testing] does not resolve; client smoke {verdict}"
            return
        # The CLI's tests check its words, flags and exit codes over the same
        # calls the rest of the suite makes: .venv runs them once (--full: here too).
        select = [] if full else ["-m", "not slow and not serial", "--ignore", "tests/cli"]
        # Its own temporary directory, as the suite in .venv runs beside the
        # cells and pytest prunes old numbered ones; a short path, as a unix
        # socket's is limited to 107 bytes.
        basetemp = tempfile.mkdtemp(prefix="sgm-")
        try:
            cell.ok = run(
                python,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--basetemp",
                basetemp,
                *select,
                "tests",
            )
        finally:
            shutil.rmtree(basetemp, ignore_errors=True)
        cell.seconds = time.monotonic() - started
        summary = SUMMARY.findall(last)
        cell.result = summary[-1] if summary else "pytest printed no summary"
        for count, kind in re.findall(r"(\d+) (\w+)", cell.result):
            cell.counts[kind] = int(count)


def default_cells(pythons: dict[str, str], present: list[str]) -> list[Cell]:
    """The two ends of the window: the oldest pair on the oldest Python, the
    newest on the newest. .venv on the newest Python (the Makefile builds it
    there) is the newest end itself: its suite is every test on the newest
    grpcio and protobuf, so no cell repeats it."""
    for wanted, got in ((PYTHONS[0], present[0]), (PYTHONS[-1], present[-1])):
        if wanted != got:
            print(f"SKIP: Python {wanted} is absent; its cell runs on Python {got}", flush=True)
    cells = [Cell(present[0], pythons[present[0]], *OLDEST)]
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here == present[-1] and len(present) > 1:
        print(
            f"matrix: the newest end (Python {here}, the newest grpcio and protobuf)"
            " is .venv's own suite; one cell, the oldest end",
            flush=True,
        )
    else:
        cells.append(Cell(present[-1], pythons[present[-1]], *NEWEST))
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", action="store_true", help="every Python x every pair")
    parser.add_argument("--only", metavar="TEXT", help="only the cells whose name contains TEXT")
    parser.add_argument("--full", action="store_true", help="the slow and serial tests too")
    parser.add_argument("--jobs", type=int, default=2, help="cells at once (default 2)")
    parser.add_argument(
        "--prepare", action="store_true", help="build the wheel and the cells' venvs; no tests"
    )
    args = parser.parse_args()
    # Started in the background (`make test &`, a CI step), sh ignores SIGINT;
    # an ignored signal stays ignored in every child, and the suite sends the
    # CLI a Ctrl-C. A handler of our own is reset to the default in each child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    MATRIX.mkdir(exist_ok=True)
    pythons = find_pythons()
    for version in PYTHONS:
        if version not in pythons:
            print(f"SKIP: Python {version} is not on this machine; no cell runs on it", flush=True)
    if not pythons:
        print("FAIL: no supported Python found", flush=True)
        return 1
    present = sorted(pythons, key=lambda v: tuple(map(int, v.split("."))))
    if args.grid:
        cells = [Cell(v, pythons[v], *pair) for v in present for pair in GRID_PAIRS]
        cells += [
            Cell(v, pythons[v], *pair, full_required=False)
            for v in present
            for pair in CORE_ONLY_PAIRS
        ]
    else:
        cells = default_cells(pythons, present)
    if args.only:
        cells = [cell for cell in cells if args.only in cell.name]
    wheel = build_wheel()
    suite = stage_suite()
    requirements = test_requirements()
    what = (
        "prepare" if args.prepare else "every test" if args.full else "-m 'not slow and not serial'"
    )
    print(
        f"matrix: {wheel.name}, {len(cells)} cells ({what}, {args.jobs} at once),"
        f" logs in {MATRIX.relative_to(ROOT)}/",
        flush=True,
    )
    printing = threading.Lock()

    def one(cell: Cell) -> None:
        with printing:
            print(f"matrix: {cell.name} ...", flush=True)
        run_cell(cell, wheel, requirements, suite, prepare=args.prepare, full=args.full)
        with printing:
            print(f"matrix: {cell.name}: {cell.result} ({cell.seconds:.0f} s)", flush=True)
            if not cell.ok:
                log = (MATRIX / f"{cell.name}.log").read_text().splitlines()
                print("\n".join(log[-60:]), flush=True)

    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for done in [pool.submit(one, cell) for cell in cells]:
            done.result()
    if args.prepare:
        return 1 if any(not c.ok for c in cells) else 0
    print()
    header = ("Python", "grpcio pin", "protobuf pin", "installed grpcio protobuf impl", "result")
    rows = [header] + [
        (c.python, c.grpcio or "newest", c.protobuf or "newest", c.installed or "-", c.result)
        for c in cells
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        )
    total = {
        kind: sum(c.counts.get(kind, 0) for c in cells) for kind in ("passed", "failed", "skipped")
    }
    failed_cells = sum(not c.ok for c in cells)
    print(f"matrix: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    if failed_cells:
        print(f"matrix: {failed_cells} of {len(cells)} cells failed")
    return 1 if failed_cells else 0


if __name__ == "__main__":
    sys.exit(main())

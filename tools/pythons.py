"""The supported Pythons on this machine: pyenv's builds first, then PATH.

    python3 tools/pythons.py --newest   # the newest one's path (the Makefile's PYTHON)

`make` builds .venv on the newest, so that the suite there is the newest end
of the dependency window (the newest Python, grpcio and protobuf);
tools/matrix.py's cell is the oldest end. Runs on any Python 3.10+.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def find_pythons() -> dict[str, str]:
    """Each supported Python present here, by version: its interpreter's path."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found: dict[str, str] = {}
    for version in PYTHONS:
        builds = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
        exe = builds[-1] if builds else shutil.which(f"python{version}")
        if exe:
            found[version] = exe
    return found


def find_uv() -> str:
    """The uv that `make` installed beside the running interpreter (.venv/bin),
    else PATH's: every environment here is made with it."""
    beside = os.path.join(os.path.dirname(sys.executable), "uv")
    found = beside if os.path.exists(beside) else shutil.which("uv")
    if not found:
        sys.exit("needs uv: `make venv` installs it in .venv")
    return found


if __name__ == "__main__":
    if sys.argv[1:] != ["--newest"]:
        sys.exit("usage: python3 tools/pythons.py --newest")
    pythons = find_pythons()
    if not pythons:
        sys.exit("no supported Python (3.10+) found")
    print(list(pythons.values())[-1])  # (found in PYTHONS' order, oldest first)

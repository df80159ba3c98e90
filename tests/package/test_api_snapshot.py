"""The public API is guarded: docs/public-api.txt is every public name and
signature, and the suite fails when the code and it disagree (run `make
api` after a change made on purpose, and say so in the CHANGELOG)."""

from __future__ import annotations

import difflib
import importlib.util
import pathlib
import sys
from types import ModuleType

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_snapshot", ROOT / "tools/api_snapshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("api_snapshot", module)
    spec.loader.exec_module(module)
    return module


def test_the_public_api_is_the_committed_snapshot() -> None:
    tool = _tool()
    committed = tool.TARGET.read_text()
    current = tool.render()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "docs/public-api.txt",
            "the code",
        )
    )
    assert current == committed, (
        "the public API changed; if on purpose, run 'make api' and add it to the CHANGELOG:\n"
        + diff
    )


def test_a_changed_signature_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from scaigrid_client import CoreRuntimeClient

    async def passivate_core(self: object, core_id: str, *, force: bool = False) -> None:
        """A deliberate change: a new keyword."""

    passivate_core.__module__ = CoreRuntimeClient.__module__
    monkeypatch.setattr(CoreRuntimeClient, "passivate_core", passivate_core)
    tool = _tool()
    changed = [
        line
        for line in tool.render().splitlines()
        if line not in tool.TARGET.read_text().splitlines()
    ]
    assert len(changed) == 1 and "passivate_core" in changed[0] and "force" in changed[0]

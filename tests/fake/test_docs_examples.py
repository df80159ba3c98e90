"""The examples in docs/testing.md run: every ```python block marked
``<!-- runs in tests/fake/test_docs_examples.py -->`` is a whole program
(top-level ``await`` allowed) that asserts what the text says."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_MARK = "<!-- runs in tests/fake/test_docs_examples.py -->\n```python\n"


def _examples() -> list[tuple[int, str]]:
    text = DOC.read_text()
    found = []
    for match in re.finditer(re.escape(_MARK) + r"(.*?)^```", text, re.DOTALL | re.MULTILINE):
        line = text.count("\n", 0, match.start(1)) + 1
        found.append((line, match.group(1)))
    return found


EXAMPLES = _examples()


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 1


@pytest.mark.asyncio
@pytest.mark.parametrize(("line", "source"), EXAMPLES, ids=[f"line{n}" for n, _ in EXAMPLES])
async def test_example_runs(line: int, source: str) -> None:
    code = compile(
        "\n" * (line - 1) + source,
        str(DOC),
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
    )
    result = eval(code, {"__name__": "docs_example"})  # noqa: S307 - our own docs
    if result is not None:
        await result

"""Where and how results go: terminal tables, plain or JSON lines, notes on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


class Output:
    """Where and how results go: terminal tables, plain lines, or JSON."""

    def __init__(self, as_json: bool, verbose: int) -> None:
        self.json = as_json
        self.verbose = verbose
        self.out: TextIO = sys.stdout
        self.tty = sys.stdout.isatty()

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def json_line(self, value: object) -> None:
        # allow_nan=False: to_dict already spells NaN and infinities as strings.
        self.line(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False))

    def note(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.tty:
            with contextlib.suppress(ImportError):
                from rich.console import Console
                from rich.table import Table

                table = Table(*headers)
                for row in rows:
                    table.add_row(*row)
                Console().print(table)
                return
        self.line("\t".join(headers))
        for row in rows:
            self.line("\t".join(row))


def short_name(enum: Any, value: int, prefix: str) -> str:
    """An enum value for a text line: its name without ``prefix``, or the
    number when this SDK does not know it (a newer gateway's value)."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)

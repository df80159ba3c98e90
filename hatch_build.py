"""Keep .gitignore out of the sdist.

hatchling force-includes the project's .gitignore in every sdist (so that a
build from the sdist excludes the same files); this sdist names what it
ships explicitly (pyproject's sdist include and exclude), so it has no use
for it, and downstream packagers flag it as a stray file.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DropGitignore(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        force_include = build_data.get("force_include", {})
        for source, target in list(force_include.items()):
            if target == ".gitignore":
                del force_include[source]

"""The command line's reference, written from its argparse parser at
docs-build time (``make docs`` runs it), so the page cannot drift from
``scaigrid --help``.

    python tools/gen_cli_docs.py [OUT_FILE]   # default docs/reference/cli.md

Every command and subcommand with its description, positionals and flags
(help, default, choices) and example; the global options once; the exit
codes from ``scaigrid_client._cli._errors.EXIT_CODES``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from scaigrid_client._cli._errors import EXIT_CODES
from scaigrid_client._cli._parser import build_parser

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference" / "cli.md"


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return cell(parser._get_formatter()._expand_help(action))


def name_of(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        takes_value = action.nargs != 0
        metavar = action.metavar or (action.dest.upper() if takes_value else None)
        if takes_value and isinstance(metavar, str):
            names += f" {metavar}"
        return f"`{names}`"
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if action.nargs in ("*", "+", argparse.REMAINDER):
        metavar += " ..."
    if action.nargs == "?":
        metavar = f"[{metavar}]"
    return f"`{metavar}`"


def default_of(action: argparse.Action) -> str:
    default = action.default
    if action.nargs == 0 or default in (None, argparse.SUPPRESS, [], ()):
        return ""
    return f"`{default}`"


def meaning(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = help_text(parser, action)
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        text += (
            (" " if text else "") + "One of: " + ", ".join(f"`{c}`" for c in action.choices) + "."
        )
    return text


def shared_key(parser: argparse.ArgumentParser, action: argparse.Action) -> tuple[object, ...]:
    return (tuple(action.option_strings), help_text(parser, action))


def table(parser: argparse.ArgumentParser, actions: list[argparse.Action]) -> list[str]:
    if not actions:
        return []
    lines = ["| Argument | Meaning | Default |", "| --- | --- | --- |"]
    for action in actions:
        lines.append(f"| {name_of(action)} | {meaning(parser, action)} | {default_of(action)} |")
    return [*lines, ""]


def example_of(parser: argparse.ArgumentParser) -> list[str]:
    epilog = parser.epilog or ""
    if "example:" not in epilog:
        return []
    example = epilog.split("example:", 1)[1].strip("\n")
    lines = [line[2:] if line.startswith("  ") else line for line in example.splitlines()]
    return ["```console", *(f"$ {line}" if line.strip() else line for line in lines), "```", ""]


def command(
    parser: argparse.ArgumentParser, path: str, global_keys: set[tuple[object, ...]], depth: int
) -> list[str]:
    heading = "#" * min(depth, 4)
    out = [f"{heading} `{path}`", "", parser.description or "", ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    own, shared, children = [], [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            children.append(action)
            continue
        if action.option_strings and shared_key(parser, action) in global_keys:
            shared.append(action.option_strings[-1])
        else:
            own.append(action)
    out += table(parser, own)
    if shared:
        out += ["Also takes the global options " + ", ".join(f"`{s}`" for s in shared) + ".", ""]
    out += example_of(parser)
    for sub in children:
        for name, child in sub.choices.items():
            out += command(child, f"{path} {name}", global_keys, depth + 1)
    return out


def render() -> str:
    os.environ["COLUMNS"] = "80"  # argparse wraps usage to the terminal: the same page everywhere
    parser = build_parser()
    globals_ = [
        a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
    ]
    global_keys = {shared_key(parser, a) for a in globals_}
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {c.dest: help_text(parser, c) for c in subcommands._choices_actions}
    out = [
        "# Command line",
        "",
        "<!-- Written by tools/gen_cli_docs.py from the argparse parser at docs-build time. -->",
        "",
        "`pip install 'scaigrid-client[cli]'` gives the `scaigrid` command. "
        "Every flag below is what `scaigrid COMMAND --help` prints.",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        "| Command | What it does |",
        "| --- | --- |",
        *(
            f"| [`{name}`](#scaigrid-{name}) | {summaries.get(name, '')} |"
            for name in subcommands.choices
        ),
        "",
        "## Global options",
        "",
        "Before the command; `--json`, `-v`, `--timeout` and `--request-id` also after it.",
        "",
        *table(parser, globals_),
        "Environment: `SCAIGRID_TARGET`, `SCAIGRID_SERVICE_TOKEN`, `SCAIGRID_PLAINTEXT=1`.",
        "",
        "## Exit codes",
        "",
        "| Code | Meaning |",
        "| --- | --- |",
        *(f"| {code} | {what} |" for what, code in EXIT_CODES.items()),
        "",
        "## Commands",
        "",
    ]
    for name, child in subcommands.choices.items():
        out += command(child, f"scaigrid {name}", global_keys, 3)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    out = pathlib.Path(argv[0]) if argv else OUT
    text = render()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

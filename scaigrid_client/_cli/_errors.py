"""The one place where a failure becomes what the user sees.

The SDK's argument errors (``ValueError``), the server's and the
connection's errors (``errors.ScaiGridError``, TLS and proxy setup
included) and the CLI's own usage errors become a message in the CLI's
terms (``--timeout``, not ``timeout=``), a hint, an exit code, and one line
(or one JSON object) on stderr. Commands raise; nothing else translates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import traceback
from typing import Any

from scaigrid_client import errors

# Exit codes, by what went wrong. Usage errors are argparse's 2.
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "job did not succeed": 1,
    "fake could not listen": 1,
    "a conformance case failed": 1,
    "usage": 2,
    "authentication": 3,
    "permission denied": 4,
    "not found": 5,
    "invalid argument or state": 6,
    "rate limited or exhausted": 7,
    "unavailable": 8,
    "deadline exceeded": 9,
    "other server error": 10,
    "interrupted (Ctrl-C)": 130,
}
_STATUS_EXIT: list[tuple[type[errors.ScaiGridError], str]] = [
    (errors.AuthenticationError, "authentication"),
    (errors.PermissionDeniedError, "permission denied"),
    (errors.NotFoundError, "not found"),
    (errors.InvalidArgumentError, "invalid argument or state"),
    (errors.FailedPreconditionError, "invalid argument or state"),
    (errors.RateLimitError, "rate limited or exhausted"),
    (errors.UnavailableError, "unavailable"),
    (errors.DeadlineExceededError, "deadline exceeded"),
]


class UsageError(Exception):
    """A bad argument found after parsing; exits 2."""


# What main() hands to report(); anything else is a bug and keeps its traceback.
HANDLED = (KeyboardInterrupt, errors.ScaiGridError, UsageError, ValueError, BrokenPipeError)

# SDK argument -> the flag (or positional) of the CLI that sets it, so that
# the SDK's "gpus: must be ..." reaches the user as "--gpus: must be ...".
SDK_FLAGS: dict[str, str] = {
    "model": "--model",
    "messages": "PROMPT",
    "max_tokens": "--max-tokens",
    "temperature": "--temperature",
    "inputs": "TEXT",
    "after_sequence": "--after",
    "name": "--name",
    "base_model": "--base-model",
    "dataset": "--dataset",
    "gpus": "--gpus",
    "max_steps": "--max-steps",
    "hyperparameters": "--param",
    "job_id": "JOB_ID",
    "core_id": "CORE_ID",
    "payload": "--payload",
    "content_type": "--content-type",
    "node_id": "NODE_ID",
    "gpu_type": "--gpu-type",
    "address": "--address",
    "gpu_count": "--gpus",
    "gpu_utilization": "--utilization",
    "queue_depth": "--queue-depth",
    "loaded_models": "--model",
    "target": "--target",
    "token": "--token",
    "timeout": "--timeout",
    "proxy": "--proxy",
    "request_id": "--request-id",
    "TLSConfig.ca_cert": "--ca-cert",
    "TLSConfig.client_cert": "--client-cert",
    "TLSConfig.client_key": "--client-key",
    "TLSConfig.server_name": "--server-name",
}
# "gpus: ...", "inputs[1]: ...", "messages[0].content: ...", "TLSConfig.ca_cert: ..."
_LEADING_NAME = re.compile(r"^(?P<path>[A-Za-z_][\w.\[\]]*): ")
# The SDK's advice inside a message: "TLSConfig(ca_cert=...)", "tls=False", and
# TLSConfig's field names ("the key does not belong to client_cert").
_SDK_WORDS = re.compile(
    r"TLSConfig\((?P<fields>\w+=\.\.\.(?:, \w+=\.\.\.)*)\)|tls=False"
    r"|\b(?P<field>ca_cert|client_cert|client_key|server_name)\b"
)


# The SDK's and the fake's advice that names a keyword: the CLI names its flag.
_KEYWORD_ADVICE = (
    ("(timeout= of this call)", "(--timeout)"),
    ("pass timeout= to the call to change it", "pass --timeout to change it"),
    ("pass timeout= to change it", "pass --timeout to change it"),
    ("the client's default timeout=", "--timeout"),
    ("pass port=0 for a free one", "pass --port 0 for a free one"),
)


def cli_words(text: str) -> str:
    """``text`` with the SDK's advice in keywords (``timeout=``, ``port=0``)
    given as the CLI's flags."""
    for sdk, cli in _KEYWORD_ADVICE:
        text = text.replace(sdk, cli)
    return text


def _flags_for(text: str, plaintext: str) -> str:
    """``text`` with the SDK's argument names replaced by the CLI's flags;
    ``plaintext`` is what turned TLS off (``--plaintext`` or the variable)."""

    def flag(match: re.Match[str]) -> str:
        if match.group("field"):
            return SDK_FLAGS[f"TLSConfig.{match.group('field')}"]
        if match.group("fields"):
            names = [f.partition("=")[0] for f in match.group("fields").split(", ")]
            return "/".join(SDK_FLAGS.get(f"TLSConfig.{n}", n) for n in names)
        return plaintext

    return cli_words(_SDK_WORDS.sub(flag, text))


def _usage_text(error: ValueError, plaintext: str) -> str:
    """An SDK argument error in the CLI's terms, led by the flag's name."""
    text = str(error)
    match = _LEADING_NAME.match(text)
    if match:
        # "messages[0].content" -> "messages.content", then "messages".
        path = re.sub(r"\[\d+\]", "", match.group("path"))
        while path not in SDK_FLAGS and "." in path:
            path = path.rpartition(".")[0]
        if path in SDK_FLAGS:
            text = f"{SDK_FLAGS[path]}: {text[match.end() :]}"
    return _flags_for(text, plaintext)


def _server_text(error: errors.ScaiGridError, plaintext: str) -> str:
    """A server or connection error's message in the CLI's terms. For a TLS
    failure, the SDK's advice gives way to the hint, which names flags."""
    message = error.message
    reason = getattr(error, "reason", None)
    sdk_text = getattr(errors, "TLS_FAILURE_TEXT", {}).get(reason)
    if isinstance(sdk_text, str) and sdk_text in message:
        message = message.replace(sdk_text, sdk_text.partition("; ")[0])
    return _flags_for(message, plaintext)


def _tls_hint(reason: str, args: argparse.Namespace) -> str:
    plaintext = args.plaintext_source or "--plaintext"
    hints = {
        "unknown_ca": "pass --ca-cert with the PEM of the CA that signed the gateway's certificate",
        "hostname_mismatch": "connect by a name in the gateway's certificate (--target), "
        "or pass --server-name with that name",
        "not_tls": "the gateway serves plaintext: add --plaintext (or set SCAIGRID_PLAINTEXT=1)",
        "tls_required": f"the gateway serves TLS: drop {plaintext}, and pass --ca-cert "
        "if its CA is private",
        "client_cert_required": "the gateway requires mTLS: pass --client-cert and --client-key",
        "client_cert_rejected": "pass --client-cert/--client-key issued by a CA the gateway "
        "trusts for clients",
        "client_cert_expired": "the --client-cert certificate has expired (or is not valid "
        "yet): pass a current one",
        "client_key_mismatch": "--client-key must be the key of the --client-cert certificate",
    }
    return hints.get(reason, "")


def _hint(error: errors.ScaiGridError, args: argparse.Namespace) -> str:
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        return _tls_hint(reason, args)
    if type(error).__name__ == "NameResolutionError":
        return f"check --target (or SCAIGRID_TARGET): {args.target!r} does not resolve"
    if isinstance(error, errors.ApiKeyNotAcceptedError):
        return "service tokens are not HTTP API keys; get a service token from ScaiKey"
    if isinstance(error, errors.TokenExpiredError):
        return "the service token expired; get a new one from ScaiKey"
    if isinstance(error, errors.AuthenticationError):
        return "check --token or SCAIGRID_SERVICE_TOKEN"
    if isinstance(error, errors.PermissionDeniedError):
        return "the token's scopes must cover this service"
    if error.code == "model_not_found":
        return "'scaigrid models' lists the available models"
    if isinstance(error, errors.UnavailableError) and "through the HTTP proxy" in error.message:
        return "is the proxy given by --proxy running and reachable from here?"
    if isinstance(error, errors.UnavailableError) and str(args.target or "").startswith("xds:"):
        return (
            f"does the mesh's control plane (the xDS bootstrap's xds_servers) know "
            f"{args.target}, and are its endpoints up?"
        )
    if isinstance(error, errors.UnavailableError):
        tls = "" if args.plaintext_source else "; add --plaintext for a gateway without TLS"
        return f"is a gateway running at {args.target}?{tls}"
    return ""


def _describe(args: argparse.Namespace) -> str:
    parts = [args.command]
    for extra in ("jobs_command", "action"):
        value = getattr(args, extra, None)
        if value:
            parts.append(value)
    return " ".join(parts)


def _exit_code(error: errors.ScaiGridError) -> int:
    for cls, name in _STATUS_EXIT:
        if isinstance(error, cls):
            return EXIT_CODES[name]
    return EXIT_CODES["other server error"]


def write_json_error(
    name: str,
    message: str,
    exit_code: int,
    *,
    error: errors.ScaiGridError | None = None,
    hint: str = "",
) -> None:
    """An error as one JSON object on stderr (``--json``)."""
    report: dict[str, Any] = {
        "error": name,
        "status": error.status.name if error is not None else None,
        "code": error.code if error is not None else None,
        "message": message,
        "request_id": error.request_id if error is not None else None,
        "exit_code": exit_code,
    }
    if hint:
        report["hint"] = hint
    sys.stderr.write(json.dumps(report, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def _print_traceback(error: BaseException) -> None:
    traceback.print_exception(type(error), error, error.__traceback__)


def _server_error(error: errors.ScaiGridError, args: argparse.Namespace) -> int:
    if args.verbose:
        _print_traceback(error)
    message = _server_text(error, args.plaintext_source or "--plaintext")
    hint = _hint(error, args)
    exit_code = _exit_code(error)
    if args.json:
        write_json_error(type(error).__name__, message, exit_code, error=error, hint=hint)
        return exit_code
    code = f", {error.code}" if error.code else ""
    line = (
        f"scaigrid: {_describe(args)} failed: {message} "
        f"({error.status.name}{code}; request id {error.request_id})"
    )
    sys.stderr.write(line + (f"\nhint: {hint}" if hint else "") + "\n")
    return exit_code


def _usage_error(
    error: UsageError | ValueError, args: argparse.Namespace, parser: argparse.ArgumentParser
) -> int:
    if args.verbose:
        _print_traceback(error)
    text = (
        str(error)
        if isinstance(error, UsageError)
        else _usage_text(error, args.plaintext_source or "--plaintext")
    )
    if args.json:
        write_json_error("UsageError", text, EXIT_CODES["usage"])
        return EXIT_CODES["usage"]
    parser.exit(EXIT_CODES["usage"], f"scaigrid: error: {text}\n")


def report(error: BaseException, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Tell the user what went wrong in ``error`` (one of ``HANDLED``);
    returns the exit code."""
    if isinstance(error, KeyboardInterrupt):
        sys.stderr.write("\n")
        return EXIT_CODES["interrupted (Ctrl-C)"]
    # Before ValueError: a server-side InvalidArgumentError is one too, and
    # it is the server's answer, not a usage error.
    if isinstance(error, errors.ScaiGridError):
        return _server_error(error, args)
    if isinstance(error, (UsageError, ValueError)):
        return _usage_error(error, args, parser)
    # BrokenPipeError: output piped into `head` and the like: stop quietly.
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 0

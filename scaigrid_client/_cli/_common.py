"""The flags more than one command shares, and what they become.

The root parser's connection flags (target, token, TLS, proxy), the flag
groups a command takes after its name (``OUTPUT_FLAGS``, ``CALL_FLAGS``),
argparse types shared by commands, and the SDK objects built from the flags:
the ``ScaiGrid`` to call and each call's options.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from scaigrid_client import ScaiGrid, TLSConfig
from scaigrid_client._cli._errors import UsageError
from scaigrid_client._methods import enum_value

_JSON_HELP = "JSON output (streams: one object per line); errors as JSON on stderr"
_VERBOSE_HELP = "log retries and stream resumes to stderr (-vv: debug), tracebacks"
_TIMEOUT_HELP = "deadline per call, in seconds (default: each method's own, 30 s for lookups)"
_REQUEST_ID_HELP = "x-request-id to send"


def _seconds(text: str) -> float:
    """``--timeout``: a positive number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def _add_connection_flags(parser: argparse.ArgumentParser, *, again: bool = False) -> None:
    """Where and how to connect. ``again``: for a command that takes them
    after its name too (SUPPRESS keeps the root's value unless given)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if again else value

    parser.add_argument(
        "--target",
        metavar="HOST[:PORT]",
        default=default(os.environ.get("SCAIGRID_TARGET") or "localhost:50051"),
        help="gateway address: host[:port], a gRPC URI or xds:///name (SCAIGRID_TARGET, "
        "else localhost:50051)",
    )
    parser.add_argument(
        "--token", default=default(None), help="service token (default: SCAIGRID_SERVICE_TOKEN)"
    )
    parser.add_argument(
        "--plaintext",
        action="store_true",
        default=default(False),
        help="no TLS (also SCAIGRID_PLAINTEXT=1)",
    )
    parser.add_argument(
        "--ca-cert",
        default=default(None),
        help="PEM file of the CA that signed the gateway's certificate",
    )
    parser.add_argument(
        "--client-cert", default=default(None), help="PEM client certificate, for mTLS"
    )
    parser.add_argument("--client-key", default=default(None), help="PEM client key, for mTLS")
    parser.add_argument(
        "--server-name",
        default=default(None),
        help="host name to verify the gateway's certificate for",
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        default=default(None),
        help="HTTP CONNECT proxy, http://[user:password@]host:port (default: grpc_proxy, "
        "https_proxy or http_proxy from the environment, except for hosts in no_proxy)",
    )


def add_global_flags(parser: argparse.ArgumentParser, version: str) -> None:
    """The flags given before the command: where and how to connect, and
    the output and call flags that commands take again after their name."""
    parser.add_argument("--version", action="version", version=version)
    _add_connection_flags(parser)
    parser.add_argument("--timeout", type=_seconds, metavar="SECONDS", help=_TIMEOUT_HELP)
    parser.add_argument("--request-id", metavar="ID", help=_REQUEST_ID_HELP)
    parser.add_argument("--json", action="store_true", help=_JSON_HELP)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)


# The flag groups a command also accepts after its name (`scaigrid models
# --json`). SUPPRESS keeps a flag given before the command from being reset.
def _output_flags() -> argparse.ArgumentParser:
    group = argparse.ArgumentParser(add_help=False)
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP)
    group.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=_VERBOSE_HELP
    )
    return group


def _call_flags(*, request_id: bool = True) -> argparse.ArgumentParser:
    group = argparse.ArgumentParser(add_help=False)
    group.add_argument(
        "--timeout", type=_seconds, default=argparse.SUPPRESS, metavar="SECONDS", help=_TIMEOUT_HELP
    )
    if request_id:
        group.add_argument(
            "--request-id", default=argparse.SUPPRESS, metavar="ID", help=_REQUEST_ID_HELP
        )
    return group


def _connection_flags() -> argparse.ArgumentParser:
    group = argparse.ArgumentParser(add_help=False)
    _add_connection_flags(group, again=True)
    return group


OUTPUT_FLAGS = _output_flags()
CALL_FLAGS = _call_flags()
# --timeout alone: for a command that makes many calls of its own (conformance).
TIMEOUT_FLAG = _call_flags(request_id=False)
# --target, --token, TLS and --proxy, after the command's name too.
CONNECTION_FLAGS = _connection_flags()
# What a command takes unless it declares otherwise (see _command.add_command).
SHARED_FLAGS: tuple[argparse.ArgumentParser, ...] = (OUTPUT_FLAGS, CALL_FLAGS)


def enum_flag(enum: Any, flag: str) -> Callable[[str], int]:
    """An argparse type for an enum flag, read the way the SDK reads enum
    arguments (a short name in any case, or the full name)."""

    def convert(text: str) -> int:
        try:
            return enum_value(text, enum, flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    return convert


def call_options(args: argparse.Namespace) -> dict[str, Any]:
    """The per-call keywords every SDK method takes, from the call flags."""
    options: dict[str, Any] = {}
    if args.request_id:
        options["request_id"] = args.request_id
    if args.timeout is not None:
        options["timeout"] = args.timeout
    return options


def plaintext_source(args: argparse.Namespace) -> str | None:
    """What turned TLS off, as the user wrote it, so messages can name it."""
    if args.plaintext:
        return "--plaintext"
    if os.environ.get("SCAIGRID_PLAINTEXT") == "1":
        return "SCAIGRID_PLAINTEXT=1"
    return None


def _tls(args: argparse.Namespace) -> bool | TLSConfig:
    tls_files = [
        flag
        for flag, value in (
            ("--ca-cert", args.ca_cert),
            ("--client-cert", args.client_cert),
            ("--client-key", args.client_key),
        )
        if value
    ]
    if args.plaintext_source:
        if tls_files:
            raise UsageError(
                f"{args.plaintext_source}: cannot be combined with {'/'.join(tls_files)} "
                "(TLS settings); drop one or the other"
            )
        return False
    if bool(args.client_cert) != bool(args.client_key):
        given, missing = (
            ("--client-cert", "--client-key")
            if args.client_cert
            else ("--client-key", "--client-cert")
        )
        raise UsageError(f"{given}: mTLS needs {missing} too")
    if tls_files or args.server_name:
        return TLSConfig(
            ca_cert=args.ca_cert,
            client_cert=args.client_cert,
            client_key=args.client_key,
            server_name=args.server_name,
        )
    return True


def grid_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``ScaiGrid`` keywords the connection flags describe
    (``args.plaintext_source`` set by main); a ``UsageError`` for flags that
    cannot work together."""
    if args.token is not None and not args.token.strip():
        raise UsageError("--token: empty; pass a service token, or leave --token out")
    token = args.token or os.environ.get("SCAIGRID_SERVICE_TOKEN")
    if not token:
        raise UsageError("--token: no service token; pass --token or set SCAIGRID_SERVICE_TOKEN")
    return {
        "target": args.target,
        "token": token,
        "tls": _tls(args),
        "timeout": args.timeout,
        "proxy": args.proxy,
    }


def open_grid(args: argparse.Namespace) -> ScaiGrid:
    """The ``ScaiGrid`` the connection flags describe (see ``grid_settings``)."""
    return ScaiGrid(**grid_settings(args))

"""The ``scaigrid`` command line.

Global options come before the subcommand. Output is a table or progress
bar on a terminal, and plain or JSON lines when piped. Errors are one line
on stderr; exit codes are listed in ``EXIT_CODES``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NoReturn, TextIO

from scaigrid_client import errors
from scaigrid_client._clients import ScaiGrid
from scaigrid_client._config import TLSConfig
from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client._methods import enum_short_names, enum_value
from scaigrid_client._to_dict import to_dict

# Exit codes, by what went wrong. Usage errors are argparse's 2.
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "job did not succeed": 1,
    "fake could not listen": 1,
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

EPILOG = """exit codes: 0 ok, 1 job did not succeed (or the fake could not listen),
2 usage, 3 authentication, 4 permission denied, 5 not found, 6 invalid argument
or state, 7 rate limited or exhausted, 8 unavailable, 9 deadline exceeded,
10 other server error, 130 interrupted.

With --json, results are JSON (streams: one object per line) and errors a
JSON object on stderr. -v logs retries and stream resumes; -vv more.

environment: SCAIGRID_TARGET, SCAIGRID_SERVICE_TOKEN, SCAIGRID_PLAINTEXT=1

example:
  scaigrid --plaintext --target localhost:50051 models
"""


class UsageError(Exception):
    """A bad argument found after parsing; exits 2."""


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

    return _SDK_WORDS.sub(flag, text)


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


# -- output ---------------------------------------------------------------------------


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


def _enum(enum: Any, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)


def _job_line(job: scaimind.Job) -> str:
    state = _enum(scaimind.JobState, job.state, "JOB_STATE_")
    spec = job.spec
    return (
        f"{job.id}\t{state}\tstep {job.current_step}/{spec.max_steps}\t"
        f"{spec.name}\t{spec.base_model}\tgpus={spec.gpus}"
    )


def _instance_line(instance: scaicore.CoreInstance) -> str:
    state = _enum(scaicore.CoreState, instance.state, "CORE_STATE_")
    return (
        f"{instance.core_id}\t{state}\tinvocations={instance.invocation_count}\t"
        f"last_sequence={instance.last_sequence}"
    )


# -- commands -------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, ScaiGrid, Output], Awaitable[int]]


def _call_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.request_id:
        options["request_id"] = args.request_id
    if args.timeout is not None:
        options["timeout"] = args.timeout
    return options


async def cmd_models(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    models = await grid.inference.list_models(**_call_options(args))
    if out.json:
        out.json_line([to_dict(m) for m in models])
        return 0
    rows = [
        [
            m.id,
            m.owner,
            str(m.context_length),
            ",".join(_enum(scaiinfer.Capability, c, "CAPABILITY_").lower() for c in m.capabilities),
        ]
        for m in models
    ]
    out.table(["id", "owner", "context", "capabilities"], rows)
    return 0


async def cmd_chat(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    # Unquoted words are one prompt, joined by spaces as echo would.
    prompt = sys.stdin.read() if args.prompt == ["-"] else " ".join(args.prompt)
    if not prompt.strip():
        raise UsageError("PROMPT: empty prompt; pass text, or - to read it from stdin")
    messages = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    stream = grid.inference.stream_inference(
        model=args.model,
        messages=messages,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        **_call_options(args),
    )
    last = None
    text = []
    async with stream:
        async for chunk in stream:
            if out.json:
                text.append(chunk.delta.content)
            else:
                out.out.write(chunk.delta.content)
                out.out.flush()
            last = chunk
    if out.json:
        final = to_dict(last) if last is not None else {}
        out.json_line(
            {
                "id": final.get("id"),
                "model": final.get("model"),
                "content": "".join(text),
                "finish_reason": final.get("finish_reason"),
                "usage": final.get("usage"),
                "request_id": stream.request_id,
            }
        )
    else:
        out.line()
    if out.verbose and last is not None and last.HasField("usage"):
        usage = last.usage
        out.note(
            f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion "
            f"(request id {stream.request_id})"
        )
    return 0


async def cmd_embed(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    vectors = await grid.inference.embed(model=args.model, inputs=args.text, **_call_options(args))
    if out.json:
        # Through to_dict, so that the float32 values print as everywhere else.
        out.json_line(
            [
                {"input": t, "embedding": to_dict(scaiinfer.Embedding(values=v))["values"]}
                for t, v in zip(args.text, vectors, strict=True)
            ]
        )
        return 0
    for i, (text, vector) in enumerate(zip(args.text, vectors, strict=True)):
        norm = math.sqrt(sum(x * x for x in vector))
        head = ", ".join(f"{x:+.4f}" for x in vector[:4])
        short = text if len(text) <= 30 else text[:27] + "..."
        out.line(f"[{i}] {short!r}: {len(vector)} dims, norm {norm:.3f}, [{head}, ...]")
    return 0


async def cmd_events(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    seen = 0
    stream = grid.core.stream_events(args.core_id, after_sequence=args.after, **_call_options(args))
    async with stream:
        async for event in stream:
            if out.json:
                out.json_line(to_dict(event))
            else:
                kind = _enum(scaicore.EventType, event.type, "EVENT_TYPE_")
                attributes = " ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()))
                out.line(
                    f"#{event.sequence}\t{event.occurred_at.ToJsonString()}\t{kind}\t"
                    f"{event.invocation_id or '-'}\t{attributes}"
                )
            seen += 1
            if args.limit is not None and seen >= args.limit:
                break
    return 0


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param: {pair!r} is not KEY=VALUE, e.g. --param learning_rate=3e-4")
        params[key] = value
    return params


async def cmd_jobs_submit(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    job = await grid.coordinator.submit_job(
        name=args.name,
        base_model=args.base_model,
        gpus=args.gpus,
        max_steps=args.max_steps,
        dataset=args.dataset or "",
        hyperparameters=_params(args.param),
        **_call_options(args),
    )
    _print_job(job, out)
    return 0


def _print_job(job: scaimind.Job, out: Output) -> None:
    if out.json:
        out.json_line(to_dict(job))
    else:
        out.line(_job_line(job))


def _enum_flag(enum: Any, flag: str) -> Callable[[str], int]:
    """An argparse type for an enum flag, read the way the SDK reads enum
    arguments (a short name in any case, or the full name)."""

    def convert(text: str) -> int:
        try:
            return enum_value(text, enum, flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    return convert


_job_state = _enum_flag(scaimind.JobState, "--state")
_node_health = _enum_flag(scaiinfer.NodeHealth, "--health")


async def cmd_jobs_list(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    jobs = await grid.coordinator.list_jobs(state=args.state, **_call_options(args))
    if out.json:
        out.json_line([to_dict(job) for job in jobs])
    else:
        for job in jobs:
            out.line(_job_line(job))
    return 0


async def cmd_jobs_get(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _print_job(await grid.coordinator.get_job(args.job_id, **_call_options(args)), out)
    return 0


async def cmd_jobs_cancel(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    _print_job(await grid.coordinator.cancel_job(args.job_id, **_call_options(args)), out)
    return 0


async def cmd_jobs_watch(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    options = _call_options(args)
    job = await grid.coordinator.get_job(args.job_id, **options)
    total = job.spec.max_steps
    progress = None
    if out.tty and not out.json:
        with contextlib.suppress(ImportError):
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            progress = Progress(
                TextColumn(f"{job.id}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
            )
    task_id = progress.add_task("", total=total) if progress is not None else None
    with progress if progress is not None else contextlib.nullcontext():
        async for point in grid.coordinator.stream_metrics(job.id, **options):
            metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(point.values.items()))
            if out.json:
                out.json_line(to_dict(point))
            elif progress is not None and task_id is not None:
                progress.update(task_id, completed=point.step, description=metrics)
            else:
                out.line(f"step {point.step}/{total}\t{metrics}")
    job = await grid.coordinator.get_job(job.id, **options)
    state = _enum(scaimind.JobState, job.state, "JOB_STATE_")
    out.note(f"{job.id}: {state}")
    return 0 if job.state == scaimind.JOB_STATE_SUCCEEDED else 1


def _payload(text: str | None) -> bytes | None:
    if text is None:
        return None
    if text == "-":
        return sys.stdin.buffer.read()
    if text.startswith("@"):
        try:
            with open(text[1:], "rb") as payload_file:
                return payload_file.read()
        except OSError as exc:
            raise UsageError(f"--payload: cannot read {text[1:]!r} ({exc.strerror})") from None
    return text.encode()


async def cmd_cores(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    options = _call_options(args)
    if args.action == "invoke":
        payload = _payload(args.payload)
        kind = args.content_type or ("application/json" if payload is not None else None)
        result = await grid.core.invoke_core(
            core_id=args.core_id, payload=payload, content_type=kind, **options
        )
        if out.json:
            out.json_line(to_dict(result))  # output: base64, as every bytes field
        else:
            out.line(result.output.decode("utf-8", "replace"))
            if out.verbose:
                out.note(f"{result.invocation_id}: {_instance_line(result.instance)}")
        return 0
    if args.action == "passivate":
        instance = await grid.core.passivate_core(core_id=args.core_id, **options)
    else:
        instance = await grid.core.restore_core(core_id=args.core_id, **options)
    if out.json:
        out.json_line(to_dict(instance))
    else:
        out.line(_instance_line(instance))
    return 0


async def cmd_nodes(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    options = _call_options(args)
    if args.action == "list":
        nodes = await grid.cluster.list_nodes(**options)
        if out.json:
            out.json_line([to_dict(node) for node in nodes])
        else:
            out.table(
                ["node", "gpus", "free", "type", "address"],
                [[n.node_id, str(n.gpus), str(n.gpus_free), n.gpu_type, n.address] for n in nodes],
            )
        return 0
    if not args.node_id:
        raise UsageError(f"NODE_ID: 'nodes {args.action}' needs the node's id")
    if args.action == "register":
        node = await grid.cluster.register_node(
            node_id=args.node_id,
            gpus=args.gpus,
            gpu_type=args.gpu_type or "",
            address=args.address or "",
            **options,
        )
        if out.json:
            out.json_line(to_dict(node))
        else:
            out.line(f"{node.node_id}\tgpus={node.gpus}\tfree={node.gpus_free}\t{node.gpu_type}")
        return 0
    ack = await grid.heartbeat.heartbeat(
        node_id=args.node_id,
        health=args.health,
        gpu_count=args.gpus or 0,
        gpu_utilization=args.utilization,
        queue_depth=args.queue_depth,
        loaded_models=args.model or [],
        **options,
    )
    if out.json:
        out.json_line(to_dict(ack))
    else:
        out.line(f"{ack.node_id}\theartbeat #{ack.sequence}\tnext in {ack.next_interval_ms} ms")
    return 0


# -- the fake -------------------------------------------------------------------------


async def _run_fake(args: argparse.Namespace) -> int:
    from scaigrid_client.testing import FakeScaiGrid

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fake = FakeScaiGrid(
        host=args.host,
        port=args.port,
        token=args.token,
        tls=args.tls_dir is not None,
        require_client_cert=args.require_client_cert,
        tls_dir=args.tls_dir,
        step_interval=args.step_interval,
        max_calls=args.max_calls,
        record_responses=args.record_responses,
        state_dir=args.state_dir,
    )
    async with fake:
        control = None
        if args.control_port is not None:
            from scaigrid_client.testing._control import ControlServer

            try:
                control = ControlServer(fake, args.host, args.control_port).start()
            except OSError as exc:
                raise OSError(
                    f"--control-port: cannot listen on {args.host}:{args.control_port} "
                    f"({exc.strerror or exc})"
                ) from None
        print(f"target: {fake.target}", flush=True)
        print(f"token: {fake.token}", flush=True)
        if control is not None:
            print(f"control: {control.url}", flush=True)
        if args.tls_dir is not None:
            print(f"tls: certificates in {args.tls_dir}", flush=True)
        print("serving; Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            if control is not None:
                control.close()
    print("stopped", file=sys.stderr, flush=True)
    return 0


# -- parsing --------------------------------------------------------------------------


class _JsonErrorParser(argparse.ArgumentParser):
    """argparse, with usage errors as a JSON object on stderr (for --json)."""

    def error(self, message: str) -> NoReturn:
        _write_json_error("UsageError", f"{self.prog}: {message}", EXIT_CODES["usage"])
        self.exit(EXIT_CODES["usage"])


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


def _common_flags() -> argparse.ArgumentParser:
    """Flags also accepted after the subcommand (``scaigrid models --json``).
    SUPPRESS keeps a flag given before the subcommand from being reset."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP)
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=_VERBOSE_HELP
    )
    common.add_argument(
        "--timeout", type=_seconds, default=argparse.SUPPRESS, metavar="SECONDS", help=_TIMEOUT_HELP
    )
    common.add_argument(
        "--request-id", default=argparse.SUPPRESS, metavar="ID", help=_REQUEST_ID_HELP
    )
    return common


_COMMON = _common_flags()


def _port(text: str) -> int:
    """A port to listen on: 0..65535, 0 picking a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port; use 0..65535 (0 = pick a free port)"
        )
    return port


def _sub(
    commands: Any, name: str, help_text: str, example: str, handler: Command | None = None
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        parents=[_COMMON],
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog="example:\n  " + example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def _versions() -> str:
    """What ``scaigrid --version`` prints: the first thing a bug report needs."""
    import platform

    import grpc
    from google.protobuf import __version__ as protobuf_version
    from google.protobuf.internal import api_implementation

    from scaigrid_client._version import __version__

    return (
        f"scaigrid-client {__version__}\n"
        f"grpcio {grpc.__version__}\n"
        f"protobuf {protobuf_version} ({api_implementation.Type()} implementation)\n"
        f"Python {platform.python_version()}"
    )


def _parser(json_errors: bool = False) -> argparse.ArgumentParser:
    parser_class = _JsonErrorParser if json_errors else argparse.ArgumentParser
    parser = parser_class(
        prog="scaigrid",
        description="Command line for ScaiGrid's gRPC API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("SCAIGRID_TARGET") or "localhost:50051",
        help="gateway address (SCAIGRID_TARGET, else localhost:50051)",
    )
    parser.add_argument("--version", action="version", version=_versions())
    parser.add_argument("--token", help="service token (default: SCAIGRID_SERVICE_TOKEN)")
    parser.add_argument(
        "--plaintext", action="store_true", help="no TLS (also SCAIGRID_PLAINTEXT=1)"
    )
    parser.add_argument(
        "--ca-cert", help="PEM file of the CA that signed the gateway's certificate"
    )
    parser.add_argument("--client-cert", help="PEM client certificate, for mTLS")
    parser.add_argument("--client-key", help="PEM client key, for mTLS")
    parser.add_argument("--server-name", help="host name to verify the gateway's certificate for")
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="HTTP CONNECT proxy, http://[user:password@]host:port (default: grpc_proxy, "
        "https_proxy or http_proxy from the environment, except for hosts in no_proxy)",
    )
    parser.add_argument("--timeout", type=_seconds, metavar="SECONDS", help=_TIMEOUT_HELP)
    parser.add_argument("--request-id", metavar="ID", help=_REQUEST_ID_HELP)
    parser.add_argument("--json", action="store_true", help=_JSON_HELP)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=parser_class
    )

    _sub(commands, "models", "list the models", "scaigrid models --json", cmd_models)

    chat = _sub(
        commands,
        "chat",
        "stream a chat reply to stdout",
        'scaigrid chat -m scailabs/poolnoodle-omni "Write a haiku about GPUs"\n'
        "  echo 'Summarize this' | scaigrid chat -m scailabs/poolnoodle-omni -",
        cmd_chat,
    )
    chat.add_argument("-m", "--model", required=True, help="model id (see 'scaigrid models')")
    chat.add_argument(
        "prompt",
        metavar="PROMPT",
        nargs="+",
        help="the prompt (several words are joined by spaces), or - to read it from stdin",
    )
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--max-tokens", type=int, help="upper bound on generated tokens")
    chat.add_argument("--temperature", type=float, help="sampling temperature, 0 to 2")

    embed = _sub(
        commands,
        "embed",
        "embed texts",
        'scaigrid embed -m scailabs/embed-small "first text" "second text"',
        cmd_embed,
    )
    embed.add_argument("-m", "--model", required=True, help="an embeddings model id")
    embed.add_argument("text", metavar="TEXT", nargs="+", help="texts to embed")

    events = _sub(
        commands,
        "events",
        "tail a core's events live, resuming after dropped connections",
        "scaigrid events core-7 --after 120 --json | jq .type",
        cmd_events,
    )
    events.add_argument("core_id", metavar="CORE_ID")
    events.add_argument("--after", type=int, default=0, help="start after this sequence")
    events.add_argument("--limit", type=int, help="exit after this many events")

    jobs = _sub(commands, "jobs", "training jobs", "scaigrid jobs watch job-000001")
    job_commands = jobs.add_subparsers(
        dest="jobs_command", required=True, metavar="ACTION", parser_class=parser_class
    )
    submit = _sub(
        job_commands,
        "submit",
        "submit a training job",
        "scaigrid jobs submit --name ft-1 --base-model scailabs/poolnoodle-omni "
        "--gpus 2 --max-steps 100 --param learning_rate=3e-4",
        cmd_jobs_submit,
    )
    submit.add_argument("--name", required=True)
    submit.add_argument("--base-model", required=True)
    submit.add_argument("--gpus", type=int, required=True)
    submit.add_argument("--max-steps", type=int, required=True)
    submit.add_argument("--dataset")
    submit.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a hyperparameter"
    )
    listing = _sub(
        job_commands,
        "list",
        "list jobs, newest first",
        "scaigrid jobs list --state running",
        cmd_jobs_list,
    )
    listing.add_argument(
        "--state",
        type=_job_state,
        metavar="STATE",
        help=f"only jobs in this state: {', '.join(enum_short_names(scaimind.JobState))} (any case)",
    )
    for name, help_text, handler in (
        ("get", "show a job", cmd_jobs_get),
        ("cancel", "cancel a job", cmd_jobs_cancel),
        ("watch", "follow a job's metrics until it ends; exit 0 if it succeeded", cmd_jobs_watch),
    ):
        sub = _sub(job_commands, name, help_text, f"scaigrid jobs {name} job-000001", handler)
        sub.add_argument("job_id", metavar="JOB_ID")

    cores = _sub(
        commands,
        "cores",
        "invoke, passivate or restore a core",
        "scaigrid cores invoke core-7 --payload '{\"q\": 1}'",
        cmd_cores,
    )
    cores.add_argument("action", choices=["invoke", "passivate", "restore"])
    cores.add_argument("core_id", metavar="CORE_ID")
    cores.add_argument("--payload", help="invoke input: text, @FILE, or - for stdin")
    cores.add_argument("--content-type", help="media type of the payload (application/json)")

    nodes = _sub(
        commands,
        "nodes",
        "list nodes, register one, or send a heartbeat",
        "scaigrid nodes list\n"
        "  scaigrid nodes register gpu-01 --gpus 8 --gpu-type H100\n"
        "  scaigrid nodes heartbeat gpu-01 --gpus 8 --queue-depth 3",
        cmd_nodes,
    )
    nodes.add_argument("action", choices=["list", "register", "heartbeat"])
    nodes.add_argument("node_id", metavar="NODE_ID", nargs="?", help="(not for list)")
    nodes.add_argument("--gpus", type=int, help="GPUs on the node (required to register)")
    nodes.add_argument("--gpu-type", help="GPU model, e.g. H100")
    nodes.add_argument("--address", help="host:port of the node")
    nodes.add_argument(
        "--health",
        type=_node_health,
        default="healthy",
        metavar="HEALTH",
        help=f"{', '.join(enum_short_names(scaiinfer.NodeHealth))} (any case; default healthy)",
    )
    nodes.add_argument("--utilization", type=float, default=0.0, help="GPU utilisation, 0 to 1")
    nodes.add_argument("--queue-depth", type=int, default=0)
    nodes.add_argument("--model", action="append", help="a loaded model (repeatable)")

    fake = _sub(
        commands,
        "fake",
        "run the bundled fake ScaiGrid until Ctrl-C",
        "scaigrid fake --port 50051 --token sgst_dev\n"
        "  scaigrid fake --tls-dir ./certs   # TLS, with ca.pem/client.pem/client.key written there",
    )
    fake.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    fake.add_argument(
        "--port", type=_port, default=50051, help="port to listen on (50051; 0: a free one)"
    )
    fake.add_argument("--token", help="the service token to accept (default: a random one)")
    fake.add_argument(
        "--tls-dir",
        help="serve TLS; read ca.pem, server.pem, server.key, client.pem, client.key "
        "from this directory, or create them there",
    )
    fake.add_argument(
        "--require-client-cert", action="store_true", help="mTLS: require a client certificate"
    )
    fake.add_argument(
        "--step-interval", type=float, default=0.05, help="seconds per training step (0.05)"
    )
    fake.add_argument(
        "--max-calls",
        type=int,
        default=100_000,
        help="calls kept in the journal, newest first (100000), so memory stays bounded",
    )
    fake.add_argument(
        "--record-responses",
        action="store_true",
        help="keep every response message sent in the journal (see the control plane's /calls)",
    )
    fake.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the state (cores, events, jobs, nodes, idempotency keys) in DIR, so a "
        "restarted fake, even after SIGKILL, goes on where it stopped; without it every "
        "start is a new history",
    )
    fake.add_argument(
        "--control-port",
        type=_port,
        help="also serve the HTTP control plane (faults, journal, reset) on this port; "
        "0 picks a free one (see docs/testing.md)",
    )
    return parser


def _plaintext_source(args: argparse.Namespace) -> str | None:
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


def _write_json_error(
    name: str,
    message: str,
    exit_code: int,
    *,
    error: errors.ScaiGridError | None = None,
    hint: str = "",
) -> None:
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


class _LogFormatter(logging.Formatter):
    """``scaigrid: retrying ...``; warnings and worse say so."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"scaigrid: {level}{super().format(record)}"


@contextlib.contextmanager
def _sdk_logging(verbosity: int) -> Iterator[None]:
    """The SDK's log lines on stderr while the command runs: WARNING and up;
    with -v, INFO too (each retry and stream resume); with -vv, DEBUG."""
    if os.environ.get("SCAIGRID_LOG"):
        yield  # the environment chose the SDK's log lines (see _telemetry)
        return
    logger = logging.getLogger("scaigrid_client")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter())
    previous = logger.level
    logger.setLevel(
        logging.WARNING if verbosity < 1 else logging.INFO if verbosity == 1 else logging.DEBUG
    )
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def _run(args: argparse.Namespace, out: Output) -> int:
    if args.token is not None and not args.token.strip():
        raise UsageError("--token: empty; pass a service token, or leave --token out")
    token = args.token or os.environ.get("SCAIGRID_SERVICE_TOKEN")
    if not token:
        raise UsageError("--token: no service token; pass --token or set SCAIGRID_SERVICE_TOKEN")
    async with ScaiGrid(
        args.target, token=token, tls=_tls(args), timeout=args.timeout, proxy=args.proxy
    ) as grid:
        handler: Command = args.handler
        return await handler(args, grid, out)


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` was given, known before parsing so that parse
    errors can be JSON too."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scaigrid`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(json_errors=_wants_json(argv))
    args = parser.parse_args(argv)
    if args.command == "fake":
        if args.require_client_cert and args.tls_dir is None:
            parser.error("--require-client-cert needs --tls-dir")
        try:
            return asyncio.run(_run_fake(args))
        except OSError as exc:  # the port is taken, or the address is not ours
            sys.stderr.write(f"scaigrid: error: {exc}\n")
            return EXIT_CODES["fake could not listen"]
        except KeyboardInterrupt:  # pragma: no cover - the fake handles SIGINT itself
            return EXIT_CODES["interrupted (Ctrl-C)"]
    args.plaintext_source = _plaintext_source(args)
    out = Output(args.json, args.verbose)
    what = _describe(args)
    try:
        with _sdk_logging(args.verbose):
            return asyncio.run(_run(args, out))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_CODES["interrupted (Ctrl-C)"]
    except errors.ScaiGridError as error:
        # Before ValueError: a server-side InvalidArgumentError is one too,
        # and it is the server's answer, not a usage error.
        if args.verbose:
            traceback.print_exc()
        message = _server_text(error, args.plaintext_source or "--plaintext")
        hint = _hint(error, args)
        exit_code = _exit_code(error)
        if args.json:
            _write_json_error(type(error).__name__, message, exit_code, error=error, hint=hint)
            return exit_code
        code = f", {error.code}" if error.code else ""
        line = (
            f"scaigrid: {what} failed: {message} "
            f"({error.status.name}{code}; request id {error.request_id})"
        )
        sys.stderr.write(line + (f"\nhint: {hint}" if hint else "") + "\n")
        return exit_code
    except (UsageError, ValueError) as exc:
        if args.verbose:
            traceback.print_exc()
        text = (
            str(exc)
            if isinstance(exc, UsageError)
            else _usage_text(exc, args.plaintext_source or "--plaintext")
        )
        if args.json:
            _write_json_error("UsageError", text, EXIT_CODES["usage"])
            return EXIT_CODES["usage"]
        parser.exit(EXIT_CODES["usage"], f"scaigrid: error: {text}\n")
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())

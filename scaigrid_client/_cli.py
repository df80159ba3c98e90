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
import math
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from google.protobuf import json_format, message as _message

from scaigrid_client import errors
from scaigrid_client._clients import ScaiGrid
from scaigrid_client._config import TLSConfig
from scaigrid_client.v1 import scaicore, scaiinfer, scaimind

# Exit codes, by what went wrong. Usage errors are argparse's 2.
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "job did not succeed": 1,
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

EPILOG = """exit codes: 0 ok, 1 job did not succeed, 2 usage, 3 authentication,
4 permission denied, 5 not found, 6 invalid argument or state, 7 rate limited
or exhausted, 8 unavailable, 9 deadline exceeded, 10 other server error,
130 interrupted.

environment: SCAIGRID_TARGET, SCAIGRID_SERVICE_TOKEN, SCAIGRID_PLAINTEXT=1

example:
  scaigrid --plaintext --target localhost:50051 models
"""


class UsageError(Exception):
    """A bad argument found after parsing; exits 2."""


# -- output ---------------------------------------------------------------------------


class Output:
    """Where and how results go: terminal tables, plain lines, or JSON."""

    def __init__(self, as_json: bool, verbose: bool) -> None:
        self.json = as_json
        self.verbose = verbose
        self.out: TextIO = sys.stdout
        self.tty = sys.stdout.isatty()

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def json_line(self, value: object) -> None:
        self.line(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

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
        for row in rows:
            self.line("\t".join(row))


def _enum(enum: Any, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)


def _message_dict(msg: _message.Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _event_dict(event: scaicore.StreamEventsResponse) -> dict[str, Any]:
    return {
        "core_id": event.core_id,
        "sequence": event.sequence,
        "type": _enum(scaicore.EventType, event.type, "EVENT_TYPE_"),
        "occurred_at": event.occurred_at.ToJsonString(),
        "invocation_id": event.invocation_id,
        "attributes": dict(event.attributes),
    }


def _point_dict(point: scaimind.StreamMetricsResponse) -> dict[str, Any]:
    return {
        "job_id": point.job_id,
        "step": point.step,
        "values": dict(point.values),
        "recorded_at": point.recorded_at.ToJsonString(),
        "job_state": _enum(scaimind.JobState, point.job_state, "JOB_STATE_"),
    }


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
        out.json_line(
            [
                {
                    "id": m.id,
                    "owner": m.owner,
                    "context_length": m.context_length,
                    "capabilities": [
                        _enum(scaiinfer.Capability, c, "CAPABILITY_").lower()
                        for c in m.capabilities
                    ],
                    "embedding_dimensions": m.embedding_dimensions,
                }
                for m in models
            ]
        )
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
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
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
    usage = None
    text = []
    async with stream:
        async for chunk in stream:
            if out.json:
                text.append(chunk.delta.content)
            else:
                out.out.write(chunk.delta.content)
                out.out.flush()
            if chunk.HasField("usage"):
                usage = chunk.usage
    if out.json:
        out.json_line(
            {
                "content": "".join(text),
                "request_id": stream.request_id,
                "usage": _message_dict(usage) if usage is not None else None,
            }
        )
    else:
        out.line()
    if out.verbose and usage is not None:
        out.note(
            f"usage: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion "
            f"tokens (request id {stream.request_id})"
        )
    return 0


async def cmd_embed(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    vectors = await grid.inference.embed(model=args.model, inputs=args.text, **_call_options(args))
    if out.json:
        out.json_line(
            [{"input": t, "embedding": v} for t, v in zip(args.text, vectors, strict=True)]
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
                out.json_line(_event_dict(event))
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
        out.json_line(_message_dict(job))
    else:
        out.line(_job_line(job))


_JOB_STATES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")


async def cmd_jobs_list(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    state = scaimind.JobState.Value(f"JOB_STATE_{args.state.upper()}") if args.state else None
    jobs = await grid.coordinator.list_jobs(state=state, **_call_options(args))
    if out.json:
        out.json_line([_message_dict(job) for job in jobs])
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
                out.json_line(_point_dict(point))
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
            out.json_line(
                {
                    "invocation_id": result.invocation_id,
                    "activated": result.activated,
                    "instance": _message_dict(result.instance),
                    "content_type": result.content_type,
                    "output": result.output.decode("utf-8", "replace"),
                }
            )
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
        out.json_line(_message_dict(instance))
    else:
        out.line(_instance_line(instance))
    return 0


_HEALTH = {
    "healthy": scaiinfer.NODE_HEALTH_HEALTHY,
    "degraded": scaiinfer.NODE_HEALTH_DEGRADED,
    "unhealthy": scaiinfer.NODE_HEALTH_UNHEALTHY,
    "draining": scaiinfer.NODE_HEALTH_DRAINING,
}


async def cmd_nodes(args: argparse.Namespace, grid: ScaiGrid, out: Output) -> int:
    options = _call_options(args)
    if args.action == "list":
        nodes = await grid.cluster.list_nodes(**options)
        if out.json:
            out.json_line([_message_dict(node) for node in nodes])
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
            out.json_line(_message_dict(node))
        else:
            out.line(f"{node.node_id}\tgpus={node.gpus}\tfree={node.gpus_free}\t{node.gpu_type}")
        return 0
    ack = await grid.heartbeat.heartbeat(
        node_id=args.node_id,
        health=_HEALTH[args.health],
        gpu_count=args.gpus or 0,
        gpu_utilization=args.utilization,
        queue_depth=args.queue_depth,
        loaded_models=args.model or [],
        **options,
    )
    if out.json:
        out.json_line(_message_dict(ack))
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
    )
    async with fake:
        control = None
        if args.control_port is not None:
            from scaigrid_client.testing._control import ControlServer

            control = ControlServer(fake, args.host, args.control_port).start()
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


def _common_flags() -> argparse.ArgumentParser:
    """Flags also accepted after the subcommand (``scaigrid models --json``).
    SUPPRESS keeps a flag given before the subcommand from being reset."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    common.add_argument("--timeout", type=float, default=argparse.SUPPRESS)
    common.add_argument("--request-id", default=argparse.SUPPRESS)
    return common


_COMMON = _common_flags()


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        "--plaintext",
        action="store_true",
        default=os.environ.get("SCAIGRID_PLAINTEXT") == "1",
        help="no TLS (also SCAIGRID_PLAINTEXT=1)",
    )
    parser.add_argument(
        "--ca-cert", help="PEM file of the CA that signed the gateway's certificate"
    )
    parser.add_argument("--client-cert", help="PEM client certificate, for mTLS")
    parser.add_argument("--client-key", help="PEM client key, for mTLS")
    parser.add_argument("--server-name", help="host name to verify the gateway's certificate for")
    parser.add_argument("--timeout", type=float, help="deadline per call, in seconds")
    parser.add_argument("--request-id", help="x-request-id to send")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail, tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    chat.add_argument("prompt", metavar="PROMPT", help="the prompt, or - to read it from stdin")
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
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
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
        "--state", choices=[s.lower() for s in _JOB_STATES], help="only jobs in this state"
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
    nodes.add_argument("--health", choices=sorted(_HEALTH), default="healthy")
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
    fake.add_argument("--port", type=int, default=50051, help="port to listen on (50051)")
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
        "--control-port",
        type=int,
        help="also serve the HTTP control plane (faults, journal, reset) on this port; "
        "0 picks a free one (see docs/testing.md)",
    )
    return parser


def _tls(args: argparse.Namespace) -> bool | TLSConfig:
    if args.plaintext:
        if args.ca_cert or args.client_cert or args.client_key:
            raise UsageError(
                "--plaintext: cannot be combined with --ca-cert/--client-cert/--client-key"
            )
        return False
    if args.ca_cert or args.client_cert or args.client_key or args.server_name:
        return TLSConfig(
            ca_cert=args.ca_cert,
            client_cert=args.client_cert,
            client_key=args.client_key,
            server_name=args.server_name,
        )
    return True


def _hint(error: errors.ScaiGridError, args: argparse.Namespace) -> str:
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
    if isinstance(error, errors.UnavailableError):
        tls = "" if args.plaintext else "; add --plaintext for a gateway without TLS"
        return f"is a gateway running at {args.target}?{tls}"
    return ""


def _describe(args: argparse.Namespace) -> str:
    parts = [args.command]
    for extra in ("jobs_command", "action"):
        value = getattr(args, extra, None)
        if value:
            parts.append(value)
    return " ".join(parts)


async def _run(args: argparse.Namespace, out: Output) -> int:
    token = args.token or os.environ.get("SCAIGRID_SERVICE_TOKEN")
    if not token:
        raise UsageError("--token: no service token; pass --token or set SCAIGRID_SERVICE_TOKEN")
    async with ScaiGrid(args.target, token=token, tls=_tls(args), timeout=args.timeout) as grid:
        handler: Command = args.handler
        return await handler(args, grid, out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scaigrid`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "fake":
        if args.require_client_cert and args.tls_dir is None:
            parser.error("--require-client-cert needs --tls-dir")
        try:
            return asyncio.run(_run_fake(args))
        except KeyboardInterrupt:  # pragma: no cover - the fake handles SIGINT itself
            return EXIT_CODES["interrupted (Ctrl-C)"]
    out = Output(args.json, args.verbose)
    what = _describe(args)
    try:
        return asyncio.run(_run(args, out))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_CODES["interrupted (Ctrl-C)"]
    except (UsageError, ValueError) as exc:
        if args.verbose:
            traceback.print_exc()
        parser.exit(EXIT_CODES["usage"], f"scaigrid: error: {exc}\n")
    except errors.ScaiGridError as error:
        if args.verbose:
            traceback.print_exc()
        code = f", {error.code}" if error.code else ""
        line = (
            f"scaigrid: {what} failed: {error.message} "
            f"({error.status.name}{code}; request id {error.request_id})"
        )
        hint = _hint(error, args)
        sys.stderr.write(line + (f"\nhint: {hint}" if hint else "") + "\n")
        for cls, name in _STATUS_EXIT:
            if isinstance(error, cls):
                return EXIT_CODES[name]
        return EXIT_CODES["other server error"]
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `scaigrid` command line against `scaigrid fake`: in this process
(tests/support/cli_runner.py) unless the process is the point (``process=True``
and the tests that start the console script themselves)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from scaigrid_client.v1 import scaiinfer
from tests.support.cli_runner import run_cli
from tests.support.connect_proxy import ConnectProxy
from tests.support.standalone import SCAIGRID, Standalone, free_port

TOKEN = "sgst_cli_suite_token_0123456789"
_PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy", "no_proxy", "no_grpc_proxy")
OMNI = "scailabs/poolnoodle-omni"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with Standalone(TOKEN, "--step-interval", "0.01") as gateway:
        yield gateway.target


def _env(target: str, token: str | None = TOKEN, *, plaintext: bool = True) -> dict[str, str]:
    # (the machine's own proxy settings are not the suite's: see test_proxy_flag_...)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCAIGRID_") and k.lower() not in _PROXY_VARIABLES
    }
    env["SCAIGRID_TARGET"] = target
    if plaintext:
        env["SCAIGRID_PLAINTEXT"] = "1"
    if token is not None:
        env["SCAIGRID_SERVICE_TOKEN"] = token
    return env


def cli(
    target: str,
    *args: str,
    token: str | None = TOKEN,
    stdin: str | None = None,
    code: int = 0,
    plaintext: bool = True,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `scaigrid ARGS` (as a subprocess of the console script with
    ``process=True``); check the exit code, and no traceback unless -v."""
    env = _env(target, token, plaintext=plaintext)
    if process:
        result = subprocess.run(
            [SCAIGRID, *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    else:
        result = run_cli(args, env=env, stdin=stdin)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    if "-v" not in args:
        assert "Traceback" not in result.stderr
    return result


def test_models(target: str) -> None:
    lines = cli(target, "models").stdout.splitlines()
    assert lines[0] == "id\towner\tcontext\tcapabilities"  # piped: a header line too
    assert f"{OMNI}\tscailabs\t32768\tchat,embeddings" in lines
    models = json.loads(cli(target, "--json", "models").stdout)
    assert {"id": OMNI, "capabilities": ["CHAT", "EMBEDDINGS"]}.items() <= next(
        m for m in models if m["id"] == OMNI
    ).items()
    assert json.loads(cli(target, "models", "--json").stdout) == models


def test_chat(target: str) -> None:
    out = cli(target, "chat", "-m", OMNI, "Hello", "--max-tokens", "6").stdout
    assert len(out.split()) == 6
    piped = cli(target, "-v", "chat", "-m", OMNI, "-", "--max-tokens", "6", stdin="Hello")
    assert piped.stdout == out  # stdin prompt: same deterministic reply
    # The closing line must not read like argparse's "usage:" error.
    assert not any(line.startswith("usage:") for line in piped.stderr.splitlines())
    assert piped.stderr.startswith("tokens: ")
    assert "+ 6 completion (request id " in piped.stderr
    reply = json.loads(
        cli(target, "--json", "chat", "-m", OMNI, "Hello", "--max-tokens", "6").stdout
    )
    assert reply["content"] + "\n" == out
    assert reply["request_id"]
    assert reply["finish_reason"] == "LENGTH"
    assert reply["usage"]["completion_tokens"] == 6


def test_unknown_model(target: str) -> None:
    result = cli(target, "chat", "-m", "nope/model", "hi", code=5)
    first, hint = result.stderr.strip().splitlines()
    assert first.startswith("scaigrid: chat failed: model 'nope/model' not found")
    assert "NOT_FOUND, model_not_found; request id " in first
    assert hint == "hint: 'scaigrid models' lists the available models"


def test_embed(target: str) -> None:
    out = cli(target, "embed", "-m", "scailabs/embed-small", "one", "two").stdout.splitlines()
    assert len(out) == 2
    assert "384 dims, norm 1.000" in out[0]
    vectors = json.loads(cli(target, "--json", "embed", "-m", OMNI, "one").stdout)
    assert vectors[0]["input"] == "one"
    assert len(vectors[0]["embedding"]) == 1024


@pytest.mark.slow
def test_cores_and_events(target: str) -> None:
    out = cli(target, "cores", "invoke", "cli-core", "--payload", '{"n": 1}').stdout
    assert json.loads(out)["echo"] == {"n": 1}
    passivated = json.loads(cli(target, "--json", "cores", "passivate", "cli-core").stdout)
    assert passivated["state"] == "PASSIVATED"
    assert "ACTIVE" in cli(target, "cores", "restore", "cli-core").stdout
    cli(target, "cores", "restore", "cli-core", code=6)
    lines = cli(target, "--json", "events", "cli-core", "--limit", "4").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["sequence"], e["type"]) for e in events] == [
        (1, "ACTIVATED"),
        (2, "INVOKED"),
        (3, "PASSIVATED"),
        (4, "RESTORED"),
    ]
    plain = cli(target, "events", "cli-core", "--after", "2", "--limit", "2").stdout.splitlines()
    assert [line.split("\t")[0] for line in plain] == ["#3", "#4"]


def submit(target: str, args: str, *, code: int = 0) -> subprocess.CompletedProcess[str]:
    return cli(target, "--json", "jobs", "submit", *args.split(), code=code)


@pytest.mark.slow
def test_jobs(target: str) -> None:
    job = json.loads(
        submit(
            target,
            f"--name cli-ft --base-model {OMNI} --gpus 2 --max-steps 5 --param learning_rate=1e-4",
        ).stdout
    )
    assert job["spec"]["hyperparameters"] == {"learning_rate": "1e-4"}
    watched = cli(target, "jobs", "watch", job["id"])
    assert "step 5/5" in watched.stdout
    assert f"{job['id']}: SUCCEEDED" in watched.stderr
    lines = cli(target, "--json", "jobs", "watch", job["id"]).stdout.splitlines()
    points = [json.loads(line) for line in lines]
    assert [p["step"] for p in points] == [1, 2, 3, 4, 5]
    assert points[-1]["job_state"] == "SUCCEEDED"
    assert "SUCCEEDED" in cli(target, "jobs", "get", job["id"]).stdout
    succeeded = cli(target, "jobs", "list", "--state", "succeeded").stdout
    assert job["id"] in succeeded
    assert job["id"] not in cli(target, "jobs", "list", "--state", "running").stdout
    assert job["id"] in [j["id"] for j in json.loads(cli(target, "--json", "jobs", "list").stdout)]

    long = json.loads(
        submit(target, f"--name long --base-model {OMNI} --gpus 1 --max-steps 100000").stdout
    )
    assert "CANCELLED" in cli(target, "jobs", "cancel", long["id"]).stdout
    cli(target, "jobs", "watch", long["id"], code=1)  # the job did not succeed

    bad = submit(target, f"--name x --base-model {OMNI} --gpus 0 --max-steps 1", code=2)
    assert "gpus" in bad.stderr
    bad = submit(
        target, f"--name x --base-model {OMNI} --gpus 1 --max-steps 1 --param oops", code=2
    )
    assert "KEY=VALUE" in bad.stderr


def test_nodes(target: str) -> None:
    out = cli(target, "nodes", "register", "cli-node", "--gpus", "4", "--gpu-type", "H100").stdout
    assert out.split("\t")[:3] == ["cli-node", "gpus=4", "free=4"]
    listed = cli(target, "nodes", "list").stdout.splitlines()
    assert "cli-node\t4\t4\tH100\t" in listed
    nodes = json.loads(cli(target, "--json", "nodes", "list").stdout)
    assert any(n["node_id"] == "cli-node" for n in nodes)
    assert "NODE_ID" in cli(target, "nodes", "register", code=2).stderr
    ack = json.loads(
        cli(target, "--json", "nodes", "heartbeat", "cli-node", "--queue-depth", "3").stdout
    )
    assert ack["node_id"] == "cli-node"


@pytest.mark.parametrize(
    ("token", "code", "hint"),
    [
        ("sgst_wrong_token_value", 3, "check --token"),
        ("sk-live-an-http-api-key", 3, "service tokens are not HTTP API keys"),
    ],
)
def test_bad_token_is_one_clear_line(target: str, token: str, code: int, hint: str) -> None:
    result = cli(target, "models", token=token, code=code)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "UNAUTHENTICATED" in lines[0]
    assert hint in lines[1]
    # -v adds a traceback, and still never the token.
    verbose = cli(target, "-v", "models", token=token, code=code)
    for text in (result.stdout, result.stderr, verbose.stdout, verbose.stderr):
        assert token not in text


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["models"], 0),
        (["--json", "embed", "-m", OMNI, "one"], 0),
        (["chat", "-m", "nope/model", "hi"], 5),
        (["--token", "sgst_wrong_token_value", "-v", "models"], 3),
        (["jobs", "list", "--state", "sleeping"], 2),
        (["frobnicate"], 2),
        (["chat", "--help"], 0),
    ],
)
def test_in_process_runs_print_what_the_console_script_prints(
    target: str, args: list[str], code: int
) -> None:
    """tests/support/cli_runner.py stands in for the process faithfully:
    the same exit code, stdout and stderr (request ids and the traceback's
    file paths and line numbers aside)."""

    def same(text: str) -> str:
        text = re.sub(r"request[ _]id[ =][0-9a-f-]+", "request id X", text)
        return re.sub(r'File "[^"]+", line \d+', "File X", text)

    ran = cli(target, *args, code=code)
    spawned = cli(target, *args, code=code, process=True)
    assert same(ran.stdout) == same(spawned.stdout)
    assert same(ran.stderr) == same(spawned.stderr)
    assert ran.stdout or ran.stderr


def test_in_process_runs_are_not_told_of_other_loops_leftovers(target: str) -> None:
    """A grpc.aio call left pending on a loop another test closed completes
    during a later run, and grpc logs "Event loop is closed" from the run's
    loop. A process of its own never sees that, so neither does run_cli."""
    for _ in range(3):
        loop = asyncio.new_event_loop()

        async def leave_a_call_pending() -> None:
            channel = grpc.aio.insecure_channel(target)
            stub = scaiinfer.InferenceServiceStub(channel)
            stub.ListModels(scaiinfer.ListModelsRequest())
            await asyncio.sleep(0.001)

        loop.run_until_complete(leave_a_call_pending())
        loop.close()
        assert "poolnoodle" in cli(target, "models").stdout


def test_usage_errors(target: str) -> None:
    assert "--token" in cli(target, "models", token=None, code=2).stderr
    cli(target, "frobnicate", code=2)
    cli(target, "chat", "hi", code=2)  # -m is required


@pytest.mark.slow
def test_unreachable_gateway() -> None:
    result = cli(f"127.0.0.1:{free_port()}", "--timeout", "5", "models", code=8)
    assert "UNAVAILABLE" in result.stderr
    assert "is a gateway running at" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["models"],
        ["chat"],
        ["embed"],
        ["events"],
        ["jobs", "submit"],
        ["jobs", "list"],
        ["jobs", "get"],
        ["jobs", "cancel"],
        ["jobs", "watch"],
        ["cores"],
        ["nodes"],
        ["fake"],
    ],
)
def test_help_has_an_example(target: str, command: list[str]) -> None:
    out = cli(target, *command, "--help").stdout
    assert "example:" in out
    assert "scaigrid " + command[0] in out.split("example:")[1]


def test_ctrl_c_on_an_events_tail(target: str) -> None:
    cli(target, "cores", "invoke", "tail-core")
    proc = subprocess.Popen(
        [SCAIGRID, "events", "tail-core"],
        env=_env(target),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("#1\t")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in stderr


def test_tls_and_mtls_options(tmp_path: pathlib.Path) -> None:
    certs = str(tmp_path)
    with Standalone(TOKEN, "--tls-dir", certs, "--require-client-cert") as gateway:
        tls = ["--ca-cert", f"{certs}/ca.pem", "--server-name", "localhost"]
        mtls = [*tls, "--client-cert", f"{certs}/client.pem", "--client-key", f"{certs}/client.key"]
        ok = cli(gateway.target, *mtls, "models", plaintext=False)
        assert OMNI in ok.stdout
        for args in (tls, []):  # no client certificate; then not even the CA
            cli(gateway.target, *args, "--timeout", "5", "models", plaintext=False, code=8)
        missing = cli(
            gateway.target, "--ca-cert", f"{certs}/nope.pem", "models", plaintext=False, code=2
        )
        assert "--ca-cert: cannot read" in missing.stderr


# -- issue 11: the CLI as a new user meets it ------------------------------------------


def test_server_invalid_argument_takes_the_server_error_path(target: str) -> None:
    # InvalidArgumentError is also a ValueError; it is the server's answer, not usage.
    for args in (
        ["chat", "-m", "scailabs/embed-small", "hi"],
        ["embed", "-m", "scailabs/poolnoodle-mini", "x"],
    ):
        result = cli(target, *args, code=6)
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"scaigrid: {args[0]} failed: ")
        assert "(INVALID_ARGUMENT, unsupported_model; request id " in first


SUBMIT = f"jobs submit --name x --base-model {OMNI}"


@pytest.mark.parametrize(
    ("args", "flag", "sdk_name"),
    [
        ("nodes heartbeat n-1 --utilization 2", "--utilization", "gpu_utilization"),
        ("nodes heartbeat n-1 --queue-depth -1", "--queue-depth", "queue_depth"),
        ("nodes register n-1 --gpus 0", "--gpus", "gpus"),
        (f"{SUBMIT} --gpus 0 --max-steps 1", "--gpus", "gpus"),
        (f"{SUBMIT} --gpus 1 --max-steps 0", "--max-steps", "max_steps"),
        (f"chat -m {OMNI} hi --max-tokens 0", "--max-tokens", "max_tokens"),
        (f"chat -m {OMNI} hi --temperature 3", "--temperature", "temperature"),
        ("events core-1 --after -1", "--after", "after_sequence"),
    ],
)
def test_argument_errors_name_the_flag(target: str, args: str, flag: str, sdk_name: str) -> None:
    stderr = cli(target, *args.split(), code=2).stderr
    assert stderr.startswith(f"scaigrid: error: {flag}: ")
    assert sdk_name not in stderr.replace(flag, "")


def test_a_blank_model_names_the_flag(target: str) -> None:
    blank = cli(target, "chat", "-m", " ", "hi", code=2).stderr
    assert blank.startswith("scaigrid: error: --model: must be a non-empty str")


def test_tls_argument_errors_name_the_flag(target: str, tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "nope.pem")
    cases = [
        (["--ca-cert", missing], "--ca-cert: cannot read"),
        (["--server-name", "not a name"], "--server-name: "),
        (["--client-cert", missing], "--client-cert: mTLS needs --client-key"),
        (["--client-key", missing], "--client-key: mTLS needs --client-cert"),
    ]
    for args, expected in cases:
        stderr = cli(target, *args, "models", plaintext=False, code=2).stderr
        assert stderr.startswith(f"scaigrid: error: {expected}"), stderr
        assert "TLSConfig" not in stderr and "ca_cert" not in stderr


def test_plaintext_is_named_as_the_user_set_it(target: str) -> None:
    from_env = cli(target, "--ca-cert", "ca.pem", "models", code=2).stderr
    assert from_env.startswith(
        "scaigrid: error: SCAIGRID_PLAINTEXT=1: cannot be combined with --ca-cert"
    )
    assert "--plaintext" not in from_env
    from_flag = cli(target, "--plaintext", "--ca-cert", "ca.pem", "models", plaintext=False, code=2)
    assert from_flag.stderr.startswith("scaigrid: error: --plaintext: cannot be combined")


@pytest.mark.slow
def test_tls_mismatch_hints_name_flags(tmp_path: pathlib.Path) -> None:
    certs = str(tmp_path)
    with Standalone(TOKEN, "--tls-dir", certs, "--require-client-cert") as gateway:
        # Plaintext (from the environment) against TLS: name the variable.
        plain = cli(gateway.target, "models", code=8).stderr
        assert "hint: the gateway serves TLS: drop SCAIGRID_PLAINTEXT=1" in plain
        unknown_ca = cli(gateway.target, "models", plaintext=False, code=8).stderr
        assert "hint: pass --ca-cert " in unknown_ca
        no_client_cert = cli(
            gateway.target,
            "--ca-cert",
            f"{certs}/ca.pem",
            "--server-name",
            "localhost",
            "models",
            plaintext=False,
            code=8,
        ).stderr
        assert (
            "hint: the gateway requires mTLS: pass --client-cert and --client-key" in no_client_cert
        )
        for stderr in (plain, unknown_ca, no_client_cert):
            assert "TLSConfig" not in stderr and "tls=False" not in stderr
    with Standalone(TOKEN) as gateway:
        tls_to_plain = cli(gateway.target, "models", plaintext=False, code=8).stderr
        assert "hint: the gateway serves plaintext: add --plaintext" in tls_to_plain


@pytest.fixture(scope="module")
def controlled() -> Iterator[tuple[str, str]]:
    """A standalone fake with its HTTP control plane: (target, control URL)."""
    with Standalone(TOKEN, "--control-port", "0") as gateway:
        assert gateway.proc is not None and gateway.proc.stdout is not None
        line = ""
        while not line.startswith("control: "):
            line = gateway.proc.stdout.readline()
        yield gateway.target, line.split(" ", 1)[1].strip()


def _fail(control: str, method: str, **fault: object) -> None:
    fault = {"method": method, "status": "UNAVAILABLE", "times": 1, **fault}
    httpx.post(f"{control}/fail", json=fault, timeout=10).raise_for_status()


def test_verbose_logs_each_retry(controlled: tuple[str, str]) -> None:
    target, control = controlled
    _fail(control, "InferenceService.ListModels")
    verbose = cli(target, "-v", "models")
    retries = [
        line for line in verbose.stderr.splitlines() if line.startswith("scaigrid: retrying")
    ]
    assert len(retries) == 1, verbose.stderr
    assert "InferenceService.ListModels" in retries[0] and "UNAVAILABLE" in retries[0]
    assert OMNI in verbose.stdout
    _fail(control, "InferenceService.ListModels")
    quiet = cli(target, "models")
    assert quiet.stderr == ""
    assert OMNI in quiet.stdout


def test_verbose_logs_a_stream_resume(controlled: tuple[str, str]) -> None:
    target, control = controlled
    cli(target, "cores", "invoke", "resume-core")
    cli(target, "cores", "passivate", "resume-core")
    _fail(control, "CoreRuntimeService.StreamEvents", after_messages=1)
    result = cli(target, "-v", "events", "resume-core", "--limit", "3")
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["#1", "#2", "#3"]
    # The SDK's INFO line for a resume (its wording is the SDK's), as it happens.
    assert re.search(r"^scaigrid: \w+ CoreRuntimeService\.StreamEvents ", result.stderr, re.M)


@pytest.mark.parametrize("flag", ["--port", "--control-port"])
@pytest.mark.parametrize("port", ["99999", "-5", "65536", "http"])
def test_fake_ports_are_validated(flag: str, port: str) -> None:
    result = cli("127.0.0.1:1", "fake", flag, port, code=2)
    assert f"argument {flag}: " in result.stderr
    assert "0..65535 (0 = pick a free port)" in result.stderr


@pytest.mark.parametrize("flag", ["--port", "--control-port"])
def test_fake_on_a_busy_port_is_one_line(flag: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["--port", str(port)] if flag == "--port" else ["--port", "0", flag, str(port)]
        result = cli("127.0.0.1:1", "fake", *args, code=1, process=True)
    ours = [line for line in result.stderr.splitlines() if line.startswith("scaigrid")]
    assert len(ours) == 1, result.stderr
    assert ours[0].startswith("scaigrid: error: ") and str(port) in ours[0]


@pytest.mark.slow
def test_json_is_one_shape(target: str) -> None:
    job = json.loads(
        submit(target, f"--name shape --base-model {OMNI} --gpus 1 --max-steps 100000").stdout
    )
    assert job["spec"]["max_steps"] == 100000  # a 64-bit integer, as a number
    assert job["state"] in ("QUEUED", "RUNNING")  # short names
    # RFC 3339 (with up to nanoseconds, which Python 3.10's fromisoformat cannot read)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", job["created_at"])
    assert job["finished_at"] is None
    for command in (["jobs", "get", job["id"]], ["jobs", "cancel", job["id"]]):
        shown = json.loads(cli(target, "--json", *command).stdout)
        assert shown.keys() == job.keys() and shown["spec"]["max_steps"] == 100000
    assert (
        json.loads(cli(target, "--json", "jobs", "get", job["id"]).stdout)["state"] == "CANCELLED"
    )
    listed = json.loads(cli(target, "--json", "jobs", "list", "--state", "cancelled").stdout)
    assert job["id"] in [j["id"] for j in listed]

    invoked = json.loads(cli(target, "--json", "cores", "invoke", "shape-core").stdout)
    assert invoked["instance"]["invocation_count"] == 1
    assert invoked["instance"]["state"] == "ACTIVE"
    restored = json.loads(cli(target, "--json", "cores", "passivate", "shape-core").stdout)
    assert restored["invocation_count"] == 1 and restored["state"] == "PASSIVATED"

    node = json.loads(
        cli(target, "--json", "nodes", "register", "shape-node", "--gpus", "2").stdout
    )
    assert node["gpus"] == 2 and node["gpu_memory_bytes"] == 0 and node["labels"] == {}
    ack = json.loads(cli(target, "--json", "nodes", "heartbeat", "shape-node").stdout)
    assert isinstance(ack["sequence"], int) and ack["received_at"].endswith("Z")


def test_errors_are_json_with_json(target: str) -> None:
    keys = {"error", "status", "code", "message", "request_id", "exit_code"}
    server = cli(target, "--json", "jobs", "get", "job-nope", code=5)
    error = json.loads(server.stderr)
    assert keys <= error.keys()
    assert (error["error"], error["status"], error["code"], error["exit_code"]) == (
        "NotFoundError",
        "NOT_FOUND",
        "job_not_found",
        5,
    )
    assert error["request_id"] and server.stdout == ""
    hinted = json.loads(cli(target, "--json", "chat", "-m", "nope/model", "hi", code=5).stderr)
    assert hinted["hint"] == "'scaigrid models' lists the available models"
    for args in (
        ["--json", "jobs", "list", "--state", "nope"],
        ["jobs", "submit", "--json"],
        ["--json", "nodes", "register", "x", "--gpus", "0"],
    ):
        usage = json.loads(cli(target, *args, code=2).stderr)
        assert keys <= usage.keys()
        assert (usage["error"], usage["status"], usage["exit_code"]) == ("UsageError", None, 2)


@pytest.mark.parametrize(
    "command",
    [["models"], ["chat"], ["events"], ["jobs", "list"], ["jobs", "watch"], ["cores"], ["nodes"]],
)
def test_subcommand_help_describes_the_common_flags(target: str, command: list[str]) -> None:
    text = " ".join(cli(target, *command, "--help").stdout.split())
    for described in (
        "--json JSON output",
        "-v, --verbose log retries",
        "--timeout SECONDS deadline per call",
        "--request-id ID x-request-id to send",
    ):
        assert described in text


@pytest.mark.slow
def test_jobs_list_state_in_any_case(target: str) -> None:
    job = json.loads(
        submit(target, f"--name states --base-model {OMNI} --gpus 1 --max-steps 9999").stdout
    )
    cli(target, "jobs", "cancel", job["id"])
    for state in (
        "CANCELLED",
        "Cancelled",
        "cancelled",
        "JOB_STATE_CANCELLED",
        "job_state_cancelled",
    ):
        assert job["id"] in cli(target, "jobs", "list", "--state", state).stdout
    assert job["id"] not in cli(target, "jobs", "list", "--state", "RUNNING").stdout
    unknown = cli(target, "jobs", "list", "--state", "sleeping", code=2).stderr
    assert (
        "argument --state: unknown value 'sleeping'; use one of queued, running, succeeded, "
        "failed, cancelled (any case), the full name or the number" in unknown
    )


def test_nodes_heartbeat_health_by_the_sdks_names(target: str) -> None:
    for health in ("Draining", "NODE_HEALTH_DEGRADED", "3"):
        cli(target, "nodes", "heartbeat", "health-node", "--health", health)
    unknown = cli(target, "nodes", "heartbeat", "health-node", "--health", "ok", code=2).stderr
    assert (
        "argument --health: unknown value 'ok'; use one of healthy, degraded, unhealthy, "
        "draining (any case), the full name or the number" in unknown
    )


def test_unquoted_prompt_words_are_one_prompt(target: str) -> None:
    quoted = cli(target, "chat", "-m", OMNI, "write a haiku", "--max-tokens", "8").stdout
    assert (
        cli(target, "chat", "-m", OMNI, "write", "a", "haiku", "--max-tokens", "8").stdout == quoted
    )
    assert quoted != cli(target, "chat", "-m", OMNI, "write", "--max-tokens", "8").stdout


def test_nodes_table_has_a_header_when_piped(target: str) -> None:
    cli(target, "nodes", "register", "header-node", "--gpus", "1")
    lines = cli(target, "nodes", "list").stdout.splitlines()
    assert lines[0] == "node\tgpus\tfree\ttype\taddress"


def test_an_empty_token_is_a_usage_error(target: str) -> None:
    # SCAIGRID_SERVICE_TOKEN is set and valid: an explicit "" must not fall back to it.
    result = cli(target, "--token", "", "models", code=2)
    assert result.stderr.startswith("scaigrid: error: --token: empty")
    assert result.stdout == ""


@pytest.mark.parametrize("implementation", [None, "python"])
def test_version_names_the_sdk_grpcio_protobuf_and_its_implementation(
    implementation: str | None,
) -> None:
    import platform

    import google.protobuf
    import grpc
    from google.protobuf.internal import api_implementation

    import scaigrid_client

    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"}
    if implementation is not None:
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = implementation
    done = subprocess.run(
        [SCAIGRID, "--version"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        f"scaigrid-client {scaigrid_client.__version__}",
        f"grpcio {grpc.__version__}",
        f"protobuf {google.protobuf.__version__}"
        f" ({implementation or api_implementation.Type()} implementation)",
        f"Python {platform.python_version()}",
    ]


@contextlib.contextmanager
def _connect_proxy(**kwargs: Any) -> Iterator[ConnectProxy]:
    """A ConnectProxy on its own event loop in a thread, for the CLI's processes."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = ConnectProxy(**kwargs)
    asyncio.run_coroutine_threadsafe(proxy.__aenter__(), loop).result(5)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.__aexit__(None, None, None), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_proxy_flag_goes_through_the_proxy(target: str) -> None:
    with _connect_proxy(credentials=("scai", "s3cret")) as proxy:
        models = cli(target, "--proxy", proxy.url, "models").stdout
        assert OMNI in models
        assert proxy.tunnels == 1
        refused = cli(target, "--proxy", proxy.url.replace("s3cret", "nope"), "models", code=8)
        assert "the HTTP proxy wants credentials" in refused.stderr
        assert "nope" not in refused.stderr
    bad = cli(target, "--proxy", "https://scai:s3cret@proxy.test:3128", "models", code=2).stderr
    assert "--proxy: 'https://scai:***@proxy.test:3128': only 'http://' proxies" in bad
    assert "s3cret" not in bad


def test_scaigrid_log_reaches_the_cli(target: str) -> None:
    env = {**_env(target), "SCAIGRID_LOG": "debug"}
    done = subprocess.run(
        [SCAIGRID, "models"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "event=attempt method=InferenceService.ListModels" in done.stderr
    assert TOKEN not in done.stderr


# -- 1.0: messages name flags, flags apply where offered, events cursors -------------------


def test_fake_help_offers_only_the_fakes_flags() -> None:
    text = cli("127.0.0.1:1", "fake", "--help").stdout
    assert "--port" in text and "--state-dir" in text
    for other in ("--timeout", "--request-id", "--json", "--verbose"):
        assert other not in text
    cli("127.0.0.1:1", "fake", "--timeout", "1", code=2)


def test_a_busy_fake_port_suggests_the_flag() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stderr = cli("127.0.0.1:1", "fake", "--port", str(port), code=1, process=True).stderr
    assert "pass --port 0 for a free one" in stderr and "port=0" not in stderr


def test_a_deadline_names_the_timeout_flag(controlled: tuple[str, str]) -> None:
    target, control = controlled
    body = {"method": "InferenceService.ListModels", "seconds": 2, "times": 1}
    httpx.post(f"{control}/delay", json=body, timeout=10).raise_for_status()
    stderr = cli(target, "--timeout", "0.5", "models", code=9).stderr
    assert "deadline of 0.5 s ran out" in stderr and "(--timeout)" in stderr
    assert "timeout=" not in stderr


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        ("register gpu-09 --gpus 8 --model m1", "--model does not apply to 'nodes register'"),
        ("heartbeat gpu-09 --address h:1", "--address does not apply to 'nodes heartbeat'"),
        ("list --health degraded", "--health does not apply to 'nodes list' (it takes no flags)"),
    ],
)
def test_nodes_refuses_a_flag_its_action_does_not_take(
    target: str, args: str, refused: str
) -> None:
    stderr = cli(target, "nodes", *args.split(), code=2).stderr
    assert refused in stderr


def test_events_no_follow_exits_once_caught_up_and_epoch_is_checked(target: str) -> None:
    cli(target, "cores", "invoke", "cli-follow", "--payload", "{}")
    lines = cli(
        target, "--json", "events", "cli-follow", "--limit", "5", "--no-follow"
    ).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["sequence"] for e in events] == [1, 2]  # ACTIVATED, INVOKED: all there were
    epoch = events[-1]["epoch"]
    resumed = cli(
        target, "--json", "events", "cli-follow", "--after", "1", "--epoch", epoch, "--no-follow"
    ).stdout.splitlines()
    assert [json.loads(line)["sequence"] for line in resumed] == [2]
    stale = cli(
        target, "events", "cli-follow", "--after", "1", "--epoch", "not-this-one", code=6
    ).stderr
    assert "history_reset" in stderr_line(stale)
    assert cli(target, "events", "cli-follow", "--after", "2", "--no-follow").stdout == ""


def stderr_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("scaigrid:"))


def test_the_cli_keeps_grpcs_own_log_lines_quiet(tmp_path: pathlib.Path) -> None:
    with Standalone(TOKEN, "--tls-dir", str(tmp_path)) as gateway:
        # plaintext at TLS; grpc-core writes to the process's own stderr
        stderr = cli(gateway.target, "models", code=8, process=True).stderr
    assert "ssl_transport_security" not in stderr
    assert all(line.startswith(("scaigrid:", "hint:")) for line in stderr.splitlines()), stderr

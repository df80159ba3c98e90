"""The real `scaigrid` console script, as a subprocess, against `scaigrid fake`."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.standalone import SCAIGRID, Standalone, free_port

TOKEN = "sgst_cli_suite_token_0123456789"
OMNI = "scailabs/poolnoodle-omni"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with Standalone(TOKEN, "--step-interval", "0.01") as gateway:
        yield gateway.target


def _env(target: str, token: str | None = TOKEN, *, plaintext: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIGRID_")}
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
) -> subprocess.CompletedProcess[str]:
    """Run `scaigrid ARGS`; check the exit code, and no traceback unless -v."""
    result = subprocess.run(
        [SCAIGRID, *args],
        env=_env(target, token, plaintext=plaintext),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    if "-v" not in args:
        assert "Traceback" not in result.stderr
    return result


def test_models(target: str) -> None:
    lines = cli(target, "models").stdout.splitlines()
    assert f"{OMNI}\tscailabs\t32768\tchat,embeddings" in lines
    models = json.loads(cli(target, "--json", "models").stdout)
    assert {"id": OMNI, "capabilities": ["chat", "embeddings"]}.items() <= next(
        m for m in models if m["id"] == OMNI
    ).items()
    assert json.loads(cli(target, "models", "--json").stdout) == models


def test_chat(target: str) -> None:
    out = cli(target, "chat", "-m", OMNI, "Hello", "--max-tokens", "6").stdout
    assert len(out.split()) == 6
    piped = cli(target, "-v", "chat", "-m", OMNI, "-", "--max-tokens", "6", stdin="Hello")
    assert piped.stdout == out  # stdin prompt: same deterministic reply
    assert "usage: " in piped.stderr
    assert "6 completion tokens" in piped.stderr
    reply = json.loads(
        cli(target, "--json", "chat", "-m", OMNI, "Hello", "--max-tokens", "6").stdout
    )
    assert reply["content"] + "\n" == out
    assert reply["request_id"]


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


def test_cores_and_events(target: str) -> None:
    out = cli(target, "cores", "invoke", "cli-core", "--payload", '{"n": 1}').stdout
    assert json.loads(out)["echo"] == {"n": 1}
    passivated = json.loads(cli(target, "--json", "cores", "passivate", "cli-core").stdout)
    assert passivated["state"] == "CORE_STATE_PASSIVATED"
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


def test_usage_errors(target: str) -> None:
    assert "--token" in cli(target, "models", token=None, code=2).stderr
    cli(target, "frobnicate", code=2)
    cli(target, "chat", "hi", code=2)  # -m is required


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
        assert "ca_cert" in missing.stderr


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

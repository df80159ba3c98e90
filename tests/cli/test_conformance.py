"""`scaigrid conformance`: the whole suite passes against the bundled fake
(the console script, against `scaigrid fake`, plaintext and TLS), its report
has the promised shape, its exit codes, ``--only``; and against fakes altered
on purpose (in process, below) the right cases fail, saying expected vs got."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

import scaigrid_client
from scaigrid_client._cli._main import main
from scaigrid_client._conformance import CASES, Case, Context, RegistrationError, case
from scaigrid_client._conformance._registry import CaseSkipped
from scaigrid_client._conformance._runner import run_case
from scaigrid_client.testing import FakeScaiGrid, _dispatch, _rpcs, _services
from scaigrid_client.testing._errors import FakeError
from tests.support.cli_runner import run_cli
from tests.support.standalone import Standalone, free_port

TOKEN = "sgst_conformance_suite_token_0123"
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
WRITES = {name for name, c in CASES.items() if c.writes}
FAKE_ONLY = {name for name, c in CASES.items() if c.where == "fake_only"}


class FakeWithControl:
    """`scaigrid fake` with its HTTP control plane, as a subprocess."""

    def __init__(self, *args: str) -> None:
        self.gateway = Standalone(TOKEN, "--control-port", "0", *args)
        self.control = ""

    def __enter__(self) -> FakeWithControl:
        self.gateway.start()
        proc = self.gateway.proc
        assert proc is not None and proc.stdout is not None
        for _ in range(3):
            line = proc.stdout.readline()
            if line.startswith("control: "):
                self.control = line.split()[1]
                break
        assert self.control, "scaigrid fake printed no control: line"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.gateway.stop()


@pytest.fixture(scope="module")
def standalone() -> Iterator[FakeWithControl]:
    with FakeWithControl("--step-interval", "0.01") as fake:
        yield fake


def conformance(
    target: str, *args: str, code: int = 0, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    """Run `scaigrid conformance --target TARGET ARGS` (in this process:
    tests/support/cli_runner.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIGRID_")}
    env["SCAIGRID_SERVICE_TOKEN"] = token
    result = run_cli(["conformance", "--target", target, *args], env=env, timeout=120)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def check_shape(report: dict[str, Any], target: str) -> None:
    """The report is exactly the documented JSON."""
    assert set(report) == {"target", "sdk_version", "cases", "summary"}
    assert report["target"] == target
    assert report["sdk_version"] == scaigrid_client.__version__
    for entry in report["cases"]:
        assert set(entry) == {"name", "outcome", "detail"}
        assert entry["outcome"] in ("pass", "fail", "skip")
        assert isinstance(entry["detail"], str)
    outcomes = [c["outcome"] for c in report["cases"]]
    assert report["summary"] == {o: outcomes.count(o) for o in ("pass", "fail", "skip")}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in report["cases"]}


def details(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["cases"]}


@pytest.mark.slow
def test_every_case_passes_against_the_fake(
    standalone: FakeWithControl, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "report.json"
    target = standalone.gateway.target
    result = conformance(
        target,
        "--plaintext",
        "--allow-writes",
        "--fake-control",
        standalone.control,
        "--report",
        str(path),
    )
    report = json.loads(path.read_text())
    check_shape(report, target)
    assert [c["name"] for c in report["cases"]] == list(CASES)
    assert report["summary"] == {"pass": len(CASES), "fail": 0, "skip": 0}, report
    # piped: the table as tab-separated lines, and the summary on stderr
    assert result.stdout.splitlines()[0] == "case\toutcome\tdetail"
    assert f"{len(CASES)} passed, 0 failed, 0 skipped" in result.stderr


def test_without_flags_only_free_reads_run(standalone: FakeWithControl) -> None:
    result = conformance(standalone.gateway.target, "--plaintext", "--json")
    report = json.loads(result.stdout)
    check_shape(report, standalone.gateway.target)
    found, said = outcomes(report), details(report)
    for name in CASES:
        if name in FAKE_ONLY:
            assert found[name] == "skip" and "--fake-control" in said[name]
        elif name in WRITES:
            assert found[name] == "skip" and "--allow-writes" in said[name]
        else:
            assert found[name] == "pass", (name, said[name])


@pytest.mark.slow
def test_only_runs_the_cases_named(standalone: FakeWithControl, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "only.json"
    target = standalone.gateway.target
    args = ("--plaintext", "--report", str(path), "--only")
    conformance(target, *args, "request_id_echoed", "list_models,auth_missing_token")
    report = json.loads(path.read_text())
    # in the suite's order, whatever the order given
    assert list(outcomes(report)) == ["auth_missing_token", "request_id_echoed", "list_models"]
    usage = conformance(target, "--plaintext", "--only", "no_such_case", code=2).stderr
    assert "--only: unknown case 'no_such_case'" in usage
    assert "auth_missing_token" in usage  # it lists the cases there are


def test_a_failed_stream_is_named_in_the_detail(
    standalone: FakeWithControl, tmp_path: pathlib.Path
) -> None:
    """The RPC named in a failure's detail is the stream that failed, not the
    last unary call before it."""
    import httpx

    httpx.post(
        f"{standalone.control}/fail",
        json={"method": "InferenceService.StreamInference", "status": "internal", "times": 5},
    ).raise_for_status()
    path = tmp_path / "stream.json"
    target = standalone.gateway.target
    args = ("--plaintext", "--allow-writes", "--report", str(path))
    conformance(target, *args, "--only", "heartbeat_ack", "stream_first_chunk", code=1)
    detail = details(json.loads(path.read_text()))["stream_first_chunk"]
    assert detail.startswith("InferenceService.StreamInference: expected OK, got INTERNAL"), detail


def test_a_report_path_that_cannot_be_written(standalone: FakeWithControl) -> None:
    missing = "/nonexistent-conformance-dir/report.json"
    usage = conformance(standalone.gateway.target, "--plaintext", "--report", missing, code=2)
    assert "--report: '/nonexistent-conformance-dir' is not a directory" in usage.stderr


def test_connection_flags_after_the_command(standalone: FakeWithControl) -> None:
    # --token and --plaintext after the command's name, as --target is
    result = conformance(
        standalone.gateway.target,
        "--plaintext",
        "--token",
        TOKEN,
        "--only",
        "list_models",
        token="sgst_not_this_one",
    )
    assert "1 passed" in result.stderr


def test_a_rejected_token_is_the_usual_exit_code(standalone: FakeWithControl) -> None:
    error = conformance(standalone.gateway.target, "--plaintext", token="sgst_nope", code=3)
    assert "UNAUTHENTICATED" in error.stderr and "hint: check --token" in error.stderr


@pytest.mark.slow
def test_no_gateway_is_the_usual_exit_code() -> None:
    error = conformance(f"127.0.0.1:{free_port()}", "--plaintext", code=8).stderr
    assert "hint: is a gateway running at" in error


@pytest.mark.slow
def test_every_case_passes_over_tls(tmp_path: pathlib.Path) -> None:
    with FakeWithControl("--tls-dir", str(tmp_path)) as fake:
        result = conformance(
            f"localhost:{fake.gateway.port}",
            "--ca-cert",
            str(tmp_path / "ca.pem"),
            "--allow-writes",
            "--fake-control",
            fake.control,
            "--json",
        )
    report = json.loads(result.stdout)
    assert report["summary"] == {"pass": len(CASES), "fail": 0, "skip": 0}, report


def test_help(standalone: FakeWithControl) -> None:
    text = " ".join(conformance("x", "--help").stdout.split())
    assert "example: scaigrid conformance" in text
    for flag in ("--target", "--token", "--plaintext", "--ca-cert", "--client-cert", "--timeout"):
        assert flag in text
    for flag in ("--allow-writes", "--model M", "--only NAME", "--report PATH", "--fake-control"):
        assert flag in text


# -- the registry -------------------------------------------------------------------


def test_a_case_without_its_marks_is_refused() -> None:
    registry: dict[str, Any] = {}

    async def checks(ctx: Any) -> None:
        """Checks something."""

    with pytest.raises(RegistrationError, match="unmarked; pass where="):
        case("unmarked", writes=False, registry=registry)(checks)
    with pytest.raises(RegistrationError, match="unmarked; pass writes="):
        case("unmarked", where="any_gateway", registry=registry)(checks)
    with pytest.raises(RegistrationError, match="where="):
        case("misplaced", where="anywhere", writes=False, registry=registry)(checks)  # type: ignore[arg-type]

    async def undocumented(ctx: Any) -> None:
        pass

    with pytest.raises(RegistrationError, match="docstring"):
        case("undocumented", where="fake_only", writes=False, registry=registry)(undocumented)
    case("marked", where="any_gateway", writes=False, registry=registry)(checks)
    with pytest.raises(RegistrationError, match="twice"):
        case("marked", where="any_gateway", writes=False, registry=registry)(checks)
    assert list(registry) == ["marked"]


def test_every_case_is_documented() -> None:
    text = DOCS.read_text()
    missing = [name for name in CASES if f"`{name}`" not in text]
    assert not missing, f"docs/conformance.md does not list {missing}"


# -- drift: against altered fakes, the right cases fail, saying expected vs got ------------


def run_in_process(
    fake: FakeScaiGrid, *only: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    args = ["--plaintext", "--token", fake.token, "--json", "conformance"]
    args += ["--target", fake.target, "--allow-writes", "--only", *only]
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    report: dict[str, Any] = json.loads(captured.out)
    check_shape(report, fake.target)
    return code, report


def alter_errors(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[grpc.StatusCode, str], tuple[Any, str]]
) -> None:
    """Every error the fake answers goes through ``change(status, code)``."""
    original = FakeError.__init__

    def altered(
        self: FakeError, status: Any, code: str, message: str, pushback: Any = None
    ) -> None:
        status, code = change(status, code)
        original(self, status, code, message, pushback)

    monkeypatch.setattr(FakeError, "__init__", altered)


def test_drift_not_found_without_its_trailer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alter_errors(monkeypatch, lambda s, c: (s, "" if s == grpc.StatusCode.NOT_FOUND else c))
    with FakeScaiGrid() as fake:
        code, report = run_in_process(
            fake, "not_found_job", "not_found_core", "auth_unknown_token", capsys=capsys
        )
    assert code == 1
    assert outcomes(report) == {
        "not_found_job": "fail",
        "not_found_core": "fail",
        "auth_unknown_token": "pass",
    }
    assert details(report)["not_found_job"] == (
        "GetJob: expected NOT_FOUND (job_not_found), got NOT_FOUND (no scaigrid-error-code): "
        f"job '{_missing(report)}-no-such-job' not found (wrong: scaigrid-error-code)"
    )


def _missing(report: dict[str, Any]) -> str:
    """The run id, as the not-found detail names it."""
    detail = details(report)["not_found_job"]
    return detail.split("job '")[1].split("-no-such-job")[0]


def test_drift_a_resume_repeats_the_cursors_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = _rpcs._replay_and_follow

    def from_the_cursor(fake: Any, stream: Any, items: Any, after: int, **how: Any) -> Any:
        return original(fake, stream, items, max(after - 1, 0), **how)

    monkeypatch.setattr(_rpcs, "_replay_and_follow", from_the_cursor)
    with FakeScaiGrid() as fake:
        only = ("events_contiguous", "events_after_sequence", "metrics_after_step")
        code, report = run_in_process(fake, *only, capsys=capsys)
    assert code == 1
    found = outcomes(report)
    assert found == {
        "events_contiguous": "pass",
        "events_after_sequence": "fail",
        "metrics_after_step": "fail",
    }
    assert details(report)["metrics_after_step"] == (
        "the steps after_step=1: expected [2, 3], got [1, 2, 3]"
    )
    assert details(report)["events_after_sequence"] == (
        "the sequences after_sequence=2: expected [3, 4, 5, 6], got [2, 3, 4, 5]"
    )


def test_drift_the_idempotency_key_ignored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_dispatch, "IDEMPOTENT_BY_REQUEST_ID", frozenset())
    with FakeScaiGrid() as fake:
        only = ("idempotent_submit_job", "idempotent_allocate_gpus", "idempotent_invoke_core")
        code, report = run_in_process(fake, *only, capsys=capsys)
    assert code == 1
    assert set(outcomes(report).values()) == {"fail"}
    said = details(report)
    assert said["idempotent_submit_job"] == (
        "the job id of a repeated SubmitJob (same request id): "
        "expected 'job-000001', got 'job-000002'"
    )
    assert said["idempotent_invoke_core"].startswith(
        "the invocation id of a repeated InvokeCore (same request id): expected 'inv-"
    )


def test_drift_a_wrong_status_for_a_validation_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    alter_errors(monkeypatch, lambda s, c: (grpc.StatusCode.INTERNAL if s == invalid else s, c))
    with FakeScaiGrid() as fake:
        only = ("validation_names_field", "validation_heartbeat", "not_found_model")
        code, report = run_in_process(fake, *only, capsys=capsys)
    assert code == 1
    assert outcomes(report) == {
        "validation_names_field": "fail",
        "validation_heartbeat": "fail",
        "not_found_model": "pass",
    }
    assert details(report)["validation_heartbeat"] == (
        "Heartbeat: expected INVALID_ARGUMENT (invalid_argument) naming "
        "'gpu_memory_used_bytes', got INTERNAL (invalid_argument): gpu_memory_used_bytes: "
        "must not exceed gpu_memory_total_bytes (wrong: status)"
    )


def test_a_gateway_with_some_services_fails_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    only_inference = {"InferenceService": _services.SERVICES["InferenceService"]}
    monkeypatch.setattr(_dispatch, "SERVICES", only_inference)
    with FakeScaiGrid() as fake:
        code, report = run_in_process(
            fake, "list_models", "not_found_job", "events_contiguous", capsys=capsys
        )
    assert code == 1
    assert outcomes(report) == {
        "list_models": "pass",
        "not_found_job": "fail",
        "events_contiguous": "fail",
    }
    assert "got UNIMPLEMENTED" in details(report)["not_found_job"]
    # a call that should have worked is named
    assert details(report)["events_contiguous"].startswith(
        "CoreRuntimeService.InvokeCore: expected OK, got UNIMPLEMENTED"
    )


def test_every_way_a_case_ends_is_an_outcome() -> None:
    """A hung case, a bug in a case and a skip are outcomes; the run goes on."""

    async def hangs(ctx: Any) -> None:
        await asyncio.sleep(10)

    async def breaks(ctx: Any) -> None:
        raise KeyError("oops")

    async def skips(ctx: Any) -> None:
        raise CaseSkipped("the gateway lists no chat model; pass --model M")

    async def run() -> list[tuple[str, str]]:
        ctx = Context(grid=None, connect=None)  # type: ignore[arg-type]
        results = []
        for fn in (hangs, breaks, skips):
            result = await run_case(Case(fn.__name__, "any_gateway", False, "", fn), ctx, 0.1)
            results.append((result.outcome, result.detail))
        return results

    assert asyncio.run(run()) == [
        ("fail", "expected it to finish within 0.1 s; it did not"),
        ("fail", "expected no error, got KeyError: 'oops'"),
        ("skip", "the gateway lists no chat model; pass --model M"),
    ]

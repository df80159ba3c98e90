"""Type-check user code against a plain `pip install scaigrid-client`.

What a user gets from `pip install scaigrid-client` alone (no extras, none
of this repository's dev tools) must be typed: a typo in a result's field
or an enum's name fails `mypy --strict` and pyright in *their* code. This
installs the package from this tree into a bare venv (.typing/, with mypy
and pyright and nothing else), checks a small user program from a directory
outside the tree, and fails unless each checker reports exactly the
deliberate mistakes below, one per marked line, and nothing else.

    python tools/typing_check.py
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile

from pythons import find_uv  # tools/, beside this script

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = ROOT / ".typing"
BIN = ENV / "bin"

# Each line that ends in `# error` must be reported, and no other line.
USER_CODE = """
from scaigrid_client import RawResponse, ScaiGrid, ServerStream, raw_response, sync
from scaigrid_client.v1 import scaicore, scaimind


async def user(grid: ScaiGrid) -> None:
    job = await grid.coordinator.get_job("job-1")
    print(job.state, job.stat)  # error
    await grid.coordinator.list_jobs(state="runing")  # error
    await grid.coordinator.list_jobs(state="running")
    await grid.coordinator.list_jobs(state="RUNNING")
    await grid.coordinator.list_jobs(state="JOB_STATE_RUNNING")
    await grid.heartbeat.heartbeat(node_id="n", health="NODE_HEALTH_DRAINING")
    events: ServerStream[scaicore.StreamEventsResponse] = grid.core.stream_events("c")
    async for event in events:
        print(event.sequence, event.sequense)  # error
    raw: RawResponse[scaimind.Job] = await raw_response(grid.coordinator.get_job, "job-1")
    print(raw.request_id, raw.result.progres)  # error
    await raw_response(grid.coordinator.get_job, job_id=3)  # error
    reply = await grid.inference.infer(model="m", messages=[{"role": "user", "content": "x"}])
    print(reply.content, reply.request_id, reply.usage.total_tokens)


def blocking(grid: sync.ScaiGrid) -> None:
    raw = sync.raw_response(grid.cluster.list_nodes)
    print([node.node_id for node in raw.result], raw.attempts)
    print(grid.coordinator.get_job("j").progres)  # error
"""


def install() -> None:
    """The venv once, made by .venv's uv; then the package from this tree as
    a user gets it (its dependencies, no extras), rebuilt on every run."""
    if not (BIN / "python").exists():
        uv("venv", "--python", sys.executable, str(ENV))
        uv("pip", "install", "mypy", "pyright[nodejs]")
    # --reinstall and --refresh: uv would otherwise reuse the wheel it built
    # from this directory before, stale once a source file changed.
    uv("pip", "install", "--reinstall-package", "scaigrid-client", "--refresh-package",
       "scaigrid-client", str(ROOT))  # fmt: skip


def uv(*args: str) -> None:
    command = [find_uv(), *args, "--quiet"]
    if args[0] == "pip":
        command += ["--python", str(BIN / "python")]
    subprocess.run(command, check=True)


def reported_lines(output: str, file: str) -> set[int]:
    return {
        int(m.group(1))
        for m in re.finditer(re.escape(file) + r":(\d+)(?::\d+)?:? -? ?error", output)
    }


def main() -> int:
    install()
    expected = {
        n for n, line in enumerate(USER_CODE.splitlines(), start=1) if line.endswith("# error")
    }
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        user = pathlib.Path(tmp) / "user.py"
        user.write_text(USER_CODE)
        checks = {
            "mypy --strict": [str(BIN / "mypy"), "--strict", "--no-incremental", "user.py"],
            "pyright": [str(BIN / "pyright"), "--pythonpath", str(BIN / "python"), "user.py"],
        }
        for name, command in checks.items():
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
            result = subprocess.run(command, cwd=tmp, capture_output=True, text=True, env=env)
            found = reported_lines(result.stdout, "user.py")
            if found != expected:
                status = 1
                print(f"{name}: expected errors on lines {sorted(expected)}, got {sorted(found)}")
                print(result.stdout + result.stderr)
            else:
                print(f"{name}: the {len(expected)} deliberate mistakes caught, nothing else")
    return status


if __name__ == "__main__":
    sys.exit(main())

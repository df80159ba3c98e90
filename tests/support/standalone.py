"""Standalone fakes (`scaigrid fake`) as subprocesses, for tests that need a
server in another process: restarts, kills, load."""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import sys

SCAIGRID = str(pathlib.Path(sys.executable).with_name("scaigrid"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Standalone:
    """One `scaigrid fake` process; ``start()`` again after ``stop()`` restarts it
    on the same port."""

    def __init__(self, token: str, *args: str, port: int | None = None) -> None:
        self.token = token
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[str] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Standalone:
        cmd = [SCAIGRID, "fake", "--port", str(self.port), "--token", self.token, *self.args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("target: "):
            raise AssertionError(f"scaigrid fake did not start: {line!r}")
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.communicate(timeout=20)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate(timeout=20)
            self.proc = None

    def __enter__(self) -> Standalone:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

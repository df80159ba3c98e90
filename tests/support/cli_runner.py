"""The `scaigrid` command line run inside the test process.

A subprocess of the console script spends about 0.4 s of CPU starting Python
and importing grpc and the SDK before it does anything; a hundred of them
were a third of the suite's CPU. `run_cli` calls the console script's own
entry point (`scaigrid_client._cli:main`) here instead, with what a process
would have of its own: the environment, stdin, stdout and stderr (binary
underneath, not terminals), Python's default warning display, logging with no
handlers but the last-resort one, and the exit code from `SystemExit` or an
uncaught exception (its traceback on stderr, as Python prints it).

Tests where the process itself is the point still run the console script:
signals (Ctrl-C), what grpc-core writes to the real stderr, settings read at
import (GRPC_VERBOSITY, the protobuf implementation) and `scaigrid fake`,
which installs signal handlers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TextIO

# sys.stdin/stdout/stderr and os.environ are the process's: one run at a time.
_ONE_AT_A_TIME = threading.Lock()


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`scaigrid ARGS` with the environment ``env``, as a subprocess would run it."""
    from scaigrid_client._cli import main

    stdout, stderr = _pipe(), _pipe()
    codes: list[int] = []

    def run() -> None:
        try:
            codes.append(main(list(args)))
        except SystemExit as exit:
            codes.append(_exit_code(exit.code, stderr))
        except BaseException:
            traceback.print_exc(file=stderr)
            codes.append(1)

    with (
        _ONE_AT_A_TIME,
        _environment(env),
        _leftovers_to(sys.stderr),  # (before _streams replaces it)
        _streams(stdin, stdout, stderr),
        _fresh_process(),
    ):
        # A thread, so that a hang fails the test after `timeout` as a
        # subprocess's would, instead of stalling the suite.
        thread = threading.Thread(target=run, name="scaigrid-cli", daemon=True)
        thread.start()
        thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"scaigrid {' '.join(args)}: still running after {timeout} s")
    return subprocess.CompletedProcess(["scaigrid", *args], codes[0], _read(stdout), _read(stderr))


def _pipe() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


def _exit_code(code: object, stderr: io.TextIOWrapper) -> int:
    """What the interpreter makes of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=stderr)
    return 1


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` as ``env`` for the run; only the variables that differ
    are set and unset (grpc's threads read the environment meanwhile)."""
    before = dict(os.environ)
    for name in before.keys() - env.keys():
        del os.environ[name]
    for name, value in env.items():
        if before.get(name) != value:
            os.environ[name] = value
    try:
        yield
    finally:
        for name in os.environ.keys() - before.keys():
            del os.environ[name]
        for name, value in before.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


@contextlib.contextmanager
def _streams(
    stdin: str | None, stdout: io.TextIOWrapper, stderr: io.TextIOWrapper
) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8")
    sys.stdout, sys.stderr = stdout, stderr
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved


def _show_on_stderr(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class _ForAClosedLoop(logging.Filter):
    """grpc.aio's completion queue hands each event to the loop that started
    the operation, from whichever loop is polling. An operation left pending
    when an earlier test closed its loop completes during some later run, and
    that run's loop logs "Exception in callback
    PollerCompletionQueue._handle_events ... Event loop is closed". The run's
    own loop is open while it runs, so the event is never the run's: a new
    process has no such leftovers. They go to the test's stderr instead."""

    def __init__(self, elsewhere: TextIO) -> None:
        super().__init__()
        self._elsewhere = elsewhere

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        leftover = (
            isinstance(error, RuntimeError)
            and str(error) == "Event loop is closed"
            and "PollerCompletionQueue._handle_events" in record.getMessage()
        )
        if leftover:
            print(logging.Formatter().format(record), file=self._elsewhere)
        return not leftover


@contextlib.contextmanager
def _leftovers_to(elsewhere: TextIO) -> Iterator[None]:
    asyncio_log = logging.getLogger("asyncio")
    leftovers = _ForAClosedLoop(elsewhere)
    asyncio_log.addFilter(leftovers)
    try:
        yield
    finally:
        asyncio_log.removeFilter(leftovers)


@contextlib.contextmanager
def _fresh_process() -> Iterator[None]:
    """Warnings shown on stderr, and logging with no handlers (pytest's
    capture handlers are on the root logger), as in a new interpreter."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            warnings.simplefilter("default")
            warnings.showwarning = _show_on_stderr  # not into pytest's record
            yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

"""The SDK's log lines on stderr while a command runs, at the level -v asks for."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


class _LogFormatter(logging.Formatter):
    """``scaigrid: retrying ...``; warnings and worse say so."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"scaigrid: {level}{super().format(record)}"


@contextlib.contextmanager
def sdk_logging(verbosity: int) -> Iterator[None]:
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

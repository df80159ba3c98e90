"""FakeError: how the fake's code says which error a call is answered with.

Auth, faults and the domain raise it; dispatch turns it into the gRPC
status, message and `scaigrid-error-code` trailer the gateway would send.
"""

from __future__ import annotations

import grpc

__all__ = ["FakeError", "invalid"]


class FakeError(Exception):
    """An error the fake gateway answers with."""

    def __init__(
        self,
        status: grpc.StatusCode,
        code: str,
        message: str,
        pushback_ms: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.pushback_ms = pushback_ms  # sent as grpc-retry-pushback-ms


def invalid(field_name: str, problem: str) -> FakeError:
    return FakeError(
        grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument", f"{field_name}: {problem}"
    )

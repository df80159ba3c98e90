"""The call journal: one `Call` record per attempt the fake saw, oldest first."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import message as _message

__all__ = ["Call", "CallJournal"]


@dataclass
class Call:
    """One attempt of one RPC, as the fake saw it."""

    method: str
    """``Service.Method``."""
    request: _message.Message
    """The request message (of the method's request type)."""
    metadata: dict[str, str | bytes]
    """The invocation metadata; for a repeated key, the last value."""
    request_id: str
    """The call's ``x-request-id``, or the one the fake made up when it
    carried none; every retry of a call carries the same one."""
    started: float
    """``time.time()`` when the attempt arrived."""
    ended: float | None = None
    """``time.time()`` when the attempt ended; None while the call is open."""
    status: grpc.StatusCode | None = None
    """The final status; None while the call is open."""
    code: str | None = None
    """The ``scaigrid-error-code`` sent, if any."""
    messages: int = 0
    """Response messages sent (1 for a successful unary call)."""
    time_remaining: float | None = None
    """Seconds left of the client's deadline when the attempt arrived (None: no deadline)."""
    responses: list[_message.Message] = field(default_factory=list)
    """Every response message sent, in order, when the fake records them
    (``FakeScaiGrid(record_responses=True)``); empty otherwise."""
    client_cert: str | None = None
    """The SHA-256 fingerprint (hex of the DER) of the client certificate
    the connection was made with (mTLS); None without one."""

    def __repr__(self) -> str:
        # The journal keeps the authorization header for assertions, but a
        # failing test's output must not show the token.
        shown = {k: ("<redacted>" if k == "authorization" else v) for k, v in self.metadata.items()}
        return (
            f"Call(method={self.method!r}, request_id={self.request_id!r}, "
            f"status={self.status}, code={self.code!r}, messages={self.messages}, "
            f"metadata={shown!r})"
        )


def _client_cert(context: Any) -> str | None:
    pems = (context.auth_context() or {}).get("x509_pem_cert")
    if not pems:
        return None
    import hashlib
    import ssl

    pem = pems[0].decode("ascii") if isinstance(pems[0], bytes) else pems[0]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.strip())).hexdigest()


class CallJournal:
    """The newest ``max_calls`` calls (None: all)."""

    def __init__(self, max_calls: int | None) -> None:
        self._calls: deque[Call] = deque(maxlen=max_calls)

    def begin(self, method: str, request: _message.Message, context: Any) -> Call:
        """Journal an attempt as it arrives, with its request id (or a new one)."""
        metadata: dict[str, str | bytes] = dict(context.invocation_metadata() or ())
        request_id = metadata.get("x-request-id")
        if not isinstance(request_id, str) or not request_id:
            request_id = "req-" + secrets.token_hex(12)
        call = Call(method, request, metadata, request_id, time.time())
        call.time_remaining = context.time_remaining()
        call.client_cert = _client_cert(context)
        self._calls.append(call)
        return call

    def sent(self, call: Call, response: _message.Message, *, keep: bool) -> None:
        """Count a response message sent on ``call`` (and ``keep`` it)."""
        call.messages += 1
        if keep:
            call.responses.append(response)

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in list(self._calls) if method is None or c.method == method]

    def clear(self) -> None:
        self._calls.clear()

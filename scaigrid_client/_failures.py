"""What a failed attempt means: grpc's error as the typed error, saying what
ran out where grpc's own words do not, and the bookkeeping of the TLS probe
that names a setup failure grpc calls "Socket closed" (`_diagnose`).
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from scaigrid_client import errors
from scaigrid_client._call import CallState, Metadata, OptionsTimeout
from scaigrid_client._retry import never_connected

__all__ = ["FailureDecoder"]

# grpc rounds the grpc-timeout it sends; a DEADLINE_EXCEEDED this close to
# the call's own deadline is that deadline.
_DEADLINE_SLACK = 0.05
# How long a probe of a gateway that closed the connection may take, and how
# often one is made while the gateway has never been reached.
_PROBE_TIMEOUT = 1.0
_PROBE_INTERVAL = 5.0


def _closed_at_setup(error: errors.ScaiGridError) -> bool:
    """grpc's words for a connection closed before HTTP/2 got going."""
    return (
        type(error) is errors.UnavailableError
        and error.code is None
        and ("Socket closed" in error.message or "Connection reset" in error.message)
    )


class FailureDecoder:
    """Decodes one client's failed attempts; remembers whether its gateway
    was ever reached (until then, a closed connection may be a TLS mismatch)."""

    def __init__(self, *, proxy: Any, client_timeout: float | None, may_probe: bool) -> None:
        """``may_probe``: the SDK built the channel to an address it knows
        (not a caller's channel, not an xds: target's endpoints)."""
        self._proxy = proxy
        self._client_timeout = client_timeout
        self._may_probe = may_probe
        self.reached = False
        self.setup_failure: str | None = None  # the probe's finding, kept
        self._next_probe = 0.0

    def decode(self, exc: grpc.RpcError, state: CallState) -> errors.ScaiGridError:
        """The typed error for a failed attempt."""
        error = errors.from_rpc_error(exc, request_id=state.request_id, attempts=state.attempt)
        status = error.status
        if status is grpc.StatusCode.UNAVAILABLE:
            if isinstance(self._proxy, str) and never_connected(error):
                # grpc's words name an address, not that it is the proxy's.
                from scaigrid_client._channel import redact_proxy

                error.add_detail(
                    f"the connection goes through the HTTP proxy {redact_proxy(self._proxy)} "
                    "(proxy=): check that it is running and reachable"
                )
            return error
        self.reached = True  # the gateway answered: the connection works
        if status is grpc.StatusCode.DEADLINE_EXCEEDED and error.code is None:
            remaining = state.remaining()
            # grpc's "Deadline Exceeded" on a call whose own deadline is up
            # (not a gateway that ran out of its own time): say which.
            if remaining is not None and remaining <= _DEADLINE_SLACK:
                return self.deadline_error(state, error.metadata)
        return error

    def deadline_error(
        self, state: CallState, metadata: Metadata = (), attempts: int | None = None
    ) -> errors.DeadlineExceededError:
        """The call's own deadline ran out: say which deadline and where it came from."""
        made = state.attempt if attempts is None else attempts
        if isinstance(state.timeout, OptionsTimeout):
            source = "timeout= of with_options(); pass timeout= to the call to change it"
        elif not state.timeout_is_default:
            source = "timeout= of this call"
        elif self._client_timeout is not None:
            source = "the client's default timeout=; pass timeout= to the call to change it"
        else:
            source = (
                f"the default deadline of {state.method.python_name}; pass timeout= to change it"
            )
        when = {0: "before the first attempt", 1: "after 1 attempt"}.get(
            made, f"after {made} attempts"
        )
        return errors.DeadlineExceededError(
            f"the call's deadline of {state.timeout:g} s ran out {when} ({source})",
            request_id=state.request_id,
            metadata=metadata,
            attempts=max(made, 1),
        )

    def should_probe(self, error: errors.ScaiGridError) -> bool:
        """Whether a probe may tell what grpc calls "Socket closed" (see _diagnose)."""
        if self.reached or not self._may_probe or not _closed_at_setup(error):
            return False
        if self.setup_failure is not None:
            return True
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + _PROBE_INTERVAL
        return True

    def probe_timeout(self, state: CallState) -> float:
        remaining = state.remaining()
        return _PROBE_TIMEOUT if remaining is None else min(_PROBE_TIMEOUT, remaining)

    def explained(self, error: errors.ScaiGridError, reason: str | None) -> errors.ScaiGridError:
        """``error`` as the TLS failure a probe found, if it found one."""
        if reason is None:
            return error
        self.setup_failure = reason
        return errors.tls_error(
            reason,
            error.message,
            status=error.status,
            request_id=error.request_id,
            metadata=error.metadata,
            attempts=error.attempts,
        )

"""Telemetry: what a call did, seen from outside.

- Tracing and metrics through `opentelemetry-api` (the ``otel`` extra), the
  way OpenTelemetry asks libraries to instrument themselves: one span per
  logical call (every attempt, or a stream with every resume), named
  ``{rpc.service}/{rpc.method}`` with the RPC semantic conventions, its
  attempts, retries and resumes as events, and a W3C ``traceparent`` sent to
  the gateway on every attempt; and the metrics listed in `_Instruments`.
- ``SCAIGRID_LOG=debug`` (or ``info``) in the environment: structured lines
  on stderr, one per attempt and per retry or resume (``info``: those
  only). The records also carry the fields as ``record.scaigrid`` for
  handlers of the ``scaigrid_client`` logger.

Nothing here runs for a call unless something is listening: no API
installed, or no tracer or meter provider set, and the logger not at
DEBUG, costs one check per call. Never the token, never message bodies.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from scaigrid_client._version import __version__

__all__ = ["CallTelemetry", "configure_logging_from_env", "start"]

logger = logging.getLogger("scaigrid_client")

_UNKNOWN: Any = object()
_otel: Any = _UNKNOWN  # the opentelemetry modules, None if not installed
_tracer: Any = None
_instruments: _Instruments | None = None
_span_names: dict[str, tuple[str, str, str]] = {}


def _api() -> Any:
    global _otel
    if _otel is _UNKNOWN:
        try:
            from opentelemetry import metrics, propagate, trace
        except ImportError:
            _otel = None
        else:
            _otel = (trace, metrics, propagate)
    return _otel


def _configured(provider: object) -> bool:
    # The API's stand-ins until an application sets a provider.
    return type(provider).__name__ not in (
        "ProxyTracerProvider",
        "NoOpTracerProvider",
        "_ProxyMeterProvider",
        "NoOpMeterProvider",
    )


def _tracer_now() -> Any:
    global _tracer
    if _tracer is None:
        api = _api()
        if api is None:
            return None
        provider = api[0].get_tracer_provider()
        if not _configured(provider):
            return None
        _tracer = provider.get_tracer("scaigrid_client", __version__)
    return _tracer


def _instruments_now() -> _Instruments | None:
    global _instruments
    if _instruments is None:
        api = _api()
        if api is None:
            return None
        provider = api[1].get_meter_provider()
        if not _configured(provider):
            return None
        _instruments = _Instruments(provider.get_meter("scaigrid_client", __version__))
    return _instruments


class _Instruments:
    """The SDK's metrics. Attributes follow the RPC semantic conventions."""

    def __init__(self, meter: Any) -> None:
        self.duration = meter.create_histogram(
            "rpc.client.duration",
            unit="ms",
            description="Duration of each logical call, all its attempts (or a stream's resumes) included",
        )
        self.attempts = meter.create_counter(
            "scaigrid.client.attempts", unit="{attempt}", description="Attempts sent"
        )
        self.retries = meter.create_counter(
            "scaigrid.client.retries", unit="{retry}", description="Retries after a failed attempt"
        )
        self.resumes = meter.create_counter(
            "scaigrid.client.stream.resumes",
            unit="{resume}",
            description="Resumable streams reopened after a broken link",
        )
        self.idle_timeouts = meter.create_counter(
            "scaigrid.client.stream.idle_timeouts",
            unit="{timeout}",
            description="Streams silent for longer than their idle_timeout",
        )
        self.budget_stopped = meter.create_counter(
            "scaigrid.client.retry_budget.stopped",
            unit="{retry}",
            description="Retries not made because the retry budget was spent",
        )
        meter.create_observable_gauge(
            "scaigrid.client.retry_budget.tokens",
            callbacks=[_budget_levels],
            unit="{token}",
            description="Tokens left in each client's retry budget (retries stop at half)",
        )
        self.tls_rotations = meter.create_counter(
            "scaigrid.client.tls.rotations",
            unit="{rotation}",
            description="Client certificates adopted from TLSFiles after a change",
        )
        meter.create_observable_gauge(
            "scaigrid.client.tls.expires_in",
            callbacks=[_tls_expiries],
            unit="s",
            description="Seconds until the client certificate in use (TLSFiles) expires",
        )


def _budget_levels(options: Any) -> Any:
    from opentelemetry.metrics import Observation

    from scaigrid_client._fork import live_transports

    for transport in live_transports():
        yield Observation(transport.budget_tokens(), {"server.address": transport.target})


def _tls_expiries(options: Any) -> Any:
    from opentelemetry.metrics import Observation

    from scaigrid_client._fork import live_transports

    for transport in live_transports():
        seconds = transport.tls_expires_in()
        if seconds is not None:
            yield Observation(seconds, {"server.address": transport.target})


def tls_rotated(fingerprint: str, not_after: str, source: str) -> None:
    """New client certificate material was adopted: an INFO line (with the
    fields as ``record.scaigrid``) and the rotations counter."""
    fields = {
        "event": "tls_rotation",
        "fingerprint": fingerprint,
        "not_after": not_after,
        "source": source,
    }
    logger.info(_line(fields), extra={"scaigrid": fields})
    instruments = _instruments_now()
    if instruments is not None:
        instruments.tls_rotations.add(1)


def _names(path: str) -> tuple[str, str, str]:
    """(span name, rpc.service, rpc.method) of '/pkg.Service/Method'."""
    names = _span_names.get(path)
    if names is None:
        service, _, method = path.lstrip("/").partition("/")
        names = _span_names[path] = (f"{service}/{method}", service, method)
    return names


_next_look = 0.0  # when to look for a provider again, while there is none


def active() -> bool:
    """Whether anything listens: a tracer or meter provider, or DEBUG logs.

    Until an application sets a provider, it is looked for at most once a
    second (so spans start within a second of it), which keeps the check
    off the cost of a call.
    """
    global _next_look
    if _tracer is not None or _instruments is not None or logger.isEnabledFor(logging.DEBUG):
        return True
    now = time.monotonic()
    if now < _next_look:
        return False
    _next_look = now + 1.0
    return _tracer_now() is not None or _instruments_now() is not None


class CallTelemetry:
    """One logical call's span, clock and counts."""

    __slots__ = (
        "attempt_started",
        "attempts",
        "attributes",
        "bytes",
        "messages",
        "method",
        "request_id",
        "resumes",
        "span",
        "started",
    )

    def __init__(self, method_name: str, path: str, request_id: str) -> None:
        span_name, service, rpc = _names(path)
        self.method = method_name
        self.request_id = request_id
        self.attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}
        self.started = self.attempt_started = time.perf_counter()
        self.messages = 0
        self.bytes = 0
        self.resumes = 0
        self.attempts = 0  # attempts ended, every one (a stream's count restarts on progress)
        tracer = _tracer_now()
        self.span = None
        if tracer is not None:
            api = _api()
            self.span = tracer.start_span(
                span_name,
                kind=api[0].SpanKind.CLIENT,
                attributes={**self.attributes, "scaigrid.request_id": request_id},
            )

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The W3C trace context of the span, for each attempt's metadata."""
        if self.span is None:
            return ()
        trace, _, propagate = _api()
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(self.span))
        return tuple(carrier.items())

    def attempt_finished(self, attempt: int, error: Any, pushback: Any) -> None:
        """One attempt ended (a stream's: its connection ended)."""
        self.attempts += 1
        status = "OK" if error is None else error.status.name
        code = None if error is None else error.code
        ms = (time.perf_counter() - self.attempt_started) * 1000
        fields: dict[str, Any] = {
            "event": "attempt",
            "method": self.method,
            "request_id": self.request_id,
            "attempt": attempt,
            "status": status,
            "code": code,
            "pushback": pushback,
            "ms": round(ms, 3),
        }
        if self.messages or self.bytes:
            fields["messages"] = self.messages
            fields["bytes"] = self.bytes
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(_line(fields), extra={"scaigrid": fields})
        instruments = _instruments_now()
        if instruments is not None:
            instruments.attempts.add(1, {**self.attributes, "rpc.grpc.status_code": _code(error)})
        if self.span is not None:
            self.span.add_event(
                "scaigrid.attempt",
                {
                    "scaigrid.attempt": attempt,
                    "scaigrid.status": status,
                    "scaigrid.ms": round(ms, 3),
                    **({"scaigrid.code": code} if code else {}),
                },
            )

    def retried(self, attempt: int, error: Any, delay: float, resume: bool) -> None:
        if resume:
            self.resumes += 1
        instruments = _instruments_now()
        if instruments is not None:
            counter = instruments.resumes if resume else instruments.retries
            counter.add(1, {**self.attributes, "rpc.grpc.status_code": _code(error)})
        if self.span is not None:
            self.span.add_event(
                "scaigrid.resume" if resume else "scaigrid.retry",
                {
                    "scaigrid.attempt": attempt,
                    "scaigrid.status": error.status.name,
                    "scaigrid.delay_ms": round(delay * 1000, 3),
                },
            )

    def finished(self, error: Any, cancelled: bool = False) -> None:
        """The logical call ended: with ``error``, or None; ``cancelled``:
        by its caller (not an error, but not OK either: CANCELLED)."""
        attempts = max(self.attempts, 1)
        code = 1 if cancelled else _code(error)
        instruments = _instruments_now()
        if instruments is not None:
            elapsed = (time.perf_counter() - self.started) * 1000
            instruments.duration.record(elapsed, {**self.attributes, "rpc.grpc.status_code": code})
        span = self.span
        if span is None:
            return
        span.set_attribute("rpc.grpc.status_code", code)
        span.set_attribute("scaigrid.attempts", attempts)
        if self.resumes:
            span.set_attribute("scaigrid.resumes", self.resumes)
        if error is not None:
            trace = _api()[0]
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
            span.set_attribute("scaigrid.error", type(error).__name__)
            if error.code:
                span.set_attribute("scaigrid.code", error.code)
        span.end()
        self.span = None


def _code(error: Any) -> int:
    return 0 if error is None else int(error.status.value[0])


def start(method_name: str, path: str, request_id: str) -> CallTelemetry | None:
    """A call's telemetry, or None when nothing listens (the common case)."""
    if not active():
        return None
    return CallTelemetry(method_name, path, request_id)


def count(counter: str, method_path: str) -> None:
    """Add one to ``counter`` (an `_Instruments` counter, e.g. "idle_timeouts")."""
    instruments = _instruments_now()
    if instruments is not None:
        _, service, rpc = _names(method_path)
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}
        getattr(instruments, counter).add(1, attributes)


def _line(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={'-' if value is None else value}" for key, value in fields.items())


def configure_logging_from_env() -> None:
    """``SCAIGRID_LOG=debug|info``: structured lines on stderr, once per process."""
    level = {"debug": logging.DEBUG, "info": logging.INFO}.get(
        os.environ.get("SCAIGRID_LOG", "").strip().lower()
    )
    if level is None or any(getattr(h, "_scaigrid_env", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("scaigrid %(levelname)s %(message)s"))
    handler._scaigrid_env = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)


configure_logging_from_env()

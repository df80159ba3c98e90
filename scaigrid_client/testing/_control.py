"""The control plane of a standalone fake: JSON over HTTP, so that suites in
any language can inject faults, read the call journal and reset state, as
Python suites do through ``FakeScaiGrid``'s methods.

    GET  /calls[?method=Service.Method]   the journal, oldest first
    GET  /state                           the state snapshot
    POST /fail          {"method", "status", "code", "message", "times",
                         "after_messages", "after_effect", "pushback_ms"}
    POST /delay         {"method", "seconds", "times"}
    POST /drop_streams  {"status", "code", "message"}  -> {"dropped": n}
    POST /tokens        {"scopes", "expires_in"}       -> {"token": "..."}
    POST /reset
    POST /script_reply  {"text", "model", "when", "times"}
    POST /step_job      {"job_id", "steps", "metrics"}  -> the job
    POST /finish_job    {"job_id", "state", "error"}    -> the job
    POST /emit_event    {"core_id", "type", "attributes"} -> the event
    POST /revoke_token  {"token"}
    POST /restart       {"keep_state"}                  -> {"epoch": "..."}

Bad input is answered 400 with ``{"error": "..."}`` naming the field. It
serves on its own thread; every operation runs on the fake's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import http.server
import inspect
import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf import message as _message

from scaigrid_client._to_dict import to_dict
from scaigrid_client.testing._server import Call, FakeScaiGrid

__all__ = ["ControlServer"]

_STATUSES = {s.name: s for s in grpc.StatusCode if s is not grpc.StatusCode.OK}


class ControlError(Exception):
    """Bad input: answered 400."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, _message.Message):
        return to_dict(value)  # enums by short name, as the SDK and the CLI print them
    if isinstance(value, grpc.StatusCode):
        return value.name
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()  # -bin metadata, as JSON carries bytes
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _call_json(call: Call) -> dict[str, Any]:
    shown: dict[str, Any] = _jsonable(call)
    if "authorization" in shown["metadata"]:
        shown["metadata"]["authorization"] = "<redacted>"  # the journal never shows a token
    return shown


def _field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON's true and false are not numbers here, though Python's bool is an int.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise ControlError(f"{name}: expected {expected}, got {json.dumps(value)}")
    return value


def _status(body: Mapping[str, Any], default: str | None = None) -> grpc.StatusCode:
    name = _field(body, "status", str, default)
    if name is None:
        raise ControlError("status: required, a gRPC status name such as 'UNAVAILABLE'")
    try:
        return _STATUSES[name.upper()]
    except KeyError:
        raise ControlError(
            f"status: unknown {name!r}; use one of {', '.join(sorted(_STATUSES))}"
        ) from None


def _required(body: Mapping[str, Any], name: str, what: str) -> str:
    value = _field(body, name, str, None)
    if value is None:
        raise ControlError(f"{name}: required, {what}")
    return str(value)


def _required_method(body: Mapping[str, Any]) -> str:
    method = _field(body, "method", str, None)
    if method is None:
        raise ControlError("method: required, as 'Service.Method'")
    return str(method)


class ControlServer:
    """The HTTP control plane of one running fake."""

    def __init__(self, fake: FakeScaiGrid, host: str = "127.0.0.1", port: int = 0) -> None:
        self._fake = fake
        self._loop = asyncio.get_running_loop()
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("GET", "/calls"): self._calls,
            ("GET", "/state"): lambda _: _jsonable(self._fake.state),
            ("POST", "/fail"): self._fail,
            ("POST", "/delay"): self._delay,
            ("POST", "/drop_streams"): self._drop_streams,
            ("POST", "/tokens"): self._tokens,
            ("POST", "/reset"): self._reset,
            ("POST", "/script_reply"): self._script_reply,
            ("POST", "/step_job"): self._step_job,
            ("POST", "/finish_job"): self._finish_job,
            ("POST", "/emit_event"): self._emit_event,
            ("POST", "/revoke_token"): self._revoke_token,
            ("POST", "/restart"): self._restart,
        }
        if host.startswith(("unix:", "unix-abstract:")):
            host = "127.0.0.1"  # the fake serves on a unix socket; HTTP needs TCP
        self._server = http.server.ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scaigrid-fake-control", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- operations (run on the fake's loop) ----------------------------------------

    def _calls(self, query: dict[str, Any]) -> Any:
        method = query.get("method")
        return {"calls": [_call_json(c) for c in self._fake.calls(method)]}

    def _fail(self, body: dict[str, Any]) -> Any:
        pushback = _field(body, "pushback_ms", (int, str), None)
        self._fake.fail(
            _required_method(body),
            _status(body),
            code=_field(body, "code", str, None),
            message=_field(body, "message", str, "injected fault"),
            times=_field(body, "times", int, 1),
            after_messages=_field(body, "after_messages", int, 0),
            after_effect=_field(body, "after_effect", bool, False),
            pushback_ms=pushback,
        )
        return {}

    def _delay(self, body: dict[str, Any]) -> Any:
        seconds = _field(body, "seconds", (int, float), None)
        if seconds is None:
            raise ControlError("seconds: required, a number")
        self._fake.delay(
            _required_method(body), seconds=float(seconds), times=_field(body, "times", int, 1)
        )
        return {}

    def _drop_streams(self, body: dict[str, Any]) -> Any:
        dropped = self._fake.drop_streams(
            _status(body, "UNAVAILABLE"),
            code=_field(body, "code", str, "service_draining"),
            message=_field(body, "message", str, "stream dropped: gateway restarting"),
        )
        return {"dropped": dropped}

    def _tokens(self, body: dict[str, Any]) -> Any:
        scopes = _field(body, "scopes", list, ["scaiinfer", "scaimind", "scaicore"])
        if not all(isinstance(s, str) for s in scopes):
            raise ControlError("scopes: expected a list of strings")
        expires_in = _field(body, "expires_in", (int, float), None)
        return {"token": self._fake.issue_token(scopes=scopes, expires_in=expires_in)}

    def _script_reply(self, body: dict[str, Any]) -> Any:
        text = _field(body, "text", str, None)
        if text is None:
            raise ControlError("text: required, the reply")
        self._fake.script_reply(
            text,
            model=_field(body, "model", str, None),
            when=_field(body, "when", str, None),
            times=_field(body, "times", int, None),
        )
        return {}

    def _step_job(self, body: dict[str, Any]) -> Any:
        metrics = _field(body, "metrics", dict, None)
        job = self._fake.step_job(
            _required(body, "job_id", "the job's id"), _field(body, "steps", int, 1), metrics
        )
        return to_dict(job)

    def _finish_job(self, body: dict[str, Any]) -> Any:
        job = self._fake.finish_job(
            _required(body, "job_id", "the job's id"),
            _field(body, "state", (str, int), "failed"),
            _field(body, "error", str, None),
        )
        return to_dict(job)

    def _emit_event(self, body: dict[str, Any]) -> Any:
        event_type = _field(body, "type", (str, int), None)
        if event_type is None:
            raise ControlError("type: required, such as 'invoked'")
        event = self._fake.emit_event(
            _required(body, "core_id", "the core's id"),
            event_type,
            _field(body, "attributes", dict, None),
        )
        return to_dict(event)

    def _revoke_token(self, body: dict[str, Any]) -> Any:
        self._fake.revoke_token(_required(body, "token", "the token to revoke"))
        return {}

    async def _restart(self, body: dict[str, Any]) -> Any:
        await self._fake.restart(keep_state=_field(body, "keep_state", bool, True))
        return {"epoch": self._fake.epoch}

    def _reset(self, body: dict[str, Any]) -> Any:
        self._fake.reset()
        return {}

    def dispatch(self, verb: str, target: str, payload: bytes) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON body). Runs on a server thread."""
        url = urllib.parse.urlsplit(target)
        route = self._routes.get((verb, url.path.rstrip("/") or "/"))
        if route is None:
            paths = sorted(f"{v} {p}" for v, p in self._routes)
            return 404, {"error": f"no {verb} {url.path}; the control plane has {paths}"}
        if verb == "GET":
            body: Any = dict(urllib.parse.parse_qsl(url.query))
        else:
            try:
                body = json.loads(payload or b"{}")
            except ValueError as exc:
                return 400, {"error": f"the body is not JSON: {exc}"}
            if not isinstance(body, dict):
                return 400, {"error": "the body must be a JSON object"}

        async def run() -> Any:
            answer = route(body)
            return await answer if inspect.isawaitable(answer) else answer

        try:
            return 200, asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)
        except (ControlError, ValueError) as exc:
            return 400, {"error": str(exc)}
        except Exception as exc:  # a bug here must still answer, not hang the suite
            return 500, {"error": f"{type(exc).__name__}: {exc}"}

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        control = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, verb: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = control.dispatch(verb, self.path, self.rfile.read(length))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: a suite's control calls are not the fake's business to print."""

        return Handler

"""FakeScaiGrid: an in-process grpc.aio server that behaves like the gateway.

Every RPC goes through one handler wrapper (`_FakeScaiGrid._unary` /
`_stream`) that does what the gateway does around a call: journal the
attempt, authenticate, apply injected delays and faults, honour the request
id as idempotency key, and turn `FakeError` into a status with the
`scaigrid-error-code` trailer. The per-RPC code in `_rpcs` is only domain
logic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import pathlib
import secrets
import threading
import time
import types
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

import grpc
from google.protobuf import message as _message, message_factory
from typing_extensions import Unpack

from scaigrid_client._clients import ScaiGrid
from scaigrid_client._config import RetryEvent, RetryPolicy, TLSConfig
from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client.testing._address import ListenAddress, bind_error, check_before_bind
from scaigrid_client.testing._state import FakeBackend, FakeError, HeartbeatRecord

__all__ = ["Call", "FakeScaiGrid", "FakeState", "RetryOverrides"]

_T = TypeVar("_T")

# Service -> (proto package, token scope).
SERVICES: dict[str, tuple[Any, str]] = {
    "InferenceService": (scaiinfer.inference_pb2, "scaiinfer"),
    "HeartbeatService": (scaiinfer.heartbeat_pb2, "scaiinfer"),
    "CoordinatorService": (scaimind.coordinator_pb2, "scaimind"),
    "ClusterService": (scaimind.cluster_pb2, "scaimind"),
    "CoreRuntimeService": (scaicore.runtime_pb2, "scaicore"),
}
# The request id is the idempotency key of these RPCs.
IDEMPOTENT_BY_REQUEST_ID = frozenset(
    {"CoordinatorService.SubmitJob", "ClusterService.AllocateGPUs", "CoreRuntimeService.InvokeCore"}
)
# Prefixes of ScaiGrid HTTP API keys, which the gRPC API refuses.
_API_KEY_PREFIXES = ("sk-", "sk_", "sgk_", "sg_live_", "sg_test_")
_ECHO_PREFIX = "x-echo-"


@dataclass
class Call:
    """One attempt of one RPC, as the fake saw it."""

    method: str
    """``Service.Method``."""
    request: _message.Message
    metadata: dict[str, str | bytes]
    """The invocation metadata; for a repeated key, the last value."""
    request_id: str
    started: float
    """``time.time()`` when the attempt arrived."""
    ended: float | None = None
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

    def __repr__(self) -> str:
        # The journal keeps the authorization header for assertions, but a
        # failing test's output must not show the token.
        shown = {k: ("<redacted>" if k == "authorization" else v) for k, v in self.metadata.items()}
        return (
            f"Call(method={self.method!r}, request_id={self.request_id!r}, "
            f"status={self.status}, code={self.code!r}, messages={self.messages}, "
            f"metadata={shown!r})"
        )


@dataclass
class _Fault:
    status: grpc.StatusCode
    code: str | None
    message: str
    after_messages: int
    after_effect: bool
    pushback_ms: int | str | None

    def error(self) -> FakeError:
        return FakeError(self.status, self.code or "", self.message, self.pushback_ms)


@dataclass
class _Grant:
    scopes: frozenset[str]
    expires_at: float | None


@dataclass(eq=False)
class _Stream:
    dropped: FakeError | None = None


@dataclass(frozen=True)
class FakeState:
    """A read-only snapshot of the fake's state, copied when taken."""

    models: Mapping[str, scaiinfer.Model]
    jobs: Mapping[str, scaimind.Job]
    metrics: Mapping[str, tuple[scaimind.StreamMetricsResponse, ...]]
    nodes: Mapping[str, scaimind.Node]
    allocations: Mapping[str, scaimind.Allocation]
    cores: Mapping[str, scaicore.CoreInstance]
    events: Mapping[str, tuple[scaicore.StreamEventsResponse, ...]]
    invocations: Mapping[str, tuple[scaicore.InvokeCoreRequest, ...]]
    heartbeats: Mapping[str, tuple[HeartbeatRecord, ...]]


_M = TypeVar("_M", bound=_message.Message)


class RetryOverrides(TypedDict, total=False):
    """Fields of RetryPolicy that ``FakeScaiGrid.retry_policy`` takes."""

    max_attempts: int
    initial_backoff: float
    max_backoff: float
    multiplier: float
    jitter: float
    retry_on: Collection[grpc.StatusCode]
    on_retry: Callable[[RetryEvent], object] | None
    budget_max_tokens: float
    budget_token_ratio: float


# Retries as the default policy makes them (same attempts and statuses), but
# waiting milliseconds, and with a budget injected faults do not trip: the
# largest bucket, and each success refunds a whole token.
_TEST_RETRY = RetryOverrides(
    initial_backoff=0.01, max_backoff=0.05, budget_max_tokens=1000.0, budget_token_ratio=1.0
)


def _copy(msg: _M) -> _M:
    clone = type(msg)()
    clone.CopyFrom(msg)
    return clone


def _frozen(d: dict[str, _T]) -> Mapping[str, _T]:
    return types.MappingProxyType(d)


class FakeScaiGrid:
    """A fake ScaiGrid gateway: a real grpc.aio server on a loopback port.

    Use it as an async context manager in async tests, or as a plain context
    manager in sync tests (it then runs on its own thread and event loop)::

        async with FakeScaiGrid() as fake, fake.client() as grid:
            await grid.inference.list_models()

    ``host`` is an IP address or host name (``port`` 0: a free port), or a
    unix socket: ``unix:PATH``, ``unix:///ABSOLUTE/PATH`` or
    ``unix-abstract:NAME`` (Linux); ``port`` is then not used. A port or
    socket that cannot be bound raises OSError saying why when it starts.

    ``tls=True`` serves TLS with a throwaway CA (see ``client_tls()``), and
    ``require_client_cert=True`` makes it mTLS. ``step_interval`` is the time
    a training job takes per step; ``token_interval`` paces streamed tokens
    (0: as fast as the transport allows). ``max_calls`` keeps only the newest
    calls in the journal (None: all), for fakes that run for hours.
    ``record_responses=True`` keeps every response message sent in its
    call's ``responses`` (every frame of a stream; mind the memory on large
    outputs).

    ``state_dir`` keeps the state (cores and their events, jobs and their
    metrics, nodes, allocations, idempotency keys and the history epoch) in
    that directory, written before any client sees a change, so a fake
    started again on it, even after SIGKILL, goes on where the last one
    stopped, as a restarted gateway does. Without it every start is a new
    history with a new epoch; so is ``reset()``. ``min_ping_interval`` is
    the shortest keepalive ping interval it accepts from a client, in
    seconds (10, as the gateway; a default gRPC server: 300); a client that
    pings more often is disconnected (GOAWAY ``too_many_pings``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        tls: bool = False,
        require_client_cert: bool = False,
        tls_dir: str | os.PathLike[str] | None = None,
        step_interval: float = 0.01,
        token_interval: float = 0.0,
        binary_chunk_size: int = 1 << 20,
        max_calls: int | None = None,
        record_responses: bool = False,
        state_dir: str | os.PathLike[str] | None = None,
        min_ping_interval: float = 10.0,
    ) -> None:
        if require_client_cert and not tls:
            raise ValueError("require_client_cert: mTLS needs tls=True as well")
        self._address = ListenAddress.parse(host, port)
        self.token: str = token or "sgst_" + secrets.token_hex(16)
        """A service token valid for every scope, that never expires."""
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.token_interval = token_interval
        self._tls_dir = pathlib.Path(tls_dir) if tls_dir is not None else None
        self._step_interval = step_interval
        self._binary_chunk_size = binary_chunk_size
        self._state_dir = state_dir
        if not min_ping_interval > 0:
            raise ValueError(
                f"min_ping_interval: must be a positive number of seconds, got {min_ping_interval!r}"
            )
        self._min_ping_interval = min_ping_interval
        self._tokens: dict[str, _Grant] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._calls: deque[Call] = deque(maxlen=max_calls)
        self.record_responses = record_responses
        self._streams: set[_Stream] = set()
        self._backend: FakeBackend | None = None
        self._server: grpc.aio.Server | None = None
        self._bound_port: int | None = None
        self._tls_material: dict[str, bytes] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._methods = {
            f"{service}.{m.name}": (module, scope, m)
            for service, (module, scope) in SERVICES.items()
            for m in module.DESCRIPTOR.services_by_name[service].methods
        }
        self._grant_default()

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> FakeScaiGrid:
        """Start serving; returns self. Prefer ``async with``."""
        if self._server is not None:
            raise RuntimeError("FakeScaiGrid is already running")
        self._loop = asyncio.get_running_loop()
        self._backend = self._new_backend(fresh=False)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", 64 << 20),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
                # Accept client keepalive pings every 10 s, as the gateway does.
                (
                    "grpc.http2.min_ping_interval_without_data_ms",
                    round(self._min_ping_interval * 1000),
                ),
                ("grpc.keepalive_permit_without_calls", 1),
                # grpc-core cancels calls that wait for a handler beyond 1000
                # (soft) and 3000 (hard); a suite's burst must not hit that.
                ("grpc.server.max_pending_requests", 50_000),
                ("grpc.server.max_pending_requests_hard_limit", 100_000),
            ]
        )
        try:
            server.add_generic_rpc_handlers(tuple(self._handlers()))
            await _add_health_and_reflection(server)
            self._bound_port = self._listen(server)
            await server.start()
        except BaseException:
            self._bound_port = None
            await server.stop(None)
            self._backend.close()
            self._backend = None
            raise
        self._server = server
        return self

    def _new_backend(self, *, fresh: bool) -> FakeBackend:
        return FakeBackend(
            step_interval=self._step_interval,
            binary_chunk_size=self._binary_chunk_size,
            state_dir=self._state_dir,
            fresh=fresh,
        )

    def _listen(self, server: grpc.aio.Server) -> int:
        """Add the listening port; return the TCP port (0 for a unix socket)."""
        address = self._address
        check_before_bind(address)
        try:
            if self.tls:
                port = server.add_secure_port(address.bind, self._server_credentials())
            else:
                port = server.add_insecure_port(address.bind)
        except RuntimeError:  # grpc's "Failed to bind to address ..."
            port = 0
        if port == 0:
            raise bind_error(address) from None
        return 0 if address.unix else port

    async def stop(self, grace: float | None = 0.5) -> None:
        """Stop serving, cancelling open calls after ``grace`` seconds."""
        server, self._server = self._server, None
        if server is None:
            return
        self._drop_all(FakeError(grpc.StatusCode.UNAVAILABLE, "service_draining", "shutting down"))
        await server.stop(grace)
        if self._backend is not None:
            self._backend.close()

    async def __aenter__(self) -> FakeScaiGrid:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> FakeScaiGrid:
        """Run the fake on its own thread and event loop, for sync tests."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                loop.close()
                started.set_exception(exc)
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="FakeScaiGrid", daemon=True)
        self._thread = thread
        thread.start()
        try:
            started.result()
        except BaseException:
            thread.join()
            self._thread = self._loop = None
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def _in_loop(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop (it touches loop-bound state)."""
        loop = self._loop
        if loop is None or self._thread is None or threading.current_thread() is self._thread:
            return fn()

        async def run() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result()

    # -- what clients need --------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port served; 0 when serving on a unix socket."""
        if self._bound_port is None:
            raise RuntimeError("FakeScaiGrid is not running; use 'async with FakeScaiGrid()'")
        return self._bound_port

    @property
    def target(self) -> str:
        """Where clients connect: ``host:port``, or the unix socket as given."""
        return self._address.target(self.port)

    def client_tls(self) -> TLSConfig:
        """The TLSConfig a client needs: the CA, and for mTLS a client cert."""
        if not self.tls:
            raise RuntimeError(
                "client_tls(): this fake serves plaintext; use FakeScaiGrid(tls=True)"
            )
        material = self._ensure_tls_material()
        if self.require_client_cert:
            return TLSConfig(
                ca_cert=material["ca.pem"],
                client_cert=material["client.pem"],
                client_key=material["client.key"],
                server_name="localhost",
            )
        return TLSConfig(ca_cert=material["ca.pem"], server_name="localhost")

    def retry_policy(self, **overrides: Unpack[RetryOverrides]) -> RetryPolicy:
        """A RetryPolicy for tests: the default's attempts and statuses, with
        waits of 10 to 50 ms instead of 0.5 to 5 s, and a retry budget that
        trips only after some 500 failures in a row. ``overrides`` replace
        any of its fields (``on_retry=`` to watch the retries)."""
        fields = RetryOverrides(**_TEST_RETRY)
        if "initial_backoff" in overrides and "max_backoff" not in overrides:
            # A longer first wait raises the cap with it rather than failing.
            fields["max_backoff"] = max(_TEST_RETRY["max_backoff"], overrides["initial_backoff"])
        return dataclasses.replace(RetryPolicy(**fields), **overrides)

    def client(self, **overrides: Any) -> ScaiGrid:
        """A ScaiGrid for this fake: its target, token and TLS (``client_tls()``
        for a TLS fake), and ``retry_policy()``. ``overrides`` are ScaiGrid
        keywords that replace these (``target=``, ``token=``, ``retry=``,
        ``timeout=``, ...).

        It needs no running loop to create; use and close it on the test's
        loop: ``async with fake.client() as grid: ...``.
        """
        options: dict[str, Any] = {
            "target": self.target,
            "token": self.token,
            "tls": self.client_tls() if self.tls else False,
            "retry": self.retry_policy(),
        }
        options.update(overrides)
        return ScaiGrid(**options)

    def issue_token(
        self,
        *,
        scopes: Iterable[str] = ("scaiinfer", "scaimind", "scaicore"),
        expires_in: float | None = None,
    ) -> str:
        """Mint a service token with these scopes, expiring in ``expires_in`` seconds."""
        scopes = frozenset(scopes)
        unknown = scopes - {"scaiinfer", "scaimind", "scaicore"}
        if unknown:
            raise ValueError(
                f"scopes: unknown {sorted(unknown)}; use 'scaiinfer', 'scaimind' or 'scaicore'"
            )
        token = "sgst_" + secrets.token_hex(16)
        expires_at = None if expires_in is None else time.time() + expires_in
        self._tokens[token] = _Grant(scopes, expires_at)
        return token

    def _grant_default(self) -> None:
        self._tokens[self.token] = _Grant(frozenset({"scaiinfer", "scaimind", "scaicore"}), None)

    # -- fault injection and inspection ---------------------------------------------

    def _check_method(self, method: str) -> None:
        if method not in self._methods:
            raise ValueError(
                f"method: unknown {method!r}; use 'Service.Method', one of {sorted(self._methods)}"
            )

    def fail(
        self,
        method: str,
        status: grpc.StatusCode,
        *,
        code: str | None = None,
        message: str = "injected fault",
        times: int = 1,
        after_messages: int = 0,
        after_effect: bool = False,
        pushback_ms: int | str | None = None,
    ) -> None:
        """Make the next ``times`` attempts of ``method`` fail with ``status``.

        ``after_messages=n`` fails a server stream after n messages (0: before
        any response headers, so the client may retry). ``after_effect=True``
        applies the call's side effect first. ``pushback_ms`` is sent as
        ``grpc-retry-pushback-ms``. Faults queue in order, per method.
        """
        self._check_method(method)
        if not isinstance(status, grpc.StatusCode) or status is grpc.StatusCode.OK:
            raise ValueError("status: pass a grpc.StatusCode other than OK")
        if times < 1 or after_messages < 0:
            raise ValueError("times must be at least 1 and after_messages at least 0")
        fault = _Fault(status, code, message, after_messages, after_effect, pushback_ms)
        self._faults.setdefault(method, deque()).extend([fault] * times)

    def delay(self, method: str, *, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` attempts of ``method`` for ``seconds`` first."""
        self._check_method(method)
        if seconds < 0 or times < 1:
            raise ValueError("seconds must be at least 0 and times at least 1")
        self._delays.setdefault(method, deque()).extend([seconds] * times)

    def calls(self, method: str | None = None) -> list[Call]:
        """Every attempt of ``method`` (or of every method), oldest first."""
        if method is not None:
            self._check_method(method)
        return [c for c in list(self._calls) if method is None or c.method == method]

    def drop_streams(
        self,
        status: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        *,
        code: str = "service_draining",
        message: str = "stream dropped: gateway restarting",
    ) -> int:
        """End every open server stream with ``status``, as a gateway restart
        would. Returns how many were dropped."""
        return self._in_loop(lambda: self._drop_all(FakeError(status, code, message)))

    def _drop_all(self, error: FakeError) -> int:
        streams = list(self._streams)
        for stream in streams:
            stream.dropped = error
        if self._backend is not None:
            self._backend.notify()
        return len(streams)

    def reset(self) -> None:
        """Forget all state, faults, delays, calls and issued tokens."""

        def reset_in_loop() -> None:
            self._drop_all(FakeError(grpc.StatusCode.UNAVAILABLE, "service_draining", "reset"))
            if self._backend is not None:
                self._backend.close()
                self._backend = self._new_backend(fresh=True)
            self._faults.clear()
            self._delays.clear()
            self._calls.clear()
            self._tokens.clear()
            self._grant_default()

        self._in_loop(reset_in_loop)

    @property
    def state(self) -> FakeState:
        """A read-only snapshot: models, jobs, metrics, nodes, allocations,
        cores, events, invocations and heartbeats."""
        return self._in_loop(self._snapshot)

    def _snapshot(self) -> FakeState:
        b = self.backend.tables
        return FakeState(
            models=_frozen({k: _copy(v) for k, v in b.models.items()}),
            jobs=_frozen({k: _copy(v.job) for k, v in b.jobs.items()}),
            metrics=_frozen({k: tuple(_copy(p) for p in v.points) for k, v in b.jobs.items()}),
            nodes=_frozen({k: _copy(v) for k, v in b.nodes.items()}),
            allocations=_frozen({k: _copy(v) for k, v in b.allocations.items()}),
            cores=_frozen({k: _copy(v.instance) for k, v in b.cores.items()}),
            events=_frozen({k: tuple(_copy(e) for e in v.events) for k, v in b.cores.items()}),
            invocations=_frozen(
                {k: tuple(_copy(r) for r in v.invocations) for k, v in b.cores.items()}
            ),
            heartbeats=_frozen({k: tuple(v) for k, v in b.heartbeats.items()}),
        )

    @property
    def backend(self) -> FakeBackend:
        if self._backend is None:
            raise RuntimeError("FakeScaiGrid is not running; use 'async with FakeScaiGrid()'")
        return self._backend

    # -- TLS ------------------------------------------------------------------------

    def _ensure_tls_material(self) -> dict[str, bytes]:
        if self._tls_material:
            return self._tls_material
        names = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
        if self._tls_dir is not None and all((self._tls_dir / n).exists() for n in names):
            self._tls_material = {n: (self._tls_dir / n).read_bytes() for n in names}
            return self._tls_material
        try:
            import trustme
        except ImportError:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "FakeScaiGrid(tls=True) needs trustme: pip install 'scaigrid-client[testing]'"
            ) from None
        ca = trustme.CA()
        server = ca.issue_cert("localhost", "127.0.0.1", "::1")
        client = ca.issue_cert("scaigrid-fake-client")
        self._tls_material = {
            "ca.pem": ca.cert_pem.bytes(),
            "server.pem": server.cert_chain_pems[0].bytes(),
            "server.key": server.private_key_pem.bytes(),
            "client.pem": client.cert_chain_pems[0].bytes(),
            "client.key": client.private_key_pem.bytes(),
        }
        if self._tls_dir is not None:
            self._tls_dir.mkdir(parents=True, exist_ok=True)
            for name, data in self._tls_material.items():
                path = self._tls_dir / name
                path.write_bytes(data)
                if name.endswith(".key"):
                    path.chmod(0o600)
        return self._tls_material

    def _server_credentials(self) -> grpc.ServerCredentials:
        m = self._ensure_tls_material()
        return grpc.ssl_server_credentials(
            [(m["server.key"], m["server.pem"])],
            root_certificates=m["ca.pem"] if self.require_client_cert else None,
            require_client_auth=self.require_client_cert,
        )

    # -- the one handler wrapper --------------------------------------------------

    def _handlers(self) -> Iterable[grpc.GenericRpcHandler]:
        from scaigrid_client.testing._rpcs import RPCS

        for service, (module, scope) in SERVICES.items():
            descriptor = module.DESCRIPTOR.services_by_name[service]
            handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
            for method in descriptor.methods:
                name = f"{service}.{method.name}"
                impl = RPCS[name]
                request_type = message_factory.GetMessageClass(method.input_type)
                if method.server_streaming:
                    handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                        self._stream(name, scope, impl),
                        request_deserializer=request_type.FromString,
                        response_serializer=_serialize,
                    )
                else:
                    handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                        self._unary(name, scope, impl),
                        request_deserializer=request_type.FromString,
                        response_serializer=_serialize,
                    )
            yield grpc.method_handlers_generic_handler(descriptor.full_name, handlers)

    def _begin(self, method: str, request: _message.Message, context: Any) -> Call:
        metadata: dict[str, str | bytes] = dict(context.invocation_metadata() or ())
        request_id = metadata.get("x-request-id")
        if not isinstance(request_id, str) or not request_id:
            request_id = "req-" + secrets.token_hex(12)
        call = Call(method, request, metadata, request_id, time.time())
        call.time_remaining = context.time_remaining()
        self._calls.append(call)
        return call

    def _authorize(self, scope: str, metadata: Mapping[str, str | bytes]) -> None:
        header = metadata.get("authorization")
        if not isinstance(header, str) or not header:
            raise FakeError(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing_token",
                "missing 'authorization' metadata; send 'authorization: Bearer <service-token>'",
            )
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise FakeError(
                grpc.StatusCode.UNAUTHENTICATED,
                "malformed_token",
                "malformed 'authorization' metadata; expected 'Bearer <service-token>'",
            )
        if token.startswith(_API_KEY_PREFIXES):
            raise FakeError(
                grpc.StatusCode.UNAUTHENTICATED,
                "api_key_not_accepted",
                "this looks like a ScaiGrid HTTP API key; the gRPC API takes ScaiKey "
                "service tokens, which are not API keys",
            )
        grant = self._tokens.get(token)
        if grant is None:
            raise FakeError(
                grpc.StatusCode.UNAUTHENTICATED, "invalid_token", "unknown service token"
            )
        if grant.expires_at is not None and time.time() >= grant.expires_at:
            raise FakeError(
                grpc.StatusCode.UNAUTHENTICATED,
                "token_expired",
                "service token expired; get a new one from ScaiKey",
            )
        if scope not in grant.scopes:
            raise FakeError(
                grpc.StatusCode.PERMISSION_DENIED,
                "permission_denied",
                f"service token is not scoped for '{scope}' (it has {sorted(grant.scopes)})",
            )

    async def _prologue(self, method: str, scope: str, call: Call) -> _Fault | None:
        """Authenticate and apply delays; return the fault this attempt takes."""
        self._authorize(scope, call.metadata)
        delays = self._delays.get(method)
        if delays:
            await asyncio.sleep(delays.popleft())
        faults = self._faults.get(method)
        return faults.popleft() if faults else None

    def _response_metadata(self, call: Call) -> list[tuple[str, str | bytes]]:
        md: list[tuple[str, str | bytes]] = [("x-request-id", call.request_id)]
        md.extend((k, v) for k, v in call.metadata.items() if k.startswith(_ECHO_PREFIX))
        return md

    @contextlib.asynccontextmanager
    async def _journaled(self, call: Call, context: Any) -> AsyncIterator[None]:
        """Answer a FakeError raised by the handler, and journal how the call ended."""
        try:
            yield
        except FakeError as error:
            call.status, call.code = error.status, error.code or None
            trailers = self._response_metadata(call)
            if error.code:
                trailers.append(("scaigrid-error-code", error.code))
            if error.pushback_ms is not None:
                trailers.append(("grpc-retry-pushback-ms", str(error.pushback_ms)))
            await context.abort(error.status, error.message, trailing_metadata=tuple(trailers))
        except BaseException as exc:
            call.status = _abort_status(context, exc)
            raise
        finally:
            call.ended = time.time()

    def _unary(
        self, method: str, scope: str, impl: Callable[[FakeScaiGrid, Any], Awaitable[Any]]
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        idempotent = method in IDEMPOTENT_BY_REQUEST_ID

        async def handle(request: Any, context: Any) -> Any:
            call = self._begin(method, request, context)
            async with self._journaled(call, context):
                fault = await self._prologue(method, scope, call)
                if fault is not None and not fault.after_effect:
                    raise fault.error()
                key = (method, call.request_id)
                response = self.backend.replies.get(key) if idempotent else None
                if response is None:
                    response = await impl(self, request)
                    if idempotent:
                        self.backend.remember_reply(key, response)
                if fault is not None:
                    raise fault.error()
                echo = self._response_metadata(call)
                await context.send_initial_metadata(echo)
                context.set_trailing_metadata(echo)
                call.status, call.messages = grpc.StatusCode.OK, 1
                if self.record_responses:
                    call.responses.append(response)
                return response

        return handle

    def _stream(
        self,
        method: str,
        scope: str,
        impl: Callable[[FakeScaiGrid, Any, _Stream], AsyncIterator[Any]],
    ) -> Callable[[Any, Any], AsyncIterator[Any]]:
        async def handle(request: Any, context: Any) -> AsyncIterator[Any]:
            call = self._begin(method, request, context)
            stream = _Stream()
            self._streams.add(stream)
            try:
                async with self._journaled(call, context):
                    fault = await self._prologue(method, scope, call)
                    fail_at = -1
                    if fault is not None:
                        if fault.after_messages == 0 and not fault.after_effect:
                            raise fault.error()  # Trailers-Only: no headers were sent
                        fail_at = fault.after_messages
                    await context.send_initial_metadata(self._response_metadata(call))
                    async for response in impl(self, request, stream):
                        if call.messages == fail_at and fault is not None:
                            raise fault.error()
                        yield response
                        call.messages += 1
                        if self.record_responses:
                            call.responses.append(response)
                    if fault is not None:
                        raise fault.error()
                    context.set_trailing_metadata(self._response_metadata(call))
                    call.status = grpc.StatusCode.OK
            finally:
                self._streams.discard(stream)

        return handle


def _abort_status(context: Any, exc: BaseException) -> grpc.StatusCode:
    """The status a handler that did not finish ends with, as the client sees it."""
    # A cancelled call raises CancelledError in the handler, or, when it is
    # cancelled while a stream handler waits at a `yield`, closes the handler.
    if not isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.UNKNOWN  # a bug in the fake: grpc answers UNKNOWN
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _serialize(message: _message.Message) -> bytes:
    return message.SerializeToString()


async def _add_health_and_reflection(server: grpc.aio.Server) -> None:
    try:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        from grpc_reflection.v1alpha import reflection
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "FakeScaiGrid needs grpcio-health-checking and grpcio-reflection: "
            "pip install 'scaigrid-client[testing]'"
        ) from None
    names = [module.DESCRIPTOR.services_by_name[s].full_name for s, (module, _) in SERVICES.items()]
    health_servicer = health.aio.HealthServicer()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

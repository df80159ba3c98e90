"""FakeScaiGrid: an in-process grpc.aio server that behaves like the gateway.

This module is the public façade: the fake's lifecycle (start and stop, in
the caller's loop or on a thread of its own) and thin methods over the
parts that do the work: `_dispatch` (every RPC's wrapper) over `_rpcs` and
`_state`, `_calls` (the journal), `_faults`, `_auth`, `_tls`,
`_grpc_server`, `_loop_thread`, `_state_view` and `_test_client`. Its
controls are grouped in its bases: `_controls.FakeControls` (replies, jobs,
events, tokens), `_fault_controls.FaultControls` (faults, delays, dropped
streams, the journal) and `_client_controls.ClientControls` (TLS, the
certificate rotations, ready-made clients).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import secrets
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import grpc

from scaigrid_client.testing._address import ListenAddress
from scaigrid_client.testing._auth import Tokens
from scaigrid_client.testing._calls import Call, CallJournal
from scaigrid_client.testing._client_controls import ClientControls
from scaigrid_client.testing._controls import FakeControls
from scaigrid_client.testing._dispatch import Dispatcher
from scaigrid_client.testing._errors import FakeError
from scaigrid_client.testing._fault_controls import FaultControls
from scaigrid_client.testing._faults import Faults
from scaigrid_client.testing._grpc_server import replace_server, start_server
from scaigrid_client.testing._loop_thread import LoopThread
from scaigrid_client.testing._scripts import ReplyScripts
from scaigrid_client.testing._state._backend import FakeBackend
from scaigrid_client.testing._state_view import FakeState, state_of
from scaigrid_client.testing._test_client import RetryOverrides
from scaigrid_client.testing._tls import TLSMaterial

__all__ = ["Call", "FakeScaiGrid", "FakeState", "RetryOverrides"]

_T = TypeVar("_T")
_NOT_RUNNING = "FakeScaiGrid is not running; use 'async with FakeScaiGrid()'"


class _Finished:
    """An awaitable that is already done: a restart the threaded fake made."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class FakeScaiGrid(FakeControls, FaultControls, ClientControls):
    """A fake ScaiGrid gateway: a real grpc.aio server on a loopback port.

    Use it as an async context manager in async tests, or as a plain context
    manager in sync tests (it then runs on its own thread and event loop)::

        async with FakeScaiGrid() as fake, fake.client() as grid:
            await grid.inference.list_models()

    Without ``state_dir`` every start is a new history with a new epoch; so
    is ``reset()``. See docs/testing.md for what each control does.

    Args:
        host: An IP address or host name to listen on (default the IPv4
            loopback), or a unix socket: ``unix:PATH``,
            ``unix:///ABSOLUTE/PATH`` or ``unix-abstract:NAME`` (Linux).
        port: The TCP port, 0 to 65535 (default 0: a free port, see
            ``port`` once started). Not used for a unix socket.
        token: The service token that is valid for every scope and never
            expires (default: a fresh random ``sgst_...`` one); see ``token``.
        tls: Serve TLS with a throwaway CA (needs the ``testing`` extra, for
            trustme); ``client_tls()`` gives what a client needs. Default
            False: plaintext.
        require_client_cert: Make it mTLS: refuse connections without a
            client certificate of the fake's client CA. Needs ``tls=True``.
        tls_dir: A directory for the TLS files (``ca.pem``, ``server.pem``,
            ``server.key``, ``client.pem``, ``client.key``): read from it
            when all are there, else made and written there (None: kept in
            memory). A fake that read them has no CA key to issue client
            certificates with until ``rotate_client_ca()``.
        step_interval: Seconds a training job takes per step, at least 0
            (default 0.01); None: jobs move only when a test calls
            ``step_job`` or ``finish_job``.
        token_interval: Seconds between the tokens of a streamed chat reply
            (default 0: as fast as the transport allows).
        binary_chunk_size: Bytes per response message of a binary reply
            (``response_format=RESPONSE_FORMAT_BINARY``); default 1 MiB.
        max_calls: Keep only the newest this many calls in the journal
            (``calls()``), for fakes that run for hours; None (default): all.
        record_responses: Keep every response message sent in its call's
            ``responses`` (every frame of a stream; mind the memory on large
            outputs). Default False.
        state_dir: Keep the state (cores and their events, jobs and their
            metrics, nodes, allocations, idempotency keys and the history
            epoch) in this directory, written before any client sees a
            change, so a fake started again on it, even after SIGKILL, goes
            on where the last one stopped, as a restarted gateway does.
            None (default): in memory only.
        min_ping_interval: The shortest keepalive ping interval accepted
            from a client, in seconds, above 0 (default 10, as the gateway;
            a default gRPC server: 300); a client that pings more often is
            disconnected (GOAWAY ``too_many_pings``).

    Raises:
        ValueError: ``host`` is not an address or socket, ``port`` not in 0
            to 65535, ``require_client_cert`` without ``tls``,
            ``step_interval`` negative or not a number, or
            ``min_ping_interval`` not above 0. (A port or socket that cannot
            be bound raises OSError, saying why, when the fake starts.)
    """

    token: str
    """The service token every scope accepts (give it to your clients)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        tls: bool = False,
        require_client_cert: bool = False,
        tls_dir: str | os.PathLike[str] | None = None,
        step_interval: float | None = 0.01,
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
        self.token = token or "sgst_" + secrets.token_hex(16)
        """A service token valid for every scope, that never expires."""
        self.tls = tls
        """Whether it serves TLS (as given; read when it starts)."""
        self.require_client_cert = require_client_cert
        """Whether it is mTLS (as given; read when it starts)."""
        self.token_interval = token_interval
        """Seconds between streamed chat tokens; a change applies to the
        replies that start after it."""
        self._tls = TLSMaterial(pathlib.Path(tls_dir) if tls_dir is not None else None)
        if not min_ping_interval > 0:
            raise ValueError(
                f"min_ping_interval: must be a positive number of seconds, got {min_ping_interval!r}"
            )
        self._min_ping_interval = min_ping_interval
        if step_interval is not None and (
            isinstance(step_interval, bool)
            or not isinstance(step_interval, (int, float))
            or step_interval < 0
        ):
            raise ValueError(
                "step_interval: must be a number of seconds of at least 0, or None "
                f"(jobs step only when told), got {step_interval!r}"
            )
        self._tokens = Tokens(self.token)
        self._scripts = ReplyScripts()
        self._faults = Faults()
        self._journal = CallJournal(max_calls)
        self.record_responses = record_responses
        """Whether calls keep their responses (``Call.responses``); a change
        applies to the messages sent after it."""
        self._dispatch = Dispatcher(self, self._journal, self._tokens, self._faults)
        # What each start (and reset) builds the state with.
        self._new_backend = functools.partial(
            FakeBackend,
            step_interval=step_interval,
            binary_chunk_size=binary_chunk_size,
            state_dir=state_dir,
            scripts=self._scripts,
        )
        self._backend: FakeBackend | None = None
        self._server: grpc.aio.Server | None = None
        self._bound_port: int | None = None
        self._thread: LoopThread | None = None

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> FakeScaiGrid:
        """Start serving, in the running event loop. Prefer ``async with``.

        Returns:
            The fake itself.

        Raises:
            RuntimeError: The fake is already running, or it serves TLS and
                trustme is not installed.
            OSError: The address cannot be listened on (in use, no such
                directory, ...); the message says why.
        """
        if self._server is not None:
            raise RuntimeError("FakeScaiGrid is already running")
        self._backend = self._new_backend(fresh=False)
        self._dispatch.serve()
        credentials = self._server_credentials if self.tls else None
        try:
            self._server, self._bound_port = await start_server(
                self._dispatch.handlers(),
                self._address,
                credentials,
                min_ping_interval=self._min_ping_interval,
            )
        except BaseException:
            self._backend.close()
            self._backend = None
            raise
        return self

    def _server_credentials(self) -> grpc.ServerCredentials:
        return self._tls.server_credentials(require_client_cert=self.require_client_cert)

    async def stop(self, grace: float | None = 0.5) -> None:
        """Stop serving, as a draining gateway does: the open streams and
        every call that arrives from now on end UNAVAILABLE
        ``service_draining`` (which clients retry), and the server stops once
        no call has started for a moment and none is running (at once if
        it has had no call).

        Stopping a fake that is not running does nothing. Leaving ``async
        with`` or ``with`` (or the fixture's teardown) stops it without the
        drain: the test is done with it, and the drain costs 10 ms or more.

        Args:
            grace: Seconds the calls still open get to finish (the drain
                included) before they are cancelled (default 0.5); None or 0:
                no drain, cancel them at once.
        """
        await self._stop(grace, drain=True)

    async def _stop(self, grace: float | None, *, drain: bool) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        draining = FakeError(grpc.StatusCode.UNAVAILABLE, "service_draining", "shutting down")
        self._drop_all(draining)
        if drain and grace:
            grace = await self._dispatch.drain(draining, grace)
        await server.stop(grace)
        if self._backend is not None:
            self._backend.close()

    async def __aenter__(self) -> FakeScaiGrid:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop_at_exit()

    async def _stop_at_exit(self) -> None:
        # Leaving the block (or a fixture's teardown) ends the test's use of
        # the fake: no drain, which costs a test that made calls 10 ms or more.
        await self._stop(0.5, drain=False)

    def __enter__(self) -> FakeScaiGrid:
        """Run the fake on its own thread and event loop, for sync tests.

        Returns:
            The running fake.

        Raises:
            RuntimeError: The fake is already running.
            OSError: The address cannot be listened on.
        """
        thread = self._thread = LoopThread("FakeScaiGrid")
        try:
            thread.start(self.start, self._stop_at_exit)
        except BaseException:
            self._thread = None
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def restart(self, *, keep_state: bool = True) -> Awaitable[None]:
        """Restart the fake in place, as a gateway restart does.

        Every open stream ends UNAVAILABLE ``service_draining``, every
        connection is closed, and the fake listens again on the same address
        (the same port, when it was picked from 0). Clients reconnect on
        their own, and resumable streams resume. Faults, delays, scripted
        replies and the call journal are the test's and stay.

        ``await fake.restart()`` in the ``async with`` form. With the fake on
        its own thread (``with FakeScaiGrid()``, the ``scaigrid_fake``
        fixture) the restart is done when the call returns, so a sync test
        calls ``fake.restart()``; awaiting what it returns works as well.

        Args:
            keep_state: True keeps the state, tokens and history epoch, as
                a gateway with a state directory does. False starts empty,
                with a new epoch (a resume with an old cursor gets
                ``history_reset``) and only ``fake.token`` valid, as a gateway
                without one does; with ``state_dir`` the directory starts over too.

        Returns:
            An awaitable that finishes the restart (already finished in the
            threaded form).

        Raises:
            RuntimeError: The fake is not running.
            TypeError: ``keep_state`` is not a bool.
            OSError: The address could not be listened on again (the fake is
                then stopped).
        """
        if not isinstance(keep_state, bool):
            raise TypeError(f"keep_state: expected a bool, got {type(keep_state).__name__}")
        if self._server is None:
            raise RuntimeError(_NOT_RUNNING)
        if self._thread is not None:
            self._thread.run(lambda: self._restart(keep_state))
            return _Finished()
        return self._restart(keep_state)

    async def _restart(self, keep_state: bool) -> None:
        old = self._server
        if old is None:
            raise RuntimeError(_NOT_RUNNING)

        def switch() -> None:
            # The old streams end (their clients reconnect to the new server),
            # and, for a new epoch, the state starts over.
            self._drop_all(FakeError(grpc.StatusCode.UNAVAILABLE, "service_draining", "restarting"))
            if not keep_state and self._backend is not None:
                self._backend.close()
                self._backend = self._new_backend(fresh=True)
                self._tokens.reset()

        address = self._address
        if not address.unix and self._bound_port is not None:
            address = dataclasses.replace(address, port=self._bound_port)
        try:
            self._server = await replace_server(
                old,
                self._dispatch.handlers(),
                address,
                self._server_credentials if self.tls else None,
                min_ping_interval=self._min_ping_interval,
                switch=switch,
            )
        except BaseException:
            self._server = None
            if self._backend is not None:
                self._backend.close()
                self._backend = None
            raise

    @property
    def epoch(self) -> str:
        """The history epoch events and metric points carry now; ``reset()``
        and ``restart(keep_state=False)`` start a new one.

        Raises:
            RuntimeError: The fake is not running.
        """
        return self._in_loop(lambda: self._domain.epoch)

    def _in_loop(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop (it touches loop-bound state)."""
        return fn() if self._thread is None else self._thread.call(fn)

    # -- what clients need --------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port served; 0 when serving on a unix socket.

        Raises:
            RuntimeError: The fake is not running.
        """
        if self._bound_port is None:
            raise RuntimeError(_NOT_RUNNING)
        return self._bound_port

    @property
    def target(self) -> str:
        """Where clients connect: ``host:port``, or the unix socket as given.

        Raises:
            RuntimeError: The fake is not running.
        """
        return self._address.target(self.port)

    def reset(self) -> None:
        """Forget all state, faults, delays, scripted replies, calls and issued tokens.

        The state starts over with a new history epoch, open streams end
        UNAVAILABLE ``service_draining``, and only ``token`` stays valid (a
        revoked one is valid again).
        """

        def reset_in_loop() -> None:
            self._drop_all(FakeError(grpc.StatusCode.UNAVAILABLE, "service_draining", "reset"))
            if self._backend is not None:
                self._backend.close()
                self._backend = self._new_backend(fresh=True)
            self._faults.clear()
            self._scripts.clear()
            self._journal.clear()
            self._tokens.reset()

        self._in_loop(reset_in_loop)

    @property
    def state(self) -> FakeState:
        """A read-only snapshot: models, jobs, metrics, nodes, allocations,
        cores, events, invocations and heartbeats (see `FakeState`).

        Raises:
            RuntimeError: The fake is not running.
        """
        return self._in_loop(lambda: state_of(self._domain.tables))

    @property
    def _domain(self) -> FakeBackend:
        if self._backend is None:
            raise RuntimeError(_NOT_RUNNING)
        return self._backend

"""FakeScaiGrid: an in-process grpc.aio server that behaves like the gateway.

This module is the public façade: the fake's lifecycle (start and stop, in
the caller's loop or on a thread of its own) and thin methods over the
parts that do the work: `_dispatch` (every RPC's wrapper) over `_rpcs` and
`_state`, `_calls` (the journal), `_faults`, `_auth`, `_tls`,
`_grpc_server`, `_loop_thread`, `_state_view` and `_test_client`.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import pathlib
import secrets
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from typing_extensions import Unpack

from scaigrid_client._clients import ScaiGrid
from scaigrid_client._config import RetryPolicy, TLSConfig
from scaigrid_client.testing._address import ListenAddress
from scaigrid_client.testing._auth import Tokens
from scaigrid_client.testing._calls import Call, CallJournal
from scaigrid_client.testing._controls import FakeControls
from scaigrid_client.testing._dispatch import Dispatcher
from scaigrid_client.testing._errors import FakeError
from scaigrid_client.testing._faults import Fault, Faults
from scaigrid_client.testing._grpc_server import replace_server, start_server
from scaigrid_client.testing._loop_thread import LoopThread
from scaigrid_client.testing._names import status_code
from scaigrid_client.testing._scripts import ReplyScripts
from scaigrid_client.testing._services import check_method
from scaigrid_client.testing._state._backend import FakeBackend
from scaigrid_client.testing._state_view import FakeState, state_of
from scaigrid_client.testing._test_client import (
    RetryOverrides,
    client_for_tests,
    retry_policy_for_tests,
    sync_client_for_tests,
)
from scaigrid_client.testing._tls import ClientCert, TLSMaterial

if TYPE_CHECKING:
    from scaigrid_client import sync

__all__ = ["Call", "FakeScaiGrid", "FakeState", "RetryOverrides"]

_T = TypeVar("_T")
_NOT_RUNNING = "FakeScaiGrid is not running; use 'async with FakeScaiGrid()'"


class _Finished:
    """An awaitable that is already done: a restart the threaded fake made."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class FakeScaiGrid(FakeControls):
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

    def client_tls(self) -> TLSConfig:
        """What a client needs to connect to this TLS fake.

        Returns:
            A `TLSConfig` with the CA bundle that verifies the fake (the
            old and the new CA during a rotation), the server name
            ``localhost`` and, for mTLS, a client certificate of the newest
            client CA.

        Raises:
            RuntimeError: The fake serves plaintext, or trustme is not
                installed.
        """
        if not self.tls:
            raise RuntimeError(
                "client_tls(): this fake serves plaintext; use FakeScaiGrid(tls=True)"
            )
        return self._tls.client_config(require_client_cert=self.require_client_cert)

    # -- certificate rotation (see docs/testing.md) ---------------------------------

    def _require_tls(self, what: str) -> None:
        if not self.tls:
            raise RuntimeError(f"{what}: this fake serves plaintext; use FakeScaiGrid(tls=True)")

    def issue_client_cert(
        self,
        *,
        valid_for: float = 3600.0,
        not_before: datetime.datetime | None = None,
        common_name: str = "scaigrid-fake-client",
    ) -> ClientCert:
        """Issue a client certificate from the client CA in use now.

        Args:
            valid_for: seconds from now until it expires (short-lived
                certificates are the point: a few seconds works).
            not_before: when it becomes valid (default: a tenth of
                ``valid_for`` ago, at most a minute).
            common_name: its subject's common name.

        Returns:
            The certificate, its key, the CA bundle that verifies this
            fake, its fingerprint and expiry.

        Raises:
            RuntimeError: the fake serves plaintext, or read its
                certificates from ``tls_dir`` (no CA key: ``rotate_client_ca()`` first).
        """
        self._require_tls("issue_client_cert()")
        return self._tls.issue_client_cert(
            valid_for=valid_for, not_before=not_before, common_name=common_name
        )

    def rotate_client_ca(self, *, keep_previous: bool = True) -> None:
        """Issue client certificates from a new CA from now on.

        Args:
            keep_previous: go on accepting certificates of the CAs before it
                (the overlap) until ``retire_old_client_cas()``; False: new
                connections need a certificate of the new CA at once.
                Connections already made stay either way.

        Raises:
            RuntimeError: The fake serves plaintext, or trustme is not installed.
        """
        self._require_tls("rotate_client_ca()")
        self._tls.rotate_client_ca(keep_previous=keep_previous)

    def retire_old_client_cas(self) -> None:
        """End the overlap: new connections need a certificate of the newest client CA.

        Raises:
            RuntimeError: The fake serves plaintext.
        """
        self._require_tls("retire_old_client_cas()")
        self._tls.retire_old_client_cas()

    def rotate_server_cert(self, *, new_ca: bool = False, valid_for: float | None = None) -> bytes:
        """Present a new server certificate to new connections.

        Args:
            new_ca: sign it with a new CA (added to the bundle clients should
                trust) rather than the current one.
            valid_for: seconds until it expires (default: trustme's, years).

        Returns:
            The CA bundle (PEM) that verifies the old and the new certificate.

        Raises:
            RuntimeError: The fake serves plaintext, or trustme is not installed.
        """
        self._require_tls("rotate_server_cert()")
        return self._tls.rotate_server_cert(new_ca=new_ca, valid_for=valid_for)

    @property
    def server_cert_fingerprint(self) -> str:
        """SHA-256 (hex of the DER) of the server certificate new connections get.

        Raises:
            RuntimeError: The fake serves plaintext.
        """
        self._require_tls("server_cert_fingerprint")
        return self._tls.server_fingerprint

    def retry_policy(self, **overrides: Unpack[RetryOverrides]) -> RetryPolicy:
        """A RetryPolicy for tests: the default's attempts and statuses, with
        waits of 10 to 50 ms instead of 0.5 to 5 s, and a retry budget that
        trips only after some 500 failures in a row.

        It needs no running fake.

        Args:
            **overrides: `RetryPolicy` fields that replace the test values
                (see `RetryOverrides`; ``on_retry=`` to watch the retries). An
                ``initial_backoff`` above 50 ms without ``max_backoff``
                raises the cap to it.

        Returns:
            The policy, for ``retry=`` of a client or a call.

        Raises:
            TypeError: An override is not a RetryPolicy field.
            ValueError: An override is out of range (the message names the field).
        """
        return retry_policy_for_tests(**overrides)

    def client(self, **overrides: Any) -> ScaiGrid:
        """A ScaiGrid for this fake: its target, token and TLS (``client_tls()``
        for a TLS fake), and ``retry_policy()``.

        It needs no running loop to create; use and close it on the test's
        loop: ``async with fake.client() as grid: ...``.

        Args:
            **overrides: ScaiGrid keywords that replace these (``target=``,
                ``token=``, ``retry=``, ``timeout=``, ...).

        Returns:
            The client; close it (``async with``, or ``await grid.close()``)
            when done.

        Raises:
            RuntimeError: The fake is not running.
            TypeError: An override is not a ScaiGrid keyword.
            ValueError: An override's value is not valid (the message names it).
        """
        target = self.target  # first: a fake that is not running makes no certificates
        tls = self.client_tls() if self.tls else False
        return client_for_tests(target, self.token, tls, overrides)

    def sync_client(self, **overrides: Any) -> sync.ScaiGrid:
        """A ``scaigrid_client.sync.ScaiGrid`` for this fake, tuned as ``client()`` is.

        Its target, token and TLS (``client_tls()`` for a TLS fake) are the
        fake's and its retries ``retry_policy()``'s. Its calls block, so use it
        with a fake on its own thread (``with FakeScaiGrid()``, the
        ``scaigrid_fake`` fixture) or from a thread other than the loop of an
        ``async with`` fake: ``with fake.sync_client() as grid: ...``.

        Args:
            **overrides: ScaiGrid keywords that replace these (``token=``,
                ``timeout=``, ``retry=``, ...).

        Returns:
            The client; close it (``with``, or ``close()``) when done.

        Raises:
            RuntimeError: The fake is not running.
            TypeError: An override is not a ScaiGrid keyword.
            ValueError: An override's value is not valid (the message names it).
        """
        target = self.target
        tls = self.client_tls() if self.tls else False
        return sync_client_for_tests(target, self.token, tls, overrides)

    def issue_token(
        self,
        *,
        scopes: Iterable[str] = ("scaiinfer", "scaimind", "scaicore"),
        expires_in: float | None = None,
    ) -> str:
        """Mint a service token the fake accepts, as ScaiKey issues them.

        A call with it to a service outside ``scopes`` fails PERMISSION_DENIED
        ``permission_denied``; after it expires, UNAUTHENTICATED
        ``token_expired``. ``reset()`` and ``restart(keep_state=False)``
        forget it. It needs no running fake.

        Args:
            scopes: The services it may call: any of ``"scaiinfer"``,
                ``"scaimind"`` and ``"scaicore"`` (default all three).
            expires_in: Seconds until it expires (0 or less: already
                expired); None (default): never.

        Returns:
            The token (``sgst_...``), for ``token=`` of a client.

        Raises:
            ValueError: ``scopes`` names an unknown scope.
        """
        return self._tokens.issue(scopes, expires_in)

    # -- fault injection and inspection ---------------------------------------------

    def fail(
        self,
        method: str,
        status: grpc.StatusCode | str,
        *,
        code: str | None = None,
        message: str = "injected fault",
        times: int = 1,
        after_messages: int = 0,
        after_effect: bool = False,
        pushback_ms: int | str | None = None,
    ) -> None:
        """Make the next ``times`` attempts of ``method`` fail with ``status``.

        Faults queue per method, first in first out, and are used one per
        attempt: "UNAVAILABLE twice, then OK" is deterministic. ``reset()``
        forgets them; a restart does not.

        Args:
            method: The RPC, as ``Service.Method``
                (``"InferenceService.ListModels"``).
            status: A ``grpc.StatusCode`` other than OK, or its name in any
                case (``"unavailable"``).
            code: The ``scaigrid-error-code`` trailer to send
                (``"backend_unavailable"``, ...); None (default): none.
            message: The status message.
            times: How many attempts fail, at least 1 (default 1).
            after_messages: Fail a server stream after this many response
                messages, at least 0 (default 0: before any response
                headers, Trailers-Only, so the client may retry).
            after_effect: Apply the call's side effect first (the job is
                submitted, then the call fails). Default False.
            pushback_ms: Sent as the ``grpc-retry-pushback-ms`` trailer (a
                string as is, to test malformed values); None (default): not sent.

        Raises:
            ValueError: ``method`` is not a method the fake serves (the
                message lists them), ``status`` is not a status other than
                OK, ``times`` is below 1 or ``after_messages`` below 0.
        """
        fault = Fault(status_code(status), code, message, after_messages, after_effect, pushback_ms)
        self._faults.fail(method, fault, times=times)

    def delay(self, method: str, *, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` attempts of ``method`` for ``seconds`` first.

        Delays queue per method, like faults, and come before an attempt's
        fault; a client deadline shorter than the delay fails the call
        DEADLINE_EXCEEDED.

        Args:
            method: The RPC, as ``Service.Method``.
            seconds: How long to hold each attempt, at least 0.
            times: How many attempts to hold, at least 1 (default 1).

        Raises:
            ValueError: ``method`` is not a method the fake serves,
                ``seconds`` is negative or ``times`` below 1.
        """
        self._faults.delay(method, seconds=seconds, times=times)

    def calls(self, method: str | None = None) -> list[Call]:
        """The call journal: every attempt the fake saw, oldest first.

        Args:
            method: Only the attempts of this RPC, as ``Service.Method``;
                None (default): of every method.

        Returns:
            A new list of the `Call` records (they are live: an open call's
            record changes as it goes on). With ``max_calls``, only the newest.

        Raises:
            ValueError: ``method`` is not a method the fake serves.
        """
        if method is not None:
            check_method(method)
        return self._journal.calls(method)

    def drop_streams(
        self,
        status: grpc.StatusCode | str = grpc.StatusCode.UNAVAILABLE,
        *,
        code: str = "service_draining",
        message: str = "stream dropped: gateway restarting",
    ) -> int:
        """End every open server stream with ``status``, as a gateway restart
        would. The server keeps running; clients may reconnect at once.

        Args:
            status: A ``grpc.StatusCode`` other than OK, or its name in any
                case (default UNAVAILABLE).
            code: The ``scaigrid-error-code`` trailer sent.
            message: The status message.

        Returns:
            How many streams were dropped.

        Raises:
            ValueError: ``status`` is not a status other than OK.
        """
        error = FakeError(status_code(status), code, message)
        return self._in_loop(lambda: self._drop_all(error))

    def _drop_all(self, error: FakeError) -> int:
        dropped = self._faults.drop_streams(error)
        if self._backend is not None:
            self._backend.notify()  # wakes the streams waiting for a change
        return dropped

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

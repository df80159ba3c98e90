"""What a client of the fake needs: its TLS, rotating its certificates, and
ready-made clients and retry policy. `ClientControls` is a base of
`FakeScaiGrid`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from scaigrid_client._clients import ScaiGrid
from scaigrid_client._config import RetryPolicy, TLSConfig
from scaigrid_client.testing._test_client import (
    RetryOverrides,
    client_for_tests,
    retry_policy_for_tests,
    sync_client_for_tests,
)
from scaigrid_client.testing._tls import ClientCert, TLSMaterial

if TYPE_CHECKING:
    from scaigrid_client import sync

__all__ = ["ClientControls"]


class ClientControls:
    """`client_tls`, the certificate rotations, `client`, `sync_client` and
    `retry_policy`."""

    if TYPE_CHECKING:  # FakeScaiGrid's (not declared again in its public surface)
        token: str
        tls: bool
        require_client_cert: bool
        _tls: TLSMaterial

    @property
    def target(self) -> str:
        raise NotImplementedError

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

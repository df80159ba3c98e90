"""Service tokens: issuing them (scopes, expiry) and checking a call's bearer.

The checks and their `scaigrid-error-code`s are the gateway's: missing,
malformed, an HTTP API key, unknown, expired, or not scoped for the service.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc

from scaigrid_client.testing._errors import FakeError

__all__ = ["SCOPES", "Tokens"]

SCOPES = frozenset({"scaiinfer", "scaimind", "scaicore"})
# Prefixes of ScaiGrid HTTP API keys, which the gRPC API refuses.
_API_KEY_PREFIXES = ("sk-", "sk_", "sgk_", "sg_live_", "sg_test_")


@dataclass
class _Grant:
    scopes: frozenset[str]
    expires_at: float | None


class Tokens:
    """The tokens the fake accepts: ``default`` (every scope, never expires)
    and those issued since."""

    def __init__(self, default: str) -> None:
        self._default = default
        self._grants: dict[str, _Grant] = {}
        self._revoked: set[str] = set()
        self._grant_default()

    def _grant_default(self) -> None:
        self._grants[self._default] = _Grant(SCOPES, None)

    def issue(self, scopes: Iterable[str], expires_in: float | None) -> str:
        if isinstance(scopes, str):
            raise TypeError(f"scopes: pass a list of scopes, such as [{scopes!r}], not one str")
        if expires_in is not None and (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, (int, float))
            or not math.isfinite(expires_in)
        ):
            raise TypeError(f"expires_in: expected a number of seconds or None, got {expires_in!r}")
        scopes = frozenset(scopes)
        unknown = scopes - SCOPES
        if unknown:
            raise ValueError(
                f"scopes: unknown {sorted(unknown)}; use 'scaiinfer', 'scaimind' or 'scaicore'"
            )
        token = "sgst_" + secrets.token_hex(16)
        expires_at = None if expires_in is None else time.time() + expires_in
        self._grants[token] = _Grant(scopes, expires_at)
        return token

    def revoke(self, token: object) -> None:
        """Refuse ``token`` from now on, as ``invalid_token``."""
        if not isinstance(token, str):
            raise TypeError(f"token: expected a str, got {type(token).__name__}")
        if self._grants.pop(token, None) is None:
            raise ValueError(
                "token: not a token this fake accepts (never issued, or already revoked)"
            )
        self._revoked.add(token)

    def reset(self) -> None:
        """Forget every issued token; the default one stays valid."""
        self._grants.clear()
        self._revoked.clear()
        self._grant_default()

    def authorize(self, scope: str, metadata: Mapping[str, str | bytes]) -> None:
        """Raise the FakeError the gateway answers a call with this metadata,
        for a service of this scope; return if it may go on."""
        token = _bearer(metadata)
        grant = self._grants.get(token)
        if grant is None:
            why = "service token revoked" if token in self._revoked else "unknown service token"
            raise FakeError(grpc.StatusCode.UNAUTHENTICATED, "invalid_token", why)
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


def _bearer(metadata: Mapping[str, str | bytes]) -> str:
    """The token of the ``authorization: Bearer <token>`` metadata."""
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
    return token

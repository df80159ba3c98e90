"""Service tokens: static, from an async callable, or from a TokenProvider."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from scaigrid_client.errors import TokenProviderError

__all__ = [
    "ScaiKeyTokenProvider",
    "SyncScaiKeyTokenProvider",
    "SyncTokenProvider",
    "SyncTokenSource",
    "TokenProvider",
    "TokenSource",
    "resolve_sync_token",
    "resolve_token",
]

logger = logging.getLogger("scaigrid_client")

# A plain token function runs on the event loop before every call; one slower
# than this is blocking the loop, which is worth saying once.
SLOW_TOKEN_FUNCTION = 0.05


@runtime_checkable
class TokenProvider(Protocol):
    """Supplies the service token; asked on every call, so it may rotate.

    ``get_token`` should be cheap when its token is fresh (cache it).
    ``invalidate`` is called when the server says the token expired; the next
    ``get_token`` must then fetch a new one.
    """

    async def get_token(self) -> str:
        """The token to send now.

        Returns:
            The service token (sent as ``authorization: Bearer <token>``).

        Raises:
            Exception: anything it raises fails the call as a
                ``errors.TokenProviderError``, never retried.
        """
        ...

    def invalidate(self) -> None:
        """Forget the cached token: the server said it expired."""
        ...


TokenSource = str | TokenProvider | Callable[[], Awaitable[str]] | Callable[[], str]


@runtime_checkable
class SyncTokenProvider(Protocol):
    """TokenProvider for the sync clients: ``get_token`` blocks (and must be
    safe to call from several threads at once)."""

    def get_token(self) -> str:
        """The token to send now.

        Returns:
            The service token (sent as ``authorization: Bearer <token>``).

        Raises:
            Exception: anything it raises fails the call as a
                ``errors.TokenProviderError``, never retried.
        """
        ...

    def invalidate(self) -> None:
        """Forget the cached token: the server said it expired."""
        ...


SyncTokenSource = str | SyncTokenProvider | Callable[[], str]


class _CallableToken:
    """Adapts a plain function, async or not, to TokenProvider."""

    def __init__(self, fn: Callable[[], Awaitable[str] | str]) -> None:
        self._fn = fn
        self._warned = False

    async def get_token(self) -> str:
        started = time.monotonic()
        token = self._fn()
        if inspect.isawaitable(token):
            token = await token
        elif not self._warned and time.monotonic() - started > SLOW_TOKEN_FUNCTION:
            self._warned = True
            logger.warning(
                "the token function %s blocked the event loop for %.0f ms before a call; "
                "return a cached token from it, or make it async",
                getattr(self._fn, "__qualname__", "?"),
                (time.monotonic() - started) * 1000,
            )
        if not isinstance(token, str) or not token:
            raise TokenProviderError("the token function returned no token (an empty value)")
        return token

    def invalidate(self) -> None:
        """Nothing is cached: the function is called for every call anyway."""

    def __repr__(self) -> str:
        return f"<token from {getattr(self._fn, '__qualname__', 'a function')}>"


def _static(token: object) -> str | None:
    """The str token, or None for a provider or function; None reads
    SCAIGRID_SERVICE_TOKEN."""
    if token is None:
        token = os.environ.get("SCAIGRID_SERVICE_TOKEN") or None
        if token is None:
            raise ValueError("token: no service token; pass token= or set SCAIGRID_SERVICE_TOKEN")
    if isinstance(token, str):
        if not token.strip():
            raise ValueError("token: the service token is empty")
        return token
    return None


def resolve_token(token: TokenSource | None) -> str | TokenProvider:
    """The static token or the provider to ask; None reads SCAIGRID_SERVICE_TOKEN."""
    static = _static(token)
    if static is not None:
        return static
    if inspect.iscoroutinefunction(getattr(token, "get_token", None)):
        return token  # type: ignore[return-value]
    if isinstance(token, SyncTokenProvider):
        raise TypeError(
            f"token: {type(token).__name__}.get_token is not async; the async clients need "
            "an async TokenProvider (or use it with scaigrid_client.sync)"
        )
    if callable(token):
        return _CallableToken(token)
    raise TypeError(
        f"token: expected a str, a TokenProvider or a function, got {type(token).__name__}"
    )


class _SyncCallableToken:
    """Adapts a plain function to SyncTokenProvider."""

    def __init__(self, fn: Callable[[], str]) -> None:
        self._fn = fn

    def get_token(self) -> str:
        token: Any = self._fn()
        if inspect.isawaitable(token):
            if inspect.iscoroutine(token):
                token.close()  # never awaited: do not leave it to warn
            raise TokenProviderError(
                "the token function is async; the sync clients need a plain function "
                "(or use it with the async clients)"
            )
        if not isinstance(token, str) or not token:
            raise TokenProviderError("the token function returned no token (an empty value)")
        return token

    def invalidate(self) -> None:
        """Nothing is cached: the function is called for every call anyway."""

    def __repr__(self) -> str:
        return f"<token from {getattr(self._fn, '__qualname__', 'a function')}>"


def resolve_sync_token(token: SyncTokenSource | None) -> str | SyncTokenProvider:
    """As resolve_token, for the sync clients."""
    static = _static(token)
    if static is not None:
        return static
    get_token = getattr(token, "get_token", None)
    if inspect.iscoroutinefunction(get_token):
        twin = (
            "; use scaigrid_client.sync.ScaiKeyTokenProvider"
            if isinstance(token, ScaiKeyTokenProvider)
            else ""
        )
        raise TypeError(
            f"token: {type(token).__name__}.get_token is async; the sync clients need a "
            f"provider whose get_token blocks{twin}"
        )
    if isinstance(token, SyncTokenProvider):
        return token
    if callable(token):
        return _SyncCallableToken(token)
    raise TypeError(
        f"token: expected a str, a TokenProvider or a function, got {type(token).__name__}"
    )


class _ScaiKeyGrant:
    """The OAuth2 client-credentials exchange with ScaiKey, flavour-neutral:
    the form to post, and what the answer means."""

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = ("scaiinfer", "scaimind", "scaicore"),
        refresh_margin: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        """A ScaiKey provider of either flavour, for one OAuth2 client.

        Args:
            token_url: ScaiKey's token endpoint, an http(s) URL.
            client_id: the service's OAuth2 client id.
            client_secret: its secret (never shown).
            scopes: the scopes to ask for; default the three services'.
            refresh_margin: seconds before expiry at which a new token is
                fetched; default 60.
            timeout: seconds each fetch may take; default 10.

        Raises:
            ValueError: ``token_url`` is not an http(s) URL, or the client id
                or secret is empty.
        """
        if not token_url.startswith(("https://", "http://")):
            raise ValueError("token_url: must be an http(s) URL of ScaiKey's token endpoint")
        if not client_id:
            raise ValueError("client_id: is required")
        if not client_secret:
            raise ValueError("client_secret: is required")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = " ".join(scopes)
        self._refresh_margin = refresh_margin
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()  # one fetch at a time
        # The async provider's fetch in flight, on each event loop.
        self._fetches: dict[asyncio.AbstractEventLoop, asyncio.Task[str]] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self._token_url!r}, client_id={self._client_id!r})"
        )

    def invalidate(self) -> None:
        """Forget the cached token; the next get_token fetches a new one."""
        self._token = None
        self._expires_at = 0.0

    def _cached(self) -> str | None:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        return None

    def _form(self) -> dict[str, str]:
        data = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._scopes:
            data["scope"] = self._scopes
        return data

    def _failed(self, exc: Exception) -> TokenProviderError:
        return TokenProviderError(
            f"ScaiKey token request to {self._token_url} failed: {type(exc).__name__}"
        )

    def _accept(self, status_code: int, body: Callable[[], Any]) -> str:
        if status_code != 200:
            raise TokenProviderError(f"ScaiKey refused the token request: HTTP {status_code}")
        try:
            answer = body()
            token = answer["access_token"]
            expires_in = float(answer.get("expires_in", 300))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenProviderError("ScaiKey's token response has no access_token") from None
        if not isinstance(token, str) or not token:
            raise TokenProviderError("ScaiKey's token response has an empty access_token")
        self._token = token
        self._expires_at = time.monotonic() + max(0.0, expires_in - self._refresh_margin)
        return token


class ScaiKeyTokenProvider(_ScaiKeyGrant):
    """Service tokens from ScaiKey, by the OAuth2 client-credentials grant.

    The token is cached and fetched again ``refresh_margin`` seconds before it
    expires. Concurrent callers share one fetch (one per event loop: the
    cache is shared by every loop that uses the provider). The client secret
    and the tokens never appear in ``repr()``, logs or exception text. For
    the sync clients, use ``scaigrid_client.sync.ScaiKeyTokenProvider``.
    """

    async def get_token(self) -> str:
        """The cached token, or a fresh one from ScaiKey (one fetch at a time).

        Returns:
            The access token.

        Raises:
            errors.TokenProviderError: ScaiKey could not be reached or refused
                the credentials (its answer is named; the secret never is).
        """
        token = self._cached()
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        with self._lock:
            for gone in [old for old in self._fetches if old.is_closed()]:
                del self._fetches[gone]
            fetch = self._fetches.get(loop)
            if fetch is None or fetch.done():
                fetch = self._fetches[loop] = loop.create_task(self._fetch_token())
        # shield: one caller's cancellation must not cancel the shared fetch.
        return await asyncio.shield(fetch)

    async def _fetch_token(self) -> str:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(self._token_url, data=self._form())
        except httpx.HTTPError as exc:
            raise self._failed(exc) from None
        return self._accept(response.status_code, response.json)


class SyncScaiKeyTokenProvider(_ScaiKeyGrant):
    """ScaiKeyTokenProvider for the sync clients (``scaigrid_client.sync``):
    the same grant and cache; ``get_token`` blocks, and threads that need a
    token at once share one fetch.
    """

    def get_token(self) -> str:
        """The cached token, or a fresh one from ScaiKey (one fetch at a time).

        Returns:
            The access token.

        Raises:
            errors.TokenProviderError: ScaiKey could not be reached or refused
                the credentials (its answer is named; the secret never is).
        """
        token = self._cached()
        if token is not None:
            return token
        with self._lock:
            token = self._cached()  # fetched by the thread that held the lock
            if token is not None:
                return token
            import httpx

            try:
                with httpx.Client(timeout=self._timeout) as http:
                    response = http.post(self._token_url, data=self._form())
            except httpx.HTTPError as exc:
                raise self._failed(exc) from None
            return self._accept(response.status_code, response.json)

"""`_Client`: what every client shares (async source).

Construction and its checks, `with_options()`, closing, ``repr`` and the one
path every method's call takes to the `Transport` (`_unary`, `_stream`),
with the client's default call options. `tools/unasync.py` writes
`sync/_clients/_client.py` from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from typing_extensions import Self

from scaigrid_client._auth import TokenSource
from scaigrid_client._call import (
    NOT_GIVEN,
    CallInfo,
    MetadataArg,
    Method,
    NotGiven,
    OptionsTimeout,
    Req,
    Resp,
    call_details,
    validate_metadata,
)
from scaigrid_client._channel import Proxy, parse_proxy, redact_proxy
from scaigrid_client._config import Keepalive, RetryPolicy, TLSConfig
from scaigrid_client._tls_files import TLSFiles, TLSStatus
from scaigrid_client._transport import (
    DEFAULT_KEEPALIVE,
    Channel,
    Interceptor,
    ServerStream,
    Transport,
)


class _Client:
    """Construction, closing and repr shared by every client.

    Args:
        target: the gateway, ``host[:port]`` (port 50051 by default) or a
            gRPC URI (``dns:///``, ``unix:``); None reads ``SCAIGRID_TARGET``.
        token: the service token: a str, a function (async or not) asked
            before every call, or a `TokenProvider`; None reads
            ``SCAIGRID_SERVICE_TOKEN``. Never shown in ``repr()`` or logs.
        tls: True (default): TLS with the system roots; False: plaintext;
            a `TLSConfig`: a custom CA and mTLS.
        retry: the `RetryPolicy` of every call; default: UNAVAILABLE up to
            5 attempts, about 0.5, 1, 2 and 4 s apart.
        timeout: the deadline in seconds of each unary call that gives none,
            instead of the method's default; streams keep none.
        channel: a channel you built and close yourself; ``target``, ``tls``
            and the channel settings then do not apply.
        channel_options: extra grpc channel arguments, ``(name, value)``.
        interceptors: grpc client interceptors of the flavour's kind.
        compression: a ``grpc.Compression`` for every call.
        keepalive: HTTP/2 keepalive pings (`Keepalive`); None: no pings.
        proxy: an HTTP CONNECT proxy URL, ``http://[user:password@]host:port``;
            None: from the environment (``grpc_proxy``, ``https_proxy``,
            ``no_proxy``), except for loopback; False: none.

    Raises:
        ValueError: a setting is invalid (target, token, proxy, ...); the
            message names the argument. Nothing connects until the first call.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: TokenSource | None = None,
        tls: bool | TLSConfig | TLSFiles = True,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        channel: Channel | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[Interceptor] | None = None,
        compression: grpc.Compression | None = None,
        keepalive: Keepalive | None = DEFAULT_KEEPALIVE,
        proxy: Proxy = None,
    ) -> None:
        proxy = parse_proxy(proxy)
        if proxy and channel is not None:
            raise ValueError(
                "proxy: applies to the channels the client builds; give your own channel= "
                "the option ('grpc.http_proxy', url) instead"
            )
        self._proxy = proxy
        self._owns_transport = True
        self._defaults: dict[str, Any] = {}
        self._transport = Transport(
            target,
            token=token,
            tls=tls,
            retry=retry,
            timeout=timeout,
            channel=channel,
            channel_options=channel_options,
            interceptors=interceptors,
            compression=compression,
            keepalive=keepalive,
            proxy=proxy,
        )

    def __repr__(self) -> str:
        proxy = f", proxy={redact_proxy(self._proxy)!r}" if self._proxy else ""
        return (
            f"{type(self).__name__}(target={self._transport.target!r}, "
            f"tls={self._transport.tls!r}{proxy})"
        )

    @classmethod
    def _sharing(cls, other: _Client, defaults: dict[str, Any]) -> Self:
        """A client of this kind on ``other``'s channel, which it does not
        close, calling with ``defaults`` unless a call says otherwise."""
        client = cls.__new__(cls)
        client._proxy = other._proxy
        client._owns_transport = False
        client._defaults = defaults
        client._transport = other._transport
        return client

    def with_options(
        self,
        *,
        timeout: float | NotGiven | None = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        metadata: MetadataArg | NotGiven = NOT_GIVEN,
    ) -> Self:
        """This client with other defaults for its calls, on the same channel.

        Args:
            timeout: the deadline of each unary call that gives none, in
                seconds; None: no deadline. Streams keep theirs (none).
            retry: the retry policy of each call that gives none (the retry
                budget stays the client's).
            metadata: extra metadata sent with every call, before the
                call's own.

        Returns:
            A client of the same kind sharing this one's channel; closing it
            does not close the channel. Options left out keep this client's.

        Raises:
            ValueError: an option is invalid (checked here, before any call).
        """
        given: dict[str, Any] = {}
        if not isinstance(timeout, NotGiven):
            if timeout is not None and not timeout > 0:
                raise ValueError(
                    f"timeout: must be a positive number of seconds or None, got {timeout!r}"
                )
            given["timeout"] = None if timeout is None else OptionsTimeout(timeout)
        if not isinstance(retry, NotGiven):
            if not isinstance(retry, RetryPolicy):
                raise TypeError(f"retry: expected a RetryPolicy, got {type(retry).__name__}")
            given["retry"] = retry
        if not isinstance(metadata, NotGiven):
            given["metadata"] = (*self._defaults.get("metadata", ()), *validate_metadata(metadata))
        return self._sharing(self, {**self._defaults, **given})

    def _options(self, options: Mapping[str, Any], stream: bool = False) -> dict[str, Any]:
        """A call's options over the client's defaults (with_options)."""
        merged = {k: v for k, v in self._defaults.items() if not (stream and k == "timeout")}
        if "metadata" in merged and "metadata" in options:
            merged["metadata"] = (*merged["metadata"], *validate_metadata(options["metadata"]))
            options = {k: v for k, v in options.items() if k != "metadata"}
        merged.update(options)
        return merged

    async def _unary(
        self,
        method: Method[Req, Resp],
        request: Req,
        options: Mapping[str, Any],
        info: CallInfo | None = None,
    ) -> Resp:
        if self._defaults:
            options = self._options(options)
        if info is not None:
            options = {**options, "call_info": info}
        elif "call_info" in options:
            call_details(options)  # the deprecated out-parameter: it warns
        return await self._transport.unary(method, request, **options)

    def _stream(
        self, method: Method[Req, Resp], request: Req, options: Mapping[str, Any], **how: Any
    ) -> ServerStream[Resp]:
        if self._defaults:
            options = self._options(options, stream=True)
        return self._transport.stream(method, request, **options, **how)

    @property
    def tls_status(self) -> TLSStatus | None:
        """With ``tls=TLSFiles(...)``, the certificate in use and its rotation; else None."""
        return self._transport.tls_status()

    async def reload_tls(self) -> bool:
        """Check the ``TLSFiles`` now, not at the next ``check_every``.

        Returns:
            Whether new material was adopted (new calls use it at once);
            False too without ``tls=TLSFiles(...)``. Files that fail the
            checks raise nothing: the last good material stays, and
            ``tls_status.last_error`` says why.
        """
        return await self._transport.reload_tls()

    async def close(self) -> None:
        """Close the channel, unless it was passed in or is shared by a ScaiGrid.

        Calls still running fail with ``errors.CallCancelledError``; a call
        made after it raises ``errors.ClientClosedError``.
        """
        if self._owns_transport:
            await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    # unasync: begin async-only
    def __enter__(self) -> Self:
        """Not a sync context manager: say what to do instead."""
        raise TypeError(
            f"{type(self).__name__} is async: use `async with`, or "
            f"scaigrid_client.sync.{type(self).__name__} in blocking code"
        )

    def __exit__(self, *exc_info: object) -> None:
        """See __enter__."""

    # unasync: end async-only

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

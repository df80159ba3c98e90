"""The five service clients and the ScaiGrid facade (async).

Each method checks its arguments and builds its request (with `_methods`),
hands it to the shared `Transport` (which does metadata, deadline, retries
and errors) and shapes the result. This file is also the source of the sync
clients: `tools/unasync.py` writes `sync/_clients.py` from it, so each RPC
is defined once. Lines between ``unasync: begin async-only`` and ``unasync:
end`` markers, and lines marked ``unasync: async-only``, are left out there.
"""

from __future__ import annotations

import functools
import inspect  # unasync: async-only
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from typing_extensions import Self, Unpack

from scaigrid_client import errors
from scaigrid_client._auth import TokenSource
from scaigrid_client._call import (
    CAPTURE,
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
from scaigrid_client._messages import scaicore, scaiinfer, scaimind
from scaigrid_client._methods import (
    ALLOCATE_GPUS,
    CANCEL_JOB,
    EMBED,
    GET_CORE,
    GET_JOB,
    HEARTBEAT,
    INFER,
    INVOKE_CORE,
    LIST_JOBS,
    LIST_MODELS,
    LIST_NODES,
    PASSIVATE_CORE,
    REGISTER_NODE,
    RELEASE_GPUS,
    RESTORE_CORE,
    STREAM_EVENTS,
    STREAM_INFERENCE,
    STREAM_METRICS,
    SUBMIT_JOB,
    CallOptions,
    CapabilityArg,
    ChatReply,
    Embeddings,
    JobStateArg,
    MessageLike,
    NodeHealthArg,
    StreamOptions,
    _at_least,
    _epoch,
    _messages,
    _resume_events,
    _resume_metrics,
    _sampling,
    _text,
    enum_value,
    finish_reason,
)
from scaigrid_client._pager import Pager
from scaigrid_client._tls_files import TLSFiles, TLSStatus
from scaigrid_client._transport import (
    DEFAULT_KEEPALIVE,
    Channel,
    HeartbeatLoop,
    Interceptor,
    ServerStream,
    Transport,
)

__all__ = [
    "ChatReply",
    "ClusterClient",
    "CoordinatorClient",
    "CoreRuntimeClient",
    "HeartbeatClient",
    "HeartbeatLoop",
    "InferenceClient",
    "ScaiGrid",
]

logger = logging.getLogger("scaigrid_client")


# -- the clients ------------------------------------------------------------------------


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


class InferenceClient(_Client):
    """Chat (streaming and unary), embeddings and the model catalogue."""

    async def list_models(
        self, *, capability: CapabilityArg | None = None, **options: Unpack[CallOptions]
    ) -> list[scaiinfer.Model]:
        """The models this token may use, sorted by id.

        Args:
            capability: keep only the models that have it: ``"chat"`` or
                ``"embeddings"`` (any case, the enum, or its number).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The models (``id``, ``capabilities``, ``context_length``, ...).

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: ``capability`` is not one of the names.
        """
        wanted = (
            0 if capability is None else enum_value(capability, scaiinfer.Capability, "capability")
        )
        request = scaiinfer.ListModelsRequest(capability=wanted)  # type: ignore[arg-type]
        return list((await self._unary(LIST_MODELS, request, options)).models)

    def stream_inference(
        self,
        *,
        model: str,
        messages: Sequence[MessageLike],
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
        binary_bytes: int | None = None,
        **options: Unpack[StreamOptions],
    ) -> ServerStream[scaiinfer.StreamInferenceResponse]:
        """Stream a chat reply: ``async for chunk in ...: chunk.delta.content``.

        Retried only before the first chunk (a reply is never repeated).

        Args:
            model: the model id, such as ``"scailabs/poolnoodle-omni"``.
            messages: the conversation: dicts ``{"role": "user", "content":
                "..."}`` (roles ``system``, ``user``, ``assistant``) or
                ``ChatMessage`` messages.
            max_tokens: the most tokens to generate, at least 1; None: the
                model's limit.
            temperature: sampling temperature, 0 to 2; None: the model's.
            top_p: nucleus sampling, in (0, 1]; None: the model's.
            stop: strings that end the reply when generated (not included).
            seed: a non-negative seed for reproducible sampling.
            binary_bytes: ask for binary output of at most this many bytes,
                delivered in ``chunk.data``.
            **options: stream options (`types.StreamOptions`): ``timeout``,
                ``idle_timeout``, ``request_id``, ``metadata``, ``retry``.

        Returns:
            The stream's handle: iterate it for the chunks; the last has
            ``finish_reason`` and ``usage``. Nothing is sent until it is read.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.ScaiGridError: while reading, when the stream fails.
        """
        request = scaiinfer.InferenceRequest(
            model=_text(model, "model", "scailabs/poolnoodle-omni"),
            messages=_messages(messages),
            **_sampling(temperature, top_p, max_tokens, stop),
        )
        if seed is not None:
            request.seed = _at_least(seed, 0, "seed")
        if binary_bytes is not None:
            request.response_format = scaiinfer.RESPONSE_FORMAT_BINARY
            request.max_output_bytes = _at_least(binary_bytes, 1, "binary_bytes")
        return self._stream(STREAM_INFERENCE, request, options)

    async def infer(
        self,
        *,
        model: str,
        messages: Sequence[MessageLike],
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
        **options: Unpack[CallOptions],
    ) -> ChatReply:
        """A whole chat reply; ``.content`` is the text.

        Args:
            model: the model id, such as ``"scailabs/poolnoodle-omni"``.
            messages: the conversation: dicts ``{"role": "user", "content":
                "..."}`` (roles ``system``, ``user``, ``assistant``) or
                ``ChatMessage`` messages.
            max_tokens: the most tokens to generate, at least 1; None: the
                model's limit.
            temperature: sampling temperature, 0 to 2; None: the model's.
            top_p: nucleus sampling, in (0, 1]; None: the model's.
            stop: strings that end the reply when generated (not included).
            seed: a non-negative seed for reproducible sampling.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            A `ChatReply`: ``content``, ``finish_reason``, ``usage``,
            ``model``, ``request_id``, ``attempts``, and the raw ``response``.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        request = scaiinfer.InferRequest(
            model=_text(model, "model", "scailabs/poolnoodle-omni"),
            messages=_messages(messages),
            **_sampling(temperature, top_p, max_tokens, stop),
        )
        if seed is not None:
            request.seed = _at_least(seed, 0, "seed")
        info = call_details(options) or CAPTURE.get() or CallInfo()
        response = await self._unary(INFER, request, options, info)
        return ChatReply(
            content=response.message.content,
            finish_reason=finish_reason(response.finish_reason),
            usage=response.usage,
            model=response.model,
            id=response.id,
            response=response,
            request_id=info.request_id or "",
            attempts=info.attempts,
            initial_metadata=info.initial_metadata,
            trailing_metadata=info.trailing_metadata,
        )

    async def embed(
        self, *, model: str, inputs: Sequence[str], **options: Unpack[CallOptions]
    ) -> Embeddings:
        """One embedding vector per input, in input order.

        Args:
            model: an embeddings model's id.
            inputs: the texts, a non-empty sequence of non-empty str.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            `Embeddings`: a list of vectors (lists of float) that also carries
            ``.model``, ``.usage``, ``.indexes``, ``.request_id`` and
            ``.response``.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        if isinstance(inputs, str) or not isinstance(inputs, Sequence) or not inputs:
            raise ValueError("inputs: pass a non-empty sequence of str, such as ['hello']")
        for i, text in enumerate(inputs):
            _text(text, f"inputs[{i}]")
        request = scaiinfer.EmbedRequest(model=_text(model, "model"), inputs=list(inputs))
        info = call_details(options) or CAPTURE.get() or CallInfo()
        response = await self._unary(EMBED, request, options, info)
        return Embeddings._of(response, info)


# What capacity() may return: heartbeat()'s fields (not node_id, not call options).
_HEARTBEAT_FIELDS = frozenset(
    {
        "health",
        "loaded_models",
        "gpu_count",
        "gpu_memory_total_bytes",
        "gpu_memory_used_bytes",
        "gpu_utilization",
        "queue_depth",
    }
)


class HeartbeatClient(_Client):
    """Inference nodes report health and capacity."""

    async def heartbeat(
        self,
        *,
        node_id: str,
        health: NodeHealthArg = "healthy",
        loaded_models: Sequence[str] = (),
        gpu_count: int = 0,
        gpu_memory_total_bytes: int = 0,
        gpu_memory_used_bytes: int = 0,
        gpu_utilization: float = 0.0,
        queue_depth: int = 0,
        **options: Unpack[CallOptions],
    ) -> scaiinfer.HeartbeatResponse:
        """Report this node's health and capacity once.

        Args:
            node_id: this node's id.
            health: ``"healthy"`` (default), ``"degraded"``, ``"unhealthy"``
                or ``"draining"`` (any case, the enum, or its number).
            loaded_models: the models loaded and ready.
            gpu_count: GPUs on the node, at least 0.
            gpu_memory_total_bytes: their memory in all, at least 0.
            gpu_memory_used_bytes: memory in use, at least 0.
            gpu_utilization: busy share, 0 to 1.
            queue_depth: requests waiting, at least 0.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The gateway's acknowledgement (``HeartbeatResponse``).

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        if not 0 <= gpu_utilization <= 1:
            raise ValueError(f"gpu_utilization: must be between 0 and 1, got {gpu_utilization!r}")
        request = scaiinfer.HeartbeatRequest(
            node_id=_text(node_id, "node_id"),
            health=enum_value(health, scaiinfer.NodeHealth, "health"),  # type: ignore[arg-type]
            loaded_models=list(loaded_models),
            gpu_count=_at_least(gpu_count, 0, "gpu_count"),
            gpu_memory_total_bytes=_at_least(gpu_memory_total_bytes, 0, "gpu_memory_total_bytes"),
            gpu_memory_used_bytes=_at_least(gpu_memory_used_bytes, 0, "gpu_memory_used_bytes"),
            gpu_utilization=gpu_utilization,
            queue_depth=_at_least(queue_depth, 0, "queue_depth"),
        )
        return await self._unary(HEARTBEAT, request, options)

    def start_heartbeats(
        self,
        *,
        node_id: str,
        capacity: Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]],
        interval: float | None = None,
        jitter: float = 0.1,
    ) -> HeartbeatLoop:
        """Send heartbeats in the background, as often as the gateway asks.

        Failures are logged and counted and the loop goes on, so it rides out
        gateway restarts. Async: needs a running event loop (a task); sync: a
        daemon thread.

        Args:
            node_id: this node's id.
            capacity: called before each beat (may be async in the async
                flavour); returns `heartbeat`'s keyword arguments, such as
                ``{"gpu_count": 8, "queue_depth": 3}``.
            interval: seconds between beats, above 0; None (default): the
                interval the gateway asks for in each acknowledgement
                (``next_interval_ms``), 5 s until the first.
            jitter: each interval varies by up to this share, in [0, 1);
                default 0.1.

        Returns:
            The running `HeartbeatLoop` (``sent``, ``failed``, ``last``);
            stop it with ``stop()`` (awaited in the async flavour).

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        _text(node_id, "node_id")
        if interval is not None and not interval > 0:
            raise ValueError(
                f"interval: must be a positive number of seconds or None, got {interval!r}"
            )
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter: must be in [0, 1), got {jitter!r}")
        return HeartbeatLoop(functools.partial(self._beat, node_id, capacity), interval, jitter)

    async def _beat(
        self,
        node_id: str,
        capacity: Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]],
        loop: HeartbeatLoop,
    ) -> None:
        """One background heartbeat; failures are logged and counted, never raised."""
        try:
            fields = capacity()
            if inspect.isawaitable(fields):  # unasync: async-only
                fields = await fields  # unasync: async-only
            fields = dict(fields)
        except Exception:
            # A bug in capacity() must not end the agent's heartbeats.
            loop.failed += 1
            logger.exception("heartbeat for %s: capacity() failed", node_id)
            return
        try:
            if not fields.keys() <= _HEARTBEAT_FIELDS:
                raise TypeError(
                    f"not heartbeat fields: {sorted(fields.keys() - _HEARTBEAT_FIELDS)}"
                )
            loop.last = await self.heartbeat(node_id=node_id, **fields)
            loop.sent += 1
        except errors.ScaiGridError as error:
            loop.failed += 1
            logger.warning("heartbeat for %s failed: %s", node_id, error)
        except (TypeError, ValueError) as error:
            loop.failed += 1
            logger.error(
                "heartbeat for %s: capacity() returned what heartbeat() does not take: %s; it "
                "may return %s",
                node_id,
                error,
                ", ".join(sorted(_HEARTBEAT_FIELDS)),
            )


class CoordinatorClient(_Client):
    """Training jobs and their live metrics."""

    async def submit_job(
        self,
        *,
        name: str,
        base_model: str,
        gpus: int,
        max_steps: int,
        dataset: str = "",
        hyperparameters: Mapping[str, str | int | float] | None = None,
        **options: Unpack[CallOptions],
    ) -> scaimind.Job:
        """Queue a training job.

        Safe to retry: the request id is its idempotency key, so a retry
        (the SDK's or yours, with the same ``request_id``) never makes a
        second job.

        Args:
            name: the job's display name.
            base_model: the model to fine-tune.
            gpus: GPUs to train on, at least 1.
            max_steps: training steps, at least 1.
            dataset: the dataset's URI.
            hyperparameters: names to values (sent as str).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The queued ``Job`` (``id``, ``state``, ``spec``, ...).

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        spec = scaimind.JobSpec(
            name=_text(name, "name"),
            base_model=_text(base_model, "base_model", "scailabs/poolnoodle-omni"),
            gpus=_at_least(gpus, 1, "gpus"),
            max_steps=_at_least(max_steps, 1, "max_steps"),
            dataset=dataset,
            hyperparameters={k: str(v) for k, v in (hyperparameters or {}).items()},
        )
        request = scaimind.SubmitJobRequest(spec=spec)
        return (await self._unary(SUBMIT_JOB, request, options)).job

    async def get_job(self, job_id: str, **options: Unpack[CallOptions]) -> scaimind.Job:
        """A job's current state and progress.

        Args:
            job_id: the job's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Job``.

        Raises:
            errors.NotFoundError: no such job.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaimind.GetJobRequest(job_id=_text(job_id, "job_id"))
        return (await self._unary(GET_JOB, request, options)).job

    async def list_jobs(
        self, *, state: JobStateArg | None = None, **options: Unpack[CallOptions]
    ) -> list[scaimind.Job]:
        """Jobs, newest first, every page of them.

        A gateway that caps its answers is asked for the next page until the
        list ends; see `iter_jobs` to read them a page at a time.

        Args:
            state: keep only jobs in this state: ``"queued"``, ``"running"``,
                ``"succeeded"``, ``"failed"``, ``"cancelled"`` (any case, the
                enum, or its number).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The jobs.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: ``state`` is not one of the names.
        """
        return [job async for job in self._jobs(state, 0, dict(options))]

    def iter_jobs(
        self,
        *,
        state: JobStateArg | None = None,
        page_size: int = 100,
        **options: Unpack[CallOptions],
    ) -> Pager[scaimind.Job]:
        """Jobs, newest first, fetched ``page_size`` at a time.

        Args:
            state: keep only jobs in this state (as in `list_jobs`).
            page_size: jobs per page, at least 1; default 100.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            A `Pager`: iterate it for the jobs, or ``.pages`` for the pages.
            Each page is a call of its own, with its retries and deadline.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.ScaiGridError: while iterating, when a page's call fails.
        """
        return self._jobs(state, _at_least(page_size, 1, "page_size"), dict(options))

    def _jobs(
        self, state: JobStateArg | None, page_size: int, options: dict[str, Any]
    ) -> Pager[scaimind.Job]:
        """``page_size`` 0: the gateway's own page size."""
        wanted = 0 if state is None else enum_value(state, scaimind.JobState, "state")
        request = scaimind.ListJobsRequest(state=wanted, page_size=page_size)  # type: ignore[arg-type]
        return Pager._walk(self._transport, LIST_JOBS, request, "jobs", self._options(options))

    async def cancel_job(self, job_id: str, **options: Unpack[CallOptions]) -> scaimind.Job:
        """Stop a queued or running job. Safe to retry.

        Args:
            job_id: the job's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Job``, now CANCELLED.

        Raises:
            errors.NotFoundError: no such job.
            errors.FailedPreconditionError: the job has already ended.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaimind.CancelJobRequest(job_id=_text(job_id, "job_id"))
        return (await self._unary(CANCEL_JOB, request, options)).job

    def stream_metrics(
        self,
        job_id: str,
        *,
        after_step: int = 0,
        epoch: str = "",
        **options: Unpack[StreamOptions],
    ) -> ServerStream[scaimind.StreamMetricsResponse]:
        """Metric points in step order; the stream ends when the job does.

        Resumes by itself after a dropped connection from the last step
        delivered: no gap, no duplicate.

        Args:
            job_id: the job's id.
            after_step: deliver the points after this step (a saved cursor:
                the last point's ``step``); default 0, from the start.
            epoch: the saved cursor's ``epoch``; the stream fails rather than
                skip or repeat when the gateway's history is another one.
            **options: stream options (`types.StreamOptions`): ``timeout``,
                ``idle_timeout``, ``request_id``, ``metadata``, ``retry``.

        Returns:
            The stream's handle; iterate it for the points.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.HistoryResetError: while reading, when ``epoch`` is not
                the gateway's.
            errors.ScaiGridError: while reading, when the stream fails.
        """
        request = scaimind.StreamMetricsRequest(
            job_id=_text(job_id, "job_id"),
            after_step=_at_least(after_step, 0, "after_step"),
            epoch=_epoch(epoch),
        )
        return self._stream(STREAM_METRICS, request, options, resume=_resume_metrics)


class ClusterClient(_Client):
    """GPU nodes and allocations."""

    async def register_node(
        self,
        *,
        node_id: str,
        gpus: int,
        address: str = "",
        gpu_type: str = "",
        gpu_memory_bytes: int = 0,
        labels: Mapping[str, str] | None = None,
        **options: Unpack[CallOptions],
    ) -> scaimind.Node:
        """Register a node and its GPUs, or replace its registration. Idempotent.

        Args:
            node_id: the node's id.
            gpus: its GPUs, at least 1.
            address: where it is reached (``host:port``).
            gpu_type: its GPUs' model, such as ``"H100"``.
            gpu_memory_bytes: memory per GPU, at least 0.
            labels: free-form labels.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Node`` as registered.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        request = scaimind.RegisterNodeRequest(
            node_id=_text(node_id, "node_id"),
            gpus=_at_least(gpus, 1, "gpus"),
            address=address,
            gpu_type=gpu_type,
            gpu_memory_bytes=_at_least(gpu_memory_bytes, 0, "gpu_memory_bytes"),
            labels=dict(labels or {}),
        )
        return (await self._unary(REGISTER_NODE, request, options)).node

    async def list_nodes(self, **options: Unpack[CallOptions]) -> list[scaimind.Node]:
        """Registered nodes, sorted by id, with their free GPUs; every page.

        Args:
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The nodes.

        Raises:
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        return [node async for node in self._nodes(0, dict(options))]

    def iter_nodes(
        self, *, page_size: int = 100, **options: Unpack[CallOptions]
    ) -> Pager[scaimind.Node]:
        """Registered nodes, sorted by id, fetched ``page_size`` at a time.

        Args:
            page_size: nodes per page, at least 1; default 100.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            A `Pager`: iterate it for the nodes, or ``.pages`` for the pages.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.ScaiGridError: while iterating, when a page's call fails.
        """
        return self._nodes(_at_least(page_size, 1, "page_size"), dict(options))

    def _nodes(self, page_size: int, options: dict[str, Any]) -> Pager[scaimind.Node]:
        """``page_size`` 0: the gateway's own page size."""
        request = scaimind.ListNodesRequest(page_size=page_size)
        return Pager._walk(self._transport, LIST_NODES, request, "nodes", self._options(options))

    async def allocate_gpus(
        self, *, job_id: str, count: int, gpu_type: str = "", **options: Unpack[CallOptions]
    ) -> scaimind.Allocation:
        """Reserve GPUs for a job.

        Safe to retry: the request id is its idempotency key, so a retry
        never reserves twice.

        Args:
            job_id: the job the GPUs are for.
            count: how many, at least 1.
            gpu_type: the GPU model wanted; empty: any.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Allocation`` (``id``, ``count``, ``assignments``: node and GPU indices).

        Raises:
            errors.InsufficientGPUsError: not enough free GPUs.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
        """
        request = scaimind.AllocateGPUsRequest(
            job_id=_text(job_id, "job_id"), count=_at_least(count, 1, "count"), gpu_type=gpu_type
        )
        return (await self._unary(ALLOCATE_GPUS, request, options)).allocation

    async def release_gpus(
        self, allocation_id: str, **options: Unpack[CallOptions]
    ) -> scaimind.Allocation:
        """Return an allocation's GPUs to the pool. Releasing twice is harmless.

        Args:
            allocation_id: the allocation's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``Allocation``, released.

        Raises:
            errors.NotFoundError: no such allocation.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaimind.ReleaseGPUsRequest(allocation_id=_text(allocation_id, "allocation_id"))
        return (await self._unary(RELEASE_GPUS, request, options)).allocation


class CoreRuntimeClient(_Client):
    """Core instances: invoke, passivate, restore, and their event feed."""

    async def invoke_core(
        self,
        core_id: str,
        *,
        payload: bytes | str | Mapping[str, Any] | None = None,
        content_type: str | None = None,
        **options: Unpack[CallOptions],
    ) -> scaicore.InvokeCoreResponse:
        """Run a core.

        Safe to retry: the request id is its idempotency key, so a retry
        never invokes twice.

        Args:
            core_id: the core instance's id.
            payload: bytes as is, a str as UTF-8, a dict as JSON; None: empty.
            content_type: the payload's type; default from the payload
                (``application/octet-stream``, ``text/plain; charset=utf-8``,
                ``application/json``).
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``InvokeCoreResponse`` (``payload``, ``content_type``).

        Raises:
            errors.NotFoundError: no such core.
            errors.FailedPreconditionError: the core is not active.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
            ValueError: a dict payload is not JSON-serializable.
            TypeError: the payload is not bytes, str or a dict.
        """
        if payload is None:
            data, kind = b"", content_type or ""
        elif isinstance(payload, bytes):
            data, kind = payload, content_type or "application/octet-stream"
        elif isinstance(payload, str):
            data, kind = payload.encode(), content_type or "text/plain; charset=utf-8"
        elif isinstance(payload, Mapping):
            try:
                data = json.dumps(payload).encode()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"payload: not JSON-serializable ({exc})") from None
            kind = content_type or "application/json"
        else:
            raise TypeError(f"payload: expected bytes, str or a dict, got {type(payload).__name__}")
        request = scaicore.InvokeCoreRequest(
            core_id=_text(core_id, "core_id"), payload=data, content_type=kind
        )
        return await self._unary(INVOKE_CORE, request, options)

    async def get_core(self, core_id: str, **options: Unpack[CallOptions]) -> scaicore.CoreInstance:
        """A core instance's current state.

        Args:
            core_id: the core instance's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``CoreInstance``.

        Raises:
            errors.NotFoundError: no such core.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaicore.GetCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._unary(GET_CORE, request, options)).instance

    async def passivate_core(
        self, core_id: str, **options: Unpack[CallOptions]
    ) -> scaicore.CoreInstance:
        """Move an active instance to storage.

        Args:
            core_id: the core instance's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``CoreInstance``, now PASSIVATED.

        Raises:
            errors.NotFoundError: no such core.
            errors.FailedPreconditionError: it is not active.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaicore.PassivateCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._unary(PASSIVATE_CORE, request, options)).instance

    async def restore_core(
        self, core_id: str, **options: Unpack[CallOptions]
    ) -> scaicore.CoreInstance:
        """Bring a passivated instance back.

        Args:
            core_id: the core instance's id.
            **options: call options (`types.CallOptions`): ``timeout``
                (seconds for the whole call, retries included), ``request_id``,
                ``metadata``, ``retry``.

        Returns:
            The ``CoreInstance``, now ACTIVE.

        Raises:
            errors.NotFoundError: no such core.
            errors.FailedPreconditionError: it is not passivated.
            errors.ScaiGridError: the call failed; the subclass names why
                (see the error table), after the retries the policy allows.
        """
        request = scaicore.RestoreCoreRequest(core_id=_text(core_id, "core_id"))
        return (await self._unary(RESTORE_CORE, request, options)).instance

    def stream_events(
        self,
        core_id: str,
        *,
        after_sequence: int = 0,
        epoch: str = "",
        **options: Unpack[StreamOptions],
    ) -> ServerStream[scaicore.StreamEventsResponse]:
        """A core's events in sequence order, then live until cancelled.

        Resumes by itself after a dropped connection or a gateway restart
        from the last sequence delivered: no gap, no duplicate.

        Args:
            core_id: the core instance's id.
            after_sequence: deliver the events after this one (a saved
                cursor: the last event's ``sequence``); default 0, all.
            epoch: the saved cursor's ``epoch``; the stream fails rather than
                skip or repeat when the gateway lost or reset that history.
            **options: stream options (`types.StreamOptions`): ``timeout``,
                ``idle_timeout``, ``request_id``, ``metadata``, ``retry``.

        Returns:
            The stream's handle; iterate it for the events, close it to stop.

        Raises:
            ValueError: an argument is out of range; the message names it.
                Raised before anything is sent.
            errors.HistoryResetError: while reading, when ``epoch`` is not
                the gateway's.
            errors.ScaiGridError: while reading, when the stream fails.
        """
        request = scaicore.StreamEventsRequest(
            core_id=_text(core_id, "core_id"),
            after_sequence=_at_least(after_sequence, 0, "after_sequence"),
            epoch=_epoch(epoch),
        )
        return self._stream(STREAM_EVENTS, request, options, resume=_resume_events)


class ScaiGrid(_Client):
    """All five clients over one channel: ``.inference``, ``.heartbeat``,
    ``.coordinator``, ``.cluster``, ``.core``. Takes the same keywords as
    each client; closing it closes the shared channel."""

    _Member = TypeVar("_Member", bound=_Client)

    def _member(self, cls: type[_Member]) -> _Member:
        # Made on first use, then kept: one per facade, sharing its channel.
        member = self.__dict__.get(cls.__name__)
        if member is None:
            member = self.__dict__[cls.__name__] = cls._sharing(self, self._defaults)
        return member

    @property
    def inference(self) -> InferenceClient:
        """Chat, embeddings and the model catalogue, on this channel."""
        return self._member(InferenceClient)

    @property
    def heartbeat(self) -> HeartbeatClient:
        """Heartbeats of inference nodes, on this channel."""
        return self._member(HeartbeatClient)

    @property
    def coordinator(self) -> CoordinatorClient:
        """Training jobs and their metrics, on this channel."""
        return self._member(CoordinatorClient)

    @property
    def cluster(self) -> ClusterClient:
        """GPU nodes and allocations, on this channel."""
        return self._member(ClusterClient)

    @property
    def core(self) -> CoreRuntimeClient:
        """ScaiCore instances and their events, on this channel."""
        return self._member(CoreRuntimeClient)

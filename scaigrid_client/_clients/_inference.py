"""`InferenceClient` and `HeartbeatClient`: the scaiinfer.v1 services (async source).

Each method checks its arguments and builds its request (with `_methods`),
hands it to the shared `Transport` (which does metadata, deadline, retries
and errors) and shapes the result. `tools/unasync.py` writes
`sync/_clients/_inference.py` from it.
"""

from __future__ import annotations

import functools
import inspect  # unasync: async-only
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from typing_extensions import Unpack

from scaigrid_client import errors
from scaigrid_client._call import (
    CAPTURE,
    CallInfo,
    call_details,
)
from scaigrid_client._clients._client import _Client
from scaigrid_client._messages import scaiinfer
from scaigrid_client._methods import (
    EMBED,
    HEARTBEAT,
    INFER,
    LIST_MODELS,
    STREAM_INFERENCE,
    CallOptions,
    CapabilityArg,
    ChatReply,
    Embeddings,
    MessageLike,
    NodeHealthArg,
    StreamOptions,
    _at_least,
    _messages,
    _sampling,
    _text,
    enum_value,
    finish_reason,
)
from scaigrid_client._transport import (
    HeartbeatLoop,
    ServerStream,
)

__all__ = ["HeartbeatClient", "InferenceClient"]

logger = logging.getLogger("scaigrid_client")


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

"""InferenceService's domain: the models, chat replies and embeddings.

Replies and vectors are derived from a hash of the model and the input, so
the same prompt always gives the same answer.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence

import grpc

from scaigrid_client._messages import scaiinfer
from scaigrid_client.testing._errors import FakeError, invalid
from scaigrid_client.testing._scripts import ReplyScripts, split_tokens
from scaigrid_client.testing._state._common import digest

__all__ = ["MODELS", "InferenceDomain"]

_CHAT = scaiinfer.CAPABILITY_CHAT
_EMBED = scaiinfer.CAPABILITY_EMBEDDINGS

MODELS = (
    scaiinfer.Model(
        id="scailabs/poolnoodle-omni",
        owner="scailabs",
        context_length=32768,
        capabilities=[_CHAT, _EMBED],
        embedding_dimensions=1024,
    ),
    scaiinfer.Model(
        id="scailabs/poolnoodle-mini", owner="scailabs", context_length=8192, capabilities=[_CHAT]
    ),
    scaiinfer.Model(
        id="scailabs/embed-small",
        owner="scailabs",
        context_length=512,
        capabilities=[_EMBED],
        embedding_dimensions=384,
    ),
)

# Words the fake "model" speaks; replies are drawn from them by a hash of the
# prompt, so the same prompt always gives the same reply.
_WORDS = [
    "the",
    "grid",
    "routes",
    "each",
    "request",
    "to",
    "a",
    "warm",
    "node",
    "and",
    "streams",
    "tokens",
    "back",
    "as",
    "they",
    "are",
    "sampled",
    "while",
    "the",
    "coordinator",
    "keeps",
    "training",
    "jobs",
    "moving",
    "step",
    "by",
    "step",
    "across",
    "the",
    "cluster",
    "and",
    "every",
    "core",
    "keeps",
    "its",
    "own",
    "ordered",
    "log",
    "of",
    "events",
    "so",
    "nothing",
    "is",
    "lost",
    "when",
    "a",
    "connection",
    "drops",
    "and",
    "resumes",
    "later",
]


class InferenceDomain:
    """ListModels, StreamInference, Infer and Embed."""

    def __init__(
        self,
        models: dict[str, scaiinfer.Model],
        *,
        binary_chunk_size: int,
        scripts: ReplyScripts | None = None,
    ) -> None:
        self._models = models
        self.binary_chunk_size = binary_chunk_size
        self.scripts = scripts if scripts is not None else ReplyScripts()

    def model(self, model_id: str, field_name: str, capability: int) -> scaiinfer.Model:
        if not model_id:
            raise invalid(field_name, "is required, for example 'scailabs/poolnoodle-omni'")
        model = self._models.get(model_id)
        if model is None:
            raise FakeError(
                grpc.StatusCode.NOT_FOUND,
                "model_not_found",
                f"model '{model_id}' not found; ListModels shows the available models",
            )
        if capability not in model.capabilities:
            what = "chat" if capability == _CHAT else "embeddings"
            raise FakeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "unsupported_model",
                f"{field_name}: model '{model_id}' does not support {what}",
            )
        return model

    def list_models(self, capability: int) -> list[scaiinfer.Model]:
        return [
            m
            for m in sorted(self._models.values(), key=lambda m: m.id)
            if capability == scaiinfer.CAPABILITY_UNSPECIFIED or capability in m.capabilities
        ]

    def reply(
        self, request: scaiinfer.InferenceRequest | scaiinfer.InferRequest
    ) -> tuple[list[str], int, int]:
        """The reply's tokens, its finish reason and the prompt's token count:
        a scripted reply's, if one matches, or the deterministic one."""
        model = self.model(request.model, "model", _CHAT)
        if not request.messages:
            raise invalid("messages", "at least one message is required")
        for i, message in enumerate(request.messages):
            if message.role not in ("system", "user", "assistant", "tool"):
                raise invalid(
                    f"messages[{i}].role", "must be 'system', 'user', 'assistant' or 'tool'"
                )
        if request.HasField("temperature") and not 0 <= request.temperature <= 2:
            raise invalid("temperature", "must be between 0 and 2")
        if request.HasField("top_p") and not 0 < request.top_p <= 1:
            raise invalid("top_p", "must be in (0, 1]")
        if request.HasField("max_tokens") and request.max_tokens == 0:
            raise invalid("max_tokens", "must be at least 1 when set")
        prompt_tokens = sum(len(m.content.split()) + 1 for m in request.messages)
        if prompt_tokens > model.context_length:
            raise invalid(
                "messages",
                f"{prompt_tokens} prompt tokens exceed the context length "
                f"{model.context_length} of '{model.id}'",
            )
        room = model.context_length - prompt_tokens
        finish: int
        tokens: list[str]
        scripted = self.scripts.match(model.id, request.messages)
        if scripted is not None:
            tokens, finish = split_tokens(scripted), scaiinfer.FINISH_REASON_STOP
            limit = min(request.max_tokens, room) if request.HasField("max_tokens") else room
            if len(tokens) > limit:
                tokens, finish = tokens[:limit], scaiinfer.FINISH_REASON_LENGTH
        else:
            tokens, finish = _generated(model.id, request, room)
        if request.stop:
            tokens, finish = _cut_at_stop(tokens, finish, request.stop)
        return tokens, finish, prompt_tokens

    def binary_chunks(self, request: scaiinfer.InferenceRequest) -> Iterator[bytes]:
        """Deterministic binary output, `max_output_bytes` in total."""
        self.model(request.model, "model", _CHAT)
        if request.max_output_bytes == 0:
            raise invalid("max_output_bytes", "must be at least 1 for binary output")
        size = self.binary_chunk_size
        block = hashlib.shake_256(request.model.encode()).digest(size)
        whole, rest = divmod(request.max_output_bytes, size)
        for _ in range(whole):
            yield block
        if rest:
            yield block[:rest]

    def embed(self, request: scaiinfer.EmbedRequest) -> scaiinfer.EmbedResponse:
        model = self.model(request.model, "model", _EMBED)
        if not request.inputs:
            raise invalid("inputs", "at least one input is required")
        response = scaiinfer.EmbedResponse(model=model.id)
        total = 0
        for i, text in enumerate(request.inputs):
            if not text.strip():
                raise invalid(f"inputs[{i}]", "must not be empty")
            tokens = len(text.split())
            if tokens > model.context_length:
                raise invalid(
                    f"inputs[{i}]",
                    f"{tokens} tokens exceed the context length {model.context_length} "
                    f"of '{model.id}'",
                )
            total += tokens
            rng = random.Random(digest(model.id, text))
            values = [rng.gauss(0.0, 1.0) for _ in range(model.embedding_dimensions)]
            norm = math.sqrt(sum(v * v for v in values))
            response.embeddings.add(index=i, values=[v / norm for v in values])
        response.usage.prompt_tokens = total
        response.usage.total_tokens = total
        return response


def _generated(
    model_id: str, request: scaiinfer.InferenceRequest | scaiinfer.InferRequest, room: int
) -> tuple[list[str], int]:
    """The deterministic reply: words drawn by a hash of the conversation."""
    prompt = "\n".join(f"{m.role}:{m.content}" for m in request.messages)
    seed = digest(model_id, prompt, str(request.seed) if request.HasField("seed") else "")
    rng = random.Random(seed)
    if request.HasField("max_tokens"):
        count, finish = request.max_tokens, scaiinfer.FINISH_REASON_LENGTH
    else:
        count, finish = 16 + seed % 33, scaiinfer.FINISH_REASON_STOP
    words = [rng.choice(_WORDS) for _ in range(min(count, room))]
    tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
    if words:
        tokens[0] = tokens[0].capitalize()
    return tokens, finish


def _cut_at_stop(tokens: list[str], finish: int, stop: Sequence[str]) -> tuple[list[str], int]:
    """The tokens before the first stop string, and STOP if one was found."""
    text = ""
    for i, token in enumerate(tokens):
        text += token
        hits = [text.find(s) for s in stop if s and s in text]
        if hits:
            keep = text[: min(hits)]
            before = "".join(tokens[:i])
            rest = [keep[len(before) :]] if len(keep) > len(before) else []
            return tokens[:i] + rest, scaiinfer.FINISH_REASON_STOP
    return tokens, finish

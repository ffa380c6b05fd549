"""The provider protocol: one small async interface every model vendor implements.

A provider turns a ``ModelRequest`` into a ``ModelResponse`` (raw text plus token usage). It does
not validate the answer: ``agents.structured`` does that, the same way for every provider, and
asks the model to repair an answer that does not fit. Adding a vendor is one module with one
class that implements ``complete``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ModelRequest:
    """Everything a provider needs for one call. Holds no key and no header."""

    node_id: str
    """The node the call is for (replay and scripted providers key on it)."""
    model: str
    system: str
    """The node's persona."""
    messages: tuple[Message, ...]
    output_schema: dict[str, Any] | None = None
    """JSON Schema the answer must satisfy; ``None`` for free text."""
    output_name: str = "answer"
    max_tokens: int = 4096
    temperature: float | None = None
    purpose: str = "answer"
    """``answer``, ``repair`` (fix an invalid answer) or ``adapt`` (rewrite code after a failure)."""
    attempt: int = 1
    """1 for a node's first call; counts repair and adaptation calls too."""

    def cache_key(self) -> str:
        """Stable hash of what determines the answer: model, prompt, messages, schema."""
        body = {
            "model": self.model,
            "system": self.system,
            "messages": [[m.role, m.content] for m in self.messages],
            "schema": self.output_schema,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ModelResponse:
    text: str
    """The answer as text (JSON text for structured calls)."""
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    stop_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """What the engine needs from a model vendor."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer one request. Raise ``ProviderError`` (``retryable`` set) on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the engine calls it once when the run ends."""
        ...


__all__ = ["Message", "ModelRequest", "ModelResponse", "Provider"]

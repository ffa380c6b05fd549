"""Model strings: one string names the vendor and the model, per workflow and per node.

``openai:gpt-4.1-mini``, ``anthropic:claude-sonnet-5``, ``ollama:llama3.2``,
``openai-compatible:NAME`` (a server of your own, ``base_url`` from the options or
``OPENAI_COMPATIBLE_BASE_URL``), ``bedrock:...`` and ``vertex:...`` (Claude through AWS and
Google Cloud). A bare name keeps its old meaning: the provider chosen with ``--provider``
(``anthropic`` unless told otherwise). Only a known vendor counts as a prefix, so model names
with colons of their own (``llama3.2:3b``) stay whole: ``ollama:llama3.2:3b`` is vendor
``ollama``, model ``llama3.2:3b``.

Pure string handling: nothing here imports a vendor SDK.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..exceptions import ProviderError

VENDORS = ("anthropic", "openai", "ollama", "openai-compatible", "bedrock", "vertex")
"""Every vendor a model string may name."""

OPENAI_LIKE = ("openai", "ollama", "openai-compatible")
"""Vendors spoken to with the OpenAI SDK (Chat Completions)."""

ANTHROPIC_LIKE = ("anthropic", "bedrock", "vertex")
"""Vendors spoken to with the anthropic SDK (Messages)."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed model string."""

    vendor: str | None
    """The vendor the string names; ``None`` for a bare name (the default vendor answers)."""
    name: str
    """The model as the vendor knows it (prefix removed)."""

    def resolved(self, default_vendor: str) -> tuple[str, str]:
        """``(vendor, model)`` with the default vendor filled in for a bare name."""
        return self.vendor or default_vendor, self.name

    def __str__(self) -> str:
        return f"{self.vendor}:{self.name}" if self.vendor else self.name


def parse_model(model: str) -> ModelRef:
    """Split ``vendor:name``; a prefix that is no vendor leaves the string whole.

    A string that looks like a misspelt vendor (``opanai:gpt-4o``) is an error naming the
    close match, because sending it to the default vendor would fail later and less clearly.
    """
    prefix, sep, rest = model.partition(":")
    if not sep:
        return ModelRef(None, model)
    vendor = prefix.strip().lower()
    if vendor in VENDORS:
        if not rest.strip():
            raise ProviderError(f"model '{model}': no model name after '{prefix}:'")
        return ModelRef(vendor, rest.strip())
    close = difflib.get_close_matches(vendor, VENDORS, n=1, cutoff=0.75)
    if close:
        raise ProviderError(
            f"model '{model}': unknown vendor '{prefix}' (did you mean '{close[0]}'?); "
            f"vendors: {', '.join(VENDORS)}"
        )
    return ModelRef(None, model)


def model_for(model: str, vendor: str) -> str:
    """``model`` without its prefix when the prefix names ``vendor`` (a provider used on its
    own, without the router); another vendor's prefix is an error saying how to route it."""
    ref = parse_model(model)
    if ref.vendor is None or ref.vendor == vendor:
        return ref.name
    raise ProviderError(
        f"model '{model}' is for {ref.vendor}, but this provider is {vendor}: use --provider "
        "auto (or resolve_provider with the workflow), which sends each model to its vendor"
    )


def vendors_of(models: list[str] | tuple[str, ...], default_vendor: str) -> list[str]:
    """The vendors a set of model strings needs, in first-seen order."""
    seen: dict[str, None] = {}
    for model in models:
        if model:
            seen[parse_model(model).resolved(default_vendor)[0]] = None
    return list(seen)


__all__ = [
    "ANTHROPIC_LIKE",
    "OPENAI_LIKE",
    "VENDORS",
    "ModelRef",
    "model_for",
    "parse_model",
    "vendors_of",
]

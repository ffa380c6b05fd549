"""Model providers: the protocol, structured output, and the built-in providers.

``anthropic`` (the official SDK, imported lazily), ``replay`` (recorded answers, offline) and
``scripted`` (canned answers per node, offline; for demos and tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ProviderError
from .base import Message, ModelRequest, ModelResponse, Provider
from .scripted import ScriptedProvider

if TYPE_CHECKING:
    from ..spec import WorkflowSpec

PROVIDERS = ("auto", "scripted", "replay", "anthropic")


def _companion(spec: WorkflowSpec | None, suffixes: tuple[str, ...]) -> Path | None:
    if spec is None or spec.source_file.startswith("<"):
        return None
    src = Path(spec.source_file)
    for suffix in suffixes:
        for candidate in (src.with_name(src.stem + suffix), src.with_name(suffix.lstrip("."))):
            if candidate.is_file():
                return candidate
    return None


def resolve_provider(
    provider: Provider | str | None, *, spec: WorkflowSpec | None = None, **options: Any
) -> Provider:
    """A provider object from a name (or pass one through).

    ``auto`` (the default) stays offline when it can: a cassette next to the spec
    (``<name>.cassette.jsonl`` or ``cassette.jsonl``) is replayed, else a script
    (``<name>.script.yaml`` or ``script.yaml``) is used; only then ``anthropic`` with
    ``ANTHROPIC_API_KEY``. ``record="cassette.jsonl"`` wraps the provider in a
    ``RecordingProvider`` that appends every call to that cassette.
    """
    record = options.pop("record", None)
    resolved = _resolve(provider, spec, options)
    if record:
        from .replay import RecordingProvider

        return RecordingProvider(resolved, record)
    return resolved


def _resolve(
    provider: Provider | str | None, spec: WorkflowSpec | None, options: dict[str, Any]
) -> Provider:
    if provider is not None and not isinstance(provider, str):
        return provider
    name = provider or "auto"
    if name == "auto":
        if options.get("cassette") or _companion(spec, (".cassette.jsonl",)):
            name = "replay"
        elif options.get("script") or _companion(spec, (".script.yaml", ".script.json")):
            name = "scripted"
        elif os.environ.get("ANTHROPIC_API_KEY"):
            name = "anthropic"
        else:
            raise ProviderError(
                "no model provider: set ANTHROPIC_API_KEY for live calls, or run offline with "
                "--provider replay --cassette FILE (recorded answers) or --provider scripted "
                "--script FILE (canned answers)"
            )
    if name == "scripted":
        script = options.pop("script", None) or _companion(spec, (".script.yaml", ".script.json"))
        if script is None:
            raise ProviderError("the scripted provider needs a script: --script FILE")
        if isinstance(script, (str, Path)):
            return ScriptedProvider.from_file(script, **options)
        return ScriptedProvider(script, **options)
    if name == "replay":
        from .replay import ReplayProvider

        cassette = options.pop("cassette", None) or _companion(spec, (".cassette.jsonl",))
        if cassette is None:
            raise ProviderError("the replay provider needs a cassette: --cassette FILE")
        return ReplayProvider(cassette, **options)
    if name == "anthropic":
        from .anthropic import AnthropicProvider

        return AnthropicProvider(**options)
    raise ProviderError(f"unknown provider '{name}': use one of {', '.join(PROVIDERS)}")


__all__ = [
    "PROVIDERS",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ScriptedProvider",
    "resolve_provider",
]

"""Model providers: the protocol, structured output, and the built-in providers.

Vendors, each named by a model string's prefix (``agents.models``): ``anthropic`` (the
official SDK, imported lazily; ``bedrock`` and ``vertex`` through its cloud clients),
``openai``, ``ollama`` and ``openai-compatible`` (the ``openai`` SDK). A workflow whose models
name vendors gets a ``RoutingProvider`` that sends each request to its vendor. Offline:
``replay`` (recorded answers) and ``scripted`` (canned answers per node; demos and tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ProviderError
from .base import Message, ModelRequest, ModelResponse, Provider
from .models import VENDORS, parse_model, vendors_of
from .scripted import ScriptedProvider

if TYPE_CHECKING:
    from ..spec import WorkflowSpec

PROVIDERS = ("auto", "scripted", "replay", *VENDORS)


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
    (``<name>.script.yaml`` or ``script.yaml``) is used; only then the live vendors the
    workflow's model strings name (a bare name: ``anthropic`` with ``ANTHROPIC_API_KEY``).
    A vendor name (``anthropic``, ``openai``, ``ollama``...) makes it the vendor of bare model
    names; model strings with a prefix still go to their own vendor. Options for another
    vendor go under its name: ``{"openai": {"base_url": ...}}``.
    ``record="cassette.jsonl"`` wraps the provider in a ``RecordingProvider`` that appends
    every call to that cassette. Prices and the dollar budget are the run's, not the
    provider's (``cost_budget`` in ``config``; the engine wraps the provider it is given).
    """
    record = options.pop("record", None)
    resolved = _resolve(provider, spec, options)
    if record:
        from .replay import RecordingProvider

        resolved = RecordingProvider(resolved, record)
    return resolved


def _resolve(
    provider: Provider | str | None, spec: WorkflowSpec | None, options: dict[str, Any]
) -> Provider:
    if provider is not None and not isinstance(provider, str):
        return provider
    # Per-vendor options matter only to live vendors (scripted and replay take none).
    vendor_options = {v: options.pop(v) for v in VENDORS if isinstance(options.get(v), dict)}
    name = provider or "auto"
    if name == "auto":
        if options.get("cassette") or _companion(spec, (".cassette.jsonl",)):
            name = "replay"
        elif options.get("script") or _companion(spec, (".script.yaml", ".script.json")):
            name = "scripted"
        elif os.environ.get("ANTHROPIC_API_KEY") or _prefixed(spec, options):
            name = "anthropic"
        else:
            raise ProviderError(
                "no model provider: set ANTHROPIC_API_KEY for live calls (or name another "
                "vendor in the model string: openai:gpt-4.1-mini, ollama:llama3.2, ...), or run "
                "offline with --provider replay --cassette FILE (recorded answers) or "
                "--provider scripted --script FILE (canned answers)"
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
    if name in VENDORS:
        return _live(name, spec, options, vendor_options)
    raise ProviderError(f"unknown provider '{name}': use one of {', '.join(PROVIDERS)}")


def _models(spec: WorkflowSpec | None, options: dict[str, Any]) -> list[str]:
    models = [str(options["model"])] if options.get("model") else []
    if spec is not None:
        models.append(spec.model)
        models += [n.model for n in spec.nodes if n.model]
    return models


def _prefixed(spec: WorkflowSpec | None, options: dict[str, Any]) -> bool:
    return any(parse_model(m).vendor for m in _models(spec, options))


def _live(
    default: str,
    spec: WorkflowSpec | None,
    options: dict[str, Any],
    vendor_options: dict[str, dict[str, Any]],
) -> Provider:
    """The default vendor's own provider, or a router when a model string names a vendor."""
    if not _prefixed(spec, options) and not vendor_options:
        from .routing import build_vendor

        return build_vendor(default, options)
    from .routing import RoutingProvider

    needed = vendors_of(_models(spec, options), default)
    name = "+".join(needed) or default
    return RoutingProvider(default, vendors=vendor_options, prepare=needed, name=name, **options)


__all__ = [
    "PROVIDERS",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ScriptedProvider",
    "resolve_provider",
]

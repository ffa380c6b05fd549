"""The routing provider: each request goes to the vendor its model string names.

A workflow may say ``model: openai:gpt-4.1-mini`` and one node ``model: anthropic:claude-...``;
the engine hands every request to one ``Provider``, and this one reads the request's model
string (``agents.models``), strips the prefix and passes the request to that vendor's
provider, built on first use. A bare name goes to the default vendor (``--provider``, else
``anthropic``), so existing workflows mean what they meant.

Options: ``vendors={"openai": {...}, "ollama": {"base_url": ...}}`` per vendor; the other
keyword options (``api_key``, ``base_url``, ``structured``...) belong to the default vendor,
except ``max_retries`` and ``timeout``, which every vendor gets. A router pickles as its
default vendor and options (the vendor clients are built again where it is unpickled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..exceptions import ProviderError
from .base import ModelRequest, ModelResponse, Provider
from .models import ANTHROPIC_LIKE, OPENAI_LIKE, VENDORS, parse_model

SHARED_OPTIONS = ("max_retries", "timeout")
"""Options that apply to every vendor, not only the default one."""


def build_vendor(vendor: str, options: Mapping[str, Any]) -> Provider:
    """A provider for one vendor (its SDK is imported now)."""
    opts = dict(options)
    if vendor in OPENAI_LIKE:
        from .openai import OpenAIProvider

        return OpenAIProvider(vendor=vendor, **opts)
    if vendor in ANTHROPIC_LIKE:
        from .anthropic import AnthropicProvider

        if vendor == "anthropic":
            return AnthropicProvider(**opts)
        return AnthropicProvider.on_cloud(vendor, **opts)
    raise ProviderError(f"unknown vendor '{vendor}': use one of {', '.join(VENDORS)}")


class RoutingProvider:
    """Dispatches each ``ModelRequest`` on its model string's vendor prefix.

    ``prepare`` lists vendors to build at once, so a missing key or base URL is reported
    before the run starts rather than when the first node of that vendor asks.
    """

    def __init__(
        self,
        default: str = "anthropic",
        *,
        model: str | None = None,
        vendors: Mapping[str, Mapping[str, Any]] | None = None,
        prepare: Iterable[str] = (),
        name: str | None = None,
        **options: Any,
    ) -> None:
        if default not in VENDORS:
            raise ProviderError(f"unknown vendor '{default}': use one of {', '.join(VENDORS)}")
        unknown = sorted(set(vendors or {}) - set(VENDORS))
        if unknown:
            raise ProviderError(
                f"options for unknown vendor(s) {', '.join(unknown)}: use {', '.join(VENDORS)}"
            )
        self.default = default
        self.model = model
        self.name = name or default
        self.options = dict(options)
        self.vendor_options = {v: dict(o) for v, o in (vendors or {}).items()}
        self._providers: dict[str, Provider] = {}
        for vendor in prepare:
            self.provider_for(vendor)

    def options_for(self, vendor: str) -> dict[str, Any]:
        """What ``vendor``'s provider is built with."""
        if vendor == self.default:
            base = dict(self.options)
        else:
            base = {k: v for k, v in self.options.items() if k in SHARED_OPTIONS}
        base.update(self.vendor_options.get(vendor, {}))
        return base

    def provider_for(self, vendor: str) -> Provider:
        provider = self._providers.get(vendor)
        if provider is None:
            provider = self._providers[vendor] = build_vendor(vendor, self.options_for(vendor))
        return provider

    def route(self, model: str) -> tuple[str, str]:
        """``(vendor, model name)`` for a request's model string."""
        return parse_model(model or self.model or "").resolved(self.default)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        vendor, name = self.route(request.model)
        response = await self.provider_for(vendor).complete(replace(request, model=name))
        if response.meta.get("vendor") != vendor:
            response = replace(response, meta={**response.meta, "vendor": vendor})
        return response

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    def __reduce__(self) -> tuple[Any, ...]:
        # Name and options only: SDK clients hold sockets and locks and belong to one process.
        kwargs = {
            "model": self.model,
            "vendors": self.vendor_options,
            "name": self.name,
            **self.options,
        }
        return (_rebuild, (self.default, kwargs))


def _rebuild(default: str, kwargs: dict[str, Any]) -> RoutingProvider:
    return RoutingProvider(default, **kwargs)


__all__ = ["SHARED_OPTIONS", "RoutingProvider", "build_vendor"]

"""What model calls cost in US dollars, and the run's dollar budget (``cost_budget``).

Prices come from ``genai-prices`` (a maintained table of vendors' prices, shipped with the
package, read offline), never from numbers typed in here. A model the table does not know
costs ``None`` ("unknown"): it is counted apart and never breaks a run. Models on this
machine (``ollama:``) cost nothing.

``CostMeter`` adds up one run; ``CostBudgetProvider`` wraps the run's provider and refuses a
new call once the budget is spent (``BudgetExceeded``, which stops the run like the token
budget does). The call that crosses the budget has already been paid for, so it completes
and is counted; calls other nodes have in flight at that moment finish too.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import replace

from ..exceptions import BudgetExceeded
from .base import ModelRequest, ModelResponse, Provider
from .models import parse_model

# Our vendor names -> genai-prices provider ids (``None``: let the table match the model).
_PRICE_PROVIDER: dict[str, str | None] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "bedrock": "aws",
    "vertex": "google",
    "openai-compatible": None,
}
FREE_VENDORS = ("ollama",)
"""Vendors that run on the user's machine: no bill."""


@functools.lru_cache(maxsize=1024)
def _known(provider_id: str | None, model: str) -> bool:
    return _price(provider_id, model, 1, 1, 0, 0) is not None


def _price(
    provider_id: str | None,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
) -> float | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # the table is a dependency; a broken install means "unknown"
        return None
    usage = Usage(
        input_tokens=input_tokens + cache_read + cache_write,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read or None,
        cache_write_tokens=cache_write or None,
    )
    try:
        result = calc_price(usage, model_ref=model, provider_id=provider_id)
    except (LookupError, ValueError, TypeError, ArithmeticError):
        return None
    return float(result.total_price)


def call_cost(
    vendor: str | None,
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """US dollars for one call, or ``None`` when the price table does not know the model.

    ``input_tokens`` are the uncached input tokens (as the vendors report them); cache reads
    and writes are priced at their own rates.
    """
    if vendor in FREE_VENDORS:
        return 0.0
    provider_id = _PRICE_PROVIDER.get(vendor or "")
    if not model or not _known(provider_id, model):
        return None
    return _price(
        provider_id, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens
    )


def response_cost(
    response: ModelResponse, request_model: str = "", *, default_vendor: str = "anthropic"
) -> float | None:
    """US dollars for one answered call (replayed ones too: what it cost when recorded).

    The vendor is the one that answered (``meta["vendor"]``), else the request's model
    string's; the model is the one that answered (``gpt-4.1-mini-2025-04-14``), else the one
    asked for.
    """
    asked = parse_model(request_model) if request_model else None
    vendor = response.meta.get("vendor") or (asked.vendor if asked else None) or default_vendor
    meta = response.meta
    for model in (response.model, asked.name if asked else ""):
        if not model:
            continue
        cost = call_cost(
            str(vendor),
            parse_model(model).name,
            response.input_tokens,
            response.output_tokens,
            cache_read_tokens=int(meta.get("cache_read_input_tokens") or 0),
            cache_write_tokens=int(meta.get("cache_creation_input_tokens") or 0),
        )
        if cost is not None:
            return cost
    return None


def format_usd(amount: float | None) -> str:
    """``$0.0123``, ``$2.50``, or ``unknown``."""
    if amount is None:
        return "unknown"
    return f"${amount:.2f}" if amount >= 1 else f"${amount:.4f}"


class CostMeter:
    """Dollars spent by one run, shared by its nodes; enforces the optional budget."""

    def __init__(self, budget: float | None = None) -> None:
        self.budget = budget
        self.usd = 0.0
        """Sum over the calls whose price is known."""
        self.unknown_calls = 0
        """Calls of models the price table does not know (not in ``usd``)."""
        self.calls = 0
        self._lock = threading.Lock()

    def add(self, response: ModelResponse, request_model: str = "") -> float | None:
        """Count one call; returns its cost (``None``: unknown)."""
        cost = response_cost(response, request_model)
        with self._lock:
            self.calls += 1
            if cost is None:
                self.unknown_calls += 1
            else:
                self.usd += cost
        return cost

    @property
    def spent(self) -> bool:
        return self.budget is not None and self.usd > self.budget

    def check(self) -> None:
        if self.spent:
            raise BudgetExceeded(
                f"the run's cost budget is spent ({format_usd(self.usd)} > "
                f"{format_usd(self.budget)}): raise cost_budget in the workflow, or use "
                "cheaper models"
            )

    def summary(self) -> str:
        """``$0.0123``, ``$0.0123 + 2 calls of unknown cost``, ``unknown`` or ``$0.0000``."""
        if self.calls and self.unknown_calls == self.calls:
            return "unknown"
        text = format_usd(self.usd)
        if self.unknown_calls:
            plural = "s" if self.unknown_calls > 1 else ""
            text += f" + {self.unknown_calls} call{plural} of unknown cost"
        return text


class CostBudgetProvider:
    """Wraps a provider: prices every answer (``meta["cost_usd"]``) and, once the meter's
    budget is spent, refuses further calls with ``BudgetExceeded``."""

    def __init__(self, inner: Provider, meter: CostMeter) -> None:
        self.inner = inner
        self.meter = meter
        self.name: str = inner.name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.meter.check()
        response = await self.inner.complete(request)
        cost = self.meter.add(response, request.model)
        return replace(response, meta={**response.meta, "cost_usd": cost})

    async def aclose(self) -> None:
        await self.inner.aclose()


__all__ = [
    "CostBudgetProvider",
    "CostMeter",
    "call_cost",
    "format_usd",
    "response_cost",
]

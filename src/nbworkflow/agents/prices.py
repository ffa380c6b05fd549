"""What model calls cost in US dollars, and the run's dollar budget (``cost_budget``).

Prices come from ``genai-prices`` (a maintained table of vendors' prices, shipped with the
package, read offline), never from numbers typed in here. A model the table does not know
costs ``None`` ("unknown"): it is counted apart and never breaks a run. Models on this
machine (``ollama:``) and canned answers (``scripted``) cost nothing; a replayed answer costs
what its recorded model charged when it was recorded, so a budget can be tried offline.

The engine gives each run one ``CostMeter`` (its nodes share it, however many run at once)
and wraps the run's provider in a ``CostBudgetProvider`` that prices every answer
(``meta["cost_usd"]``, which ``ModelCalled.cost_usd`` carries). Under a budget, a call is
refused before it is sent when even its prompt alone (``estimate_cost``, a figure that errs
low for ordinary text) would take the run past the budget, counting what calls in flight are expected to cost;
a call whose price shows only in its answer is paid for, counted, and then the node stops the
run (``CostMeter.check``, ``BudgetExceeded``), as the token budget does.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import replace

from ..exceptions import BudgetExceeded
from .base import ModelRequest, ModelResponse, Provider
from .models import VENDORS, parse_model

# Our vendor names -> genai-prices provider ids (``None``: let the table match the model).
_PRICE_PROVIDER: dict[str, str | None] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "bedrock": "aws",
    "vertex": "google",
    "openai-compatible": None,
}
FREE_VENDORS = ("ollama", "scripted")
"""Vendors that send no bill: a model on the user's machine, canned answers."""
CHARS_PER_TOKEN = 5
"""For the estimate before a call: more characters per token than vendors' tokenizers make
of ordinary English, JSON or code (about 3-4), so the estimate errs low and refuses only
calls that would cross the budget anyway; text a tokenizer packs tighter (long runs of one
character) can be over-estimated, and is refused a little early."""


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


def estimate_cost(request: ModelRequest, default_vendor: str = "anthropic") -> float | None:
    """At least what ``request`` will cost: its prompt (persona, messages, schema) at
    ``CHARS_PER_TOKEN`` characters a token and no answer; ``None`` when the price is unknown."""
    asked = parse_model(request.model)
    chars = len(request.system) + sum(len(m.content) for m in request.messages)
    if request.output_schema:
        chars += len(json.dumps(request.output_schema))
    return call_cost(asked.vendor or default_vendor, asked.name, chars // CHARS_PER_TOKEN, 0)


def default_vendor_of(provider: Provider) -> str:
    """The vendor that answers a bare model name through ``provider`` (and its wrapped one)."""
    known = (*VENDORS, *FREE_VENDORS)
    for p in (provider, getattr(provider, "inner", None)):
        for value in (
            getattr(p, "default", None),
            getattr(p, "vendor", None),
            getattr(p, "name", None),
        ):
            if isinstance(value, str) and value in known:
                return value
    return "anthropic"


def format_usd(amount: float | None) -> str:
    """``$0.0123``, ``$2.50``, ``$0.000042`` (a cheap call is not shown as free), ``unknown``."""
    if amount is None:
        return "unknown"
    if amount >= 1:
        return f"${amount:.2f}"
    return f"${amount:.6f}" if 0 < amount < 0.0001 else f"${amount:.4f}"


def cost_summary(usd: float, unknown_calls: int, calls: int | None = None) -> str:
    """A sum of known prices and a count of unknown ones in words: ``$0.0123``, ``$0.0123 +
    2 calls of unknown cost``, or ``unknown`` when every call (``calls``, if counted; else
    every priced dollar) is unknown."""
    if unknown_calls and (unknown_calls == calls if calls is not None else usd == 0):
        return "unknown"
    text = format_usd(usd)
    if unknown_calls:
        plural = "s" if unknown_calls > 1 else ""
        text += f" + {unknown_calls} call{plural} of unknown cost"
    return text


def short_cost(usd: float, unknown_calls: int, calls: int | None = None) -> str:
    """A table cell: ``$0.0123``, ``unknown`` (every call, or every priced dollar, unknown), or
    ``$0.0123 +1 unknown``."""
    if unknown_calls and (unknown_calls == calls if calls is not None else usd == 0):
        return "unknown"
    return format_usd(usd) + (f" +{unknown_calls} unknown" if unknown_calls else "")


def _budget(amount: float) -> str:
    """A budget as people write it: ``$0.10``, ``$2.50``, ``$0.001``, ``$0.000001``."""
    if amount == round(amount, 2):
        return f"${amount:.2f}"
    return "$" + f"{amount:.9f}".rstrip("0")


def _fix() -> str:
    return "raise cost_budget in the workflow or --cost-budget, or use cheaper models"


class CostMeter:
    """Dollars spent by one run, shared by its nodes; enforces the optional budget."""

    def __init__(self, budget: float | None = None, earlier_usd: float = 0.0) -> None:
        self.budget = budget
        self.usd = 0.0
        """Sum over the calls whose price is known (this segment: what its summary reports)."""
        self.earlier_usd = earlier_usd
        """What the run's earlier segments spent (a resumed run): the budget counts it."""
        self.unknown_calls = 0
        """Calls of models the price table does not know (not in ``usd``)."""
        self.calls = 0
        self.reserved = 0.0
        """What the calls in flight will cost at least (their estimates)."""
        self._lock = threading.Lock()  # a provider may be shared by runs in other threads

    def add(
        self, response: ModelResponse, request_model: str = "", default_vendor: str = "anthropic"
    ) -> float | None:
        """Count one call; returns its cost (``None``: unknown)."""
        cost = response_cost(response, request_model, default_vendor=default_vendor)
        with self._lock:
            self.calls += 1
            if cost is None:
                self.unknown_calls += 1
            else:
                self.usd += cost
        return cost

    @property
    def total_usd(self) -> float:
        """Known dollars of the whole run, earlier segments included."""
        return self.usd + self.earlier_usd

    @property
    def spent(self) -> bool:
        return self.budget is not None and self.total_usd > self.budget

    def _before(self) -> str:
        if not self.earlier_usd:
            return ""
        return f", {format_usd(self.earlier_usd)} of it before the last resume"

    def check(self) -> None:
        """After a call: ``BudgetExceeded`` once the run has spent more than its budget."""
        if self.spent:
            raise BudgetExceeded(
                f"the run's cost budget is spent ({format_usd(self.total_usd)} > "
                f"{_budget(self.budget or 0.0)}{self._before()}): {_fix()}",
                budget="cost",
            )

    def reserve(self, estimate: float | None, request: ModelRequest) -> float:
        """Before a call: refuse it when the run is past its budget, or when its estimate on
        top of what is spent and in flight would be; else hold the estimate until it ends.
        Returns what was held (give it to ``release``)."""
        held = estimate or 0.0
        with self._lock:
            if self.budget is None:
                return 0.0
            self.check()
            if self.total_usd + self.reserved + held > self.budget:
                in_flight = f" and {format_usd(self.reserved)} in flight" if self.reserved else ""
                raise BudgetExceeded(
                    f"the next call to {request.model} would cost at "
                    f"least {format_usd(held)}, and the run has spent "
                    f"{format_usd(self.total_usd)}{self._before()}{in_flight} of its cost budget "
                    f"{_budget(self.budget or 0.0)}; the call was not sent: {_fix()}",
                    budget="cost",
                )
            self.reserved += held
        return held

    def release(self, held: float) -> None:
        with self._lock:
            self.reserved = max(0.0, self.reserved - held)

    def summary(self) -> str:
        """``$0.0123``, ``$0.0123 + 2 calls of unknown cost``, ``unknown`` or ``$0.0000``."""
        return cost_summary(self.usd, self.unknown_calls, self.calls)


class CostBudgetProvider:
    """Wraps the run's provider: prices every answer (``meta["cost_usd"]``, ``None`` for
    unknown) and refuses, before sending, a call the meter's budget cannot pay for."""

    def __init__(self, inner: Provider, meter: CostMeter) -> None:
        self.inner = inner
        self.meter = meter
        self.name: str = inner.name
        self.vendor = default_vendor_of(inner)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        # Without a budget nothing is refused: no estimate to make.
        estimate = estimate_cost(request, self.vendor) if self.meter.budget is not None else None
        held = self.meter.reserve(estimate, request)
        try:
            response = await self.inner.complete(request)
        finally:
            self.meter.release(held)
        cost = self.meter.add(response, request.model, self.vendor)
        return replace(response, meta={**response.meta, "cost_usd": cost})

    async def aclose(self) -> None:
        await self.inner.aclose()


__all__ = [
    "CostBudgetProvider",
    "CostMeter",
    "call_cost",
    "cost_summary",
    "default_vendor_of",
    "estimate_cost",
    "format_usd",
    "response_cost",
    "short_cost",
]

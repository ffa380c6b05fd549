"""Dollar costs from the genai-prices table, the run's cost meter and the cost budget."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from nbworkflow.agents.base import ModelResponse
from nbworkflow.agents.prices import (
    CostMeter,
    call_cost,
    format_usd,
    response_cost,
)
from nbworkflow.exceptions import BudgetExceeded


def table(provider: str, model: str, inp: int, out: int) -> float:
    usage = Usage(input_tokens=inp, output_tokens=out)
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


@pytest.mark.parametrize(
    ("vendor", "model", "provider"),
    [
        ("openai", "gpt-4.1-mini", "openai"),
        ("openai", "gpt-4.1-mini-2025-04-14", "openai"),
        ("anthropic", "claude-sonnet-4-5", "anthropic"),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "aws"),
        ("vertex", "claude-sonnet-4-5@20250929", "google"),
    ],
)
def test_known_models_cost_what_the_table_says(vendor: str, model: str, provider: str) -> None:
    cost = call_cost(vendor, model, 1200, 300)
    assert cost is not None and cost > 0
    assert cost == pytest.approx(table(provider, model, 1200, 300))


def test_unknown_models_cost_unknown_and_local_ones_nothing() -> None:
    assert call_cost("openai", "no-such-model-xyz", 10, 10) is None
    assert call_cost("openai-compatible", "my-finetune", 10, 10) is None
    assert call_cost(None, "", 10, 10) is None
    assert call_cost("ollama", "llama3.2", 10_000, 10_000) == 0.0


def test_cache_reads_are_cheaper_than_fresh_input() -> None:
    fresh = call_cost("anthropic", "claude-sonnet-4-5", 10_000, 0)
    cached = call_cost("anthropic", "claude-sonnet-4-5", 0, 0, cache_read_tokens=10_000)
    assert fresh is not None and cached is not None and 0 < cached < fresh


def test_prices_work_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    # A model not looked up before in this process, so nothing comes from a cache.
    assert call_cost("openai", "gpt-4o-mini", 1000, 1000) == pytest.approx(
        table("openai", "gpt-4o-mini", 1000, 1000)
    )


def test_response_cost_prefers_who_answered_then_what_was_asked() -> None:
    answered = ModelResponse("x", 1000, 100, model="gpt-4.1-mini-2025-04-14", meta={})
    assert response_cost(answered, "openai:gpt-4.1-mini") == pytest.approx(
        table("openai", "gpt-4.1-mini", 1000, 100)
    )
    # An old cassette: no vendor recorded, a bare model; the default vendor prices it.
    old = ModelResponse("x", 1000, 100, model="claude-sonnet-4-5", meta={"replayed": True})
    assert response_cost(old, "claude-sonnet-4-5") == pytest.approx(
        table("anthropic", "claude-sonnet-4-5", 1000, 100)
    )
    odd = ModelResponse("x", 1000, 100, model="loopback", meta={"vendor": "openai"})
    assert response_cost(odd, "openai:gpt-4.1-mini") == pytest.approx(
        table("openai", "gpt-4.1-mini", 1000, 100)
    )
    assert response_cost(ModelResponse("x", 1, 1, model="mystery"), "mystery") is None


def test_meter_sums_known_counts_unknown_and_enforces_the_budget() -> None:
    meter = CostMeter(budget=0.001)
    known = ModelResponse("x", 1000, 100, model="gpt-4.1-mini", meta={"vendor": "openai"})
    unknown = ModelResponse("x", 1000, 100, model="mystery", meta={"vendor": "openai"})
    assert meter.summary() == "$0.0000"
    assert meter.add(unknown) is None
    assert meter.summary() == "unknown"
    first = meter.add(known)
    assert first is not None and meter.usd == pytest.approx(first)
    assert meter.summary() == f"{format_usd(first)} + 1 call of unknown cost"
    meter.check()  # still under the budget
    while not meter.spent:
        meter.add(known)
    with pytest.raises(BudgetExceeded, match=r"cost budget is spent \(\$0\.00\d+ > \$0\.001\)"):
        meter.check()
    assert format_usd(2.5) == "$2.50" and format_usd(None) == "unknown"

"""Helpers shared by the vendor providers' tests: one request, one call, one structured call."""

from __future__ import annotations

from typing import Any

from nbworkflow.agents.base import Message, ModelRequest
from nbworkflow.agents.structured import call_structured


def make_request(default_model: str, **kwargs: Any) -> ModelRequest:
    """The request every provider test sends unless it says otherwise."""
    base: dict[str, Any] = {
        "node_id": "n1",
        "model": default_model,
        "system": "You are a Systems Analyst.",
        "messages": (Message("user", "# Task\nSay hi"),),
        "max_tokens": 321,
        "temperature": 0.25,
    }
    base.update(kwargs)
    return ModelRequest(**base)


async def complete(provider: Any, req: ModelRequest) -> Any:
    """One call, then the provider closed (its SDK client holds sockets)."""
    try:
        return await provider.complete(req)
    finally:
        await provider.aclose()


async def structured(provider: Any, req: ModelRequest, fmt: str, **kwargs: Any) -> Any:
    """``call_structured`` with the repairs it asked for: ``(answer, responses, repairs)``."""
    repairs: list[tuple[int, str]] = []
    try:
        answer, responses = await call_structured(
            provider,
            req,
            fmt,
            on_repair=lambda n, problem: repairs.append((n, problem)),
            **kwargs,
        )
    finally:
        await provider.aclose()
    return answer, responses, repairs

"""What a node handler gets (``NodeContext``) and gives back (``NodeOutput``).

The engine schedules; handlers do the work of one node type. A handler talks to the model only
through ``ctx.call_model`` (which validates, repairs, counts tokens and publishes events) and
reports its reasoning through ``ctx.decide``, so every run is auditable the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from ..agents.base import Message, ModelRequest, ModelResponse, Provider
from ..agents.prices import CostBudgetProvider, CostMeter
from ..agents.structured import call_structured
from ..config import NodeSettings, RunOptions, RunSettings, build_settings
from ..events import Decision, ModelCalled, NodeRetrying, RunEvent
from ..exceptions import BudgetExceeded
from ..outputs import NodeOutput
from ..spec import NodeSpec, WorkflowSpec


class TokenMeter:
    """Tokens used by a whole run, shared by its nodes; enforces the optional budget."""

    def __init__(self, budget: int | None = None, earlier: int = 0) -> None:
        self.budget = budget
        self.input_tokens = 0
        self.output_tokens = 0
        self.earlier = earlier
        """Tokens the run's earlier segments used (a resumed run): the budget counts them."""

    @property
    def total(self) -> int:
        """Tokens of this segment (what its summary reports)."""
        return self.input_tokens + self.output_tokens

    def add(self, response: ModelResponse) -> None:
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens

    def check(self) -> None:
        used = self.total + self.earlier
        if self.budget is not None and used > self.budget:
            before = f", {self.earlier} of them before the last resume" if self.earlier else ""
            raise BudgetExceeded(
                f"the run's token budget is spent ({used} > {self.budget} tokens{before}): "
                "raise token_budget in the workflow or --token-budget, or shorten the inputs",
                budget="token",
            )


@dataclass(slots=True)
class RunContext:
    """What every node of one run shares: built once per run by the engine."""

    run_id: str
    spec: WorkflowSpec
    provider: Provider
    publish: Callable[[RunEvent], None]
    sanitize: Callable[[str], str]
    redact_values: Callable[[str], str]
    """Removes only the run's exact secret values: applied to everything sent to the model."""
    save: Callable[[str, str, str, str], str]
    """``save(node_id, fmt, content, suffix) -> path relative to the run folder``."""
    meter: TokenMeter
    settings: RunSettings | None = None
    """The run's merged settings (``config.build_settings``); built from the spec alone when
    a caller gives none."""
    cost: CostMeter = field(default_factory=CostMeter)
    """Dollars the run spent; its budget is the settings' ``cost_budget``."""

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = build_settings(self.spec)
        # One meter per run, whatever runs at once: every call of every node is priced (and
        # refused past the budget) by the one wrapper around the run's provider.
        if self.cost.budget is None:
            self.cost.budget = self.settings.cost_budget
        if isinstance(self.provider, CostBudgetProvider):
            self.cost = self.provider.meter
        else:
            self.provider = CostBudgetProvider(self.provider, self.cost)

    @property
    def options(self) -> RunOptions:
        assert self.settings is not None
        return self.settings.options


@dataclass(slots=True)
class NodeContext:
    """What a handler gets for one node: the node, its upstream outputs, and the run's tools
    (``publish``, ``sanitize``, ``save_artifact``, the provider...) through ``run``."""

    run: RunContext
    node: NodeSpec
    upstream: Mapping[str, NodeOutput]
    """Outputs of every node this one waits for, by id."""
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 1

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def spec(self) -> WorkflowSpec:
        return self.run.spec

    @property
    def provider(self) -> Provider:
        return self.run.provider

    @property
    def meter(self) -> TokenMeter:
        return self.run.meter

    @property
    def options(self) -> RunOptions:
        return self.run.options

    @property
    def settings(self) -> NodeSettings:
        """This node's merged settings: model, limits, sandbox, staging (``nbworkflow.config``)."""
        assert self.run.settings is not None
        return self.run.settings.node(self.node.id)

    def publish(self, event: RunEvent) -> None:
        self.run.publish(event)

    def sanitize(self, text: str) -> str:
        """Redacts secrets; every error text a handler reports must pass through it."""
        return self.run.sanitize(text)

    def save_artifact(self, fmt: str, content: str, suffix: str = "") -> str:
        """Write an artifact of this node; returns its path relative to the run folder."""
        return self.run.save(self.node.id, fmt, content, suffix)

    @property
    def model(self) -> str:
        return self.settings.model

    def request(self, messages: list[Message], *, purpose: str = "answer") -> ModelRequest:
        """The request for one model call. Every text in it loses the run's secret values
        (a ``${TOKEN}`` interpolated into an action or persona never reaches the model);
        nothing else in it is changed."""
        scrub = self.run.redact_values
        return ModelRequest(
            node_id=self.node.id,
            model=self.model,
            system=scrub(system_prompt(self.node)),
            messages=tuple(Message(m.role, scrub(m.content)) for m in messages),
            max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature,
            purpose=purpose,
        )

    async def call_model(
        self,
        messages: list[Message],
        fmt: str,
        *,
        json_schema: dict[str, Any] | None = None,
        purpose: str = "answer",
        max_repairs: int = 2,
    ) -> BaseModel:
        """One validated structured answer (repairing invalid ones), with events and tokens."""
        request = self.request(messages, purpose=purpose)

        def on_call(req: ModelRequest, resp: ModelResponse, seconds: float) -> None:
            self.input_tokens += resp.input_tokens
            self.output_tokens += resp.output_tokens
            self.meter.add(resp)
            self.publish(
                ModelCalled(
                    run_id=self.run_id,
                    node_id=self.node.id,
                    model=resp.model or req.model,
                    input_tokens=resp.input_tokens,
                    output_tokens=resp.output_tokens,
                    duration_s=round(seconds, 4),
                    purpose=req.purpose,
                    retries=int(resp.meta.get("retries", 0)),
                    cached=bool(resp.meta.get("replayed")),
                    cost_usd=resp.meta.get("cost_usd"),
                )
            )
            self.meter.check()
            self.run.cost.check()

        def on_repair(n: int, problem: str) -> None:
            self.decide(
                self.attempts, "repair", f"answer rejected, asking for a repair ({n}): {problem}"
            )

        answer, _ = await call_structured(
            self.provider,
            request,
            fmt,
            json_schema=json_schema,
            max_repairs=max_repairs,
            on_call=on_call,
            on_repair=on_repair,
        )
        return answer

    def decide(self, attempt: int, verdict: str, reason: str, **data: Any) -> None:
        self.decide_with(attempt, verdict, reason, data)

    def decide_with(self, attempt: int, verdict: str, reason: str, data: dict[str, Any]) -> None:
        """``decide`` with its details as one mapping (which may hold ``attempt`` and
        ``reason`` keys of its own, as a decision-log entry does)."""
        self.publish(
            Decision(
                run_id=self.run_id,
                node_id=self.node.id,
                attempt=attempt,
                verdict=verdict,
                reason=self.sanitize(reason),
                data=data,
            )
        )

    def retrying(self, attempt: int, reason: str) -> None:
        self.attempts = attempt
        self.publish(
            NodeRetrying(
                run_id=self.run_id,
                node_id=self.node.id,
                attempt=attempt,
                reason=self.sanitize(reason),
            )
        )


def system_prompt(node: NodeSpec) -> str:
    persona = node.agent.strip() or "Assistant"
    return (
        f"You are a {persona} working as one step of an automated engineering workflow. "
        "Answer with a single JSON object that matches the requested schema."
    )


class NodeHandler(Protocol):
    async def __call__(self, ctx: NodeContext) -> NodeOutput: ...


def elapsed_since(t0: float) -> float:
    return round(time.perf_counter() - t0, 4)


__all__ = [
    "NodeContext",
    "NodeHandler",
    "NodeOutput",
    "RunContext",
    "RunOptions",
    "TokenMeter",
    "system_prompt",
]

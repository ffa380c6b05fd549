"""Fold a stream of run events into the state of every node: what the widget and CLI draw.

Pure and incremental: ``state.apply(event)`` for live views, ``RunState.from_events(events)``
to redraw a finished run from its ``events.jsonl``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .events import (
    Decision,
    ModelCalled,
    NodeCancelled,
    NodeFailed,
    NodeFinished,
    NodeInfo,
    NodeRetrying,
    NodeSkipped,
    NodeStarted,
    NodeStatus,
    NodeWaiting,
    RunEvent,
    RunFinished,
    RunStarted,
    RunStatus,
)


@dataclass(slots=True)
class NodeState:
    """One node as the views draw it."""

    info: NodeInfo
    status: NodeStatus = NodeStatus.PENDING
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    cost_usd: float = 0.0
    """US dollars of the calls whose price is known."""
    unknown_cost_calls: int = 0
    """Calls whose price is unknown (a model the price table does not know): not in ``cost_usd``."""
    message: str = ""
    """Failure/skip reason, or the last retry reason."""
    artifact: str | None = None
    preview: str = ""
    cached: bool = False
    restored_from: str | None = None
    """The run this node's output was carried over from (resume)."""
    decisions: tuple[Decision, ...] = ()
    """The node's decision log, in order."""
    waiting: NodeWaiting | None = None
    """While ``status`` is ``WAITING``: what the node asks (code, diff, choices...)."""
    accepted_by: str | None = None
    """Who accepted the output as is although it failed its checks."""

    @property
    def id(self) -> str:
        return self.info.id

    def elapsed(self, now: float) -> float | None:
        if self.duration_s is not None:
            return self.duration_s
        if self.started_at is not None:
            return max(0.0, now - self.started_at)
        return None


@dataclass
class RunState:
    run_id: str = ""
    workflow: str = ""
    provider: str = ""
    resumed_from: str | None = None
    """The run (segment) this one continues, when it is a resume."""
    status: RunStatus = RunStatus.RUNNING
    nodes: dict[str, NodeState] = field(default_factory=dict)
    started_at: float | None = None
    duration_s: float | None = None
    message: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    """Calls to a model (a run without any shows no cost at all)."""
    cost_usd: float = 0.0
    """US dollars of the run's calls whose price is known."""
    unknown_cost_calls: int = 0
    """The run's calls of unknown price (not in ``cost_usd``)."""
    events_seen: int = 0

    @classmethod
    def from_events(cls, events: Iterable[RunEvent]) -> RunState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def waiting(self) -> dict[str, NodeWaiting]:
        """Nodes waiting for a person, by id, with what each asks."""
        return {
            nid: n.waiting
            for nid, n in self.nodes.items()
            if n.status is NodeStatus.WAITING and n.waiting is not None
        }

    def counts(self) -> dict[str, int]:
        """Nodes per status, e.g. ``{"succeeded": 4, "skipped": 1}``."""
        tally = Counter(node.status for node in self.nodes.values())
        return {str(status): n for status, n in tally.items()}

    def apply(self, event: RunEvent) -> None:
        self.events_seen += 1
        if isinstance(event, RunStarted):
            self.run_id, self.workflow, self.provider = event.run_id, event.workflow, event.provider
            self.started_at, self.resumed_from = event.ts, event.resumed_from
            self.nodes = {n.id: NodeState(n) for n in event.nodes}
        elif isinstance(event, RunFinished):
            self.status, self.duration_s, self.message = (
                event.status,
                event.duration_s,
                event.message,
            )
        else:
            node = self.nodes.get(event.node_id)
            if node is not None:
                _APPLY[type(event)](self, node, event)


# One small function per node event, found by the event's class (no isinstance chain).
def _started(run: RunState, node: NodeState, event: NodeStarted) -> None:
    node.status, node.started_at, node.attempts = NodeStatus.RUNNING, event.ts, 1
    node.waiting = None


def _retrying(run: RunState, node: NodeState, event: NodeRetrying) -> None:
    node.status, node.attempts, node.message = NodeStatus.RETRYING, event.attempt, event.reason


def _model_called(run: RunState, node: NodeState, event: ModelCalled) -> None:
    node.input_tokens += event.input_tokens
    node.output_tokens += event.output_tokens
    run.input_tokens += event.input_tokens
    run.output_tokens += event.output_tokens
    node.model_calls += 1
    run.model_calls += 1
    # A price that is no price (a damaged or hand-edited log: NaN, negative) counts as unknown.
    if event.cost_usd is None or not 0 <= event.cost_usd < math.inf:
        node.unknown_cost_calls += 1
        run.unknown_cost_calls += 1
    else:
        node.cost_usd += event.cost_usd
        run.cost_usd += event.cost_usd


def _decision(run: RunState, node: NodeState, event: Decision) -> None:
    node.decisions = (*node.decisions, event)


def _finished(run: RunState, node: NodeState, event: NodeFinished) -> None:
    node.status, node.finished_at = NodeStatus.SUCCEEDED, event.ts
    node.attempts, node.duration_s = event.attempts, event.duration_s
    node.artifact, node.preview, node.cached = event.artifact, event.preview, event.cached
    node.restored_from = event.restored_from
    node.message = "from cache" if event.cached else ""
    if event.restored_from:
        node.message = f"restored from run {event.restored_from}"
    node.accepted_by, node.waiting = event.accepted_by, None
    if event.accepted_by:
        node.message = f"accepted as is by {event.accepted_by} (failed its checks)"


def _failed(run: RunState, node: NodeState, event: NodeFailed) -> None:
    node.status, node.finished_at, node.message = NodeStatus.FAILED, event.ts, event.message
    node.attempts, node.duration_s = event.attempts, event.duration_s


def _skipped(run: RunState, node: NodeState, event: NodeSkipped) -> None:
    node.status, node.message = NodeStatus.SKIPPED, event.reason


def _waiting(run: RunState, node: NodeState, event: NodeWaiting) -> None:
    node.status, node.message, node.waiting = NodeStatus.WAITING, event.reason, event
    node.attempts = max(node.attempts, event.attempt)


def _cancelled(run: RunState, node: NodeState, event: NodeCancelled) -> None:
    node.status, node.message = NodeStatus.CANCELLED, event.reason
    node.duration_s = event.duration_s or None


_APPLY: dict[type, Callable[[RunState, NodeState, Any], None]] = {
    NodeStarted: _started,
    NodeRetrying: _retrying,
    ModelCalled: _model_called,
    Decision: _decision,
    NodeFinished: _finished,
    NodeFailed: _failed,
    NodeSkipped: _skipped,
    NodeWaiting: _waiting,
    NodeCancelled: _cancelled,
}


__all__ = ["NodeState", "RunState"]

"""One run of a workflow: the parts wired together, and what it hands back (``RunResult``).

``Engine`` owns no table and no file format of its own: secrets (``secrets``), the way out for
events (``bus``), scheduling (``scheduler``) and running one node (``runner``) are each their own
room; the run folder's formats are ``runlog``'s and the cache's ``cache``'s. The engine starts
the run, lets the scheduler go, and records how it ended (``RunFinished``, ``run.json``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import events as ev
from ..agents.base import Provider
from ..agents.prices import CostMeter
from ..approval import ApprovalRequest
from ..cache import NodeCache
from ..config import RunSettings, Spent, build_settings
from ..events import RunEvent, RunStatus
from ..exceptions import WorkflowError
from ..nodes.base import NodeHandler, RunContext, TokenMeter
from ..outputs import NodeOutput
from ..runlog import RunWriter
from ..spec import WorkflowSpec
from ..state import RunState
from .bus import EventBus, Subscriber
from .handlers import handlers_for
from .plan import Plan
from .runner import NodeRunner, save_artifact
from .scheduler import Scheduler
from .secrets import RunSecrets


@dataclass
class RunResult:
    """What a finished run hands back: status, outputs by node id, and where its log is."""

    run_id: str
    run_dir: Path
    status: RunStatus
    state: RunState
    outputs: dict[str, NodeOutput] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @property
    def waiting(self) -> dict[str, ApprovalRequest]:
        """Nodes waiting for a person (status ``waiting``), with what each asks: answer with
        ``resume_workflow(run_id, decisions={node_id: HumanDecision(...)})``."""
        return {nid: ApprovalRequest.from_event(e) for nid, e in self.state.waiting().items()}

    def output(self, node_id: str) -> NodeOutput:
        try:
            return self.outputs[node_id]
        except KeyError:
            status = (
                self.state.nodes[node_id].status.value if node_id in self.state.nodes else "unknown"
            )
            raise KeyError(f"node '{node_id}' has no output (status: {status})") from None

    def __repr__(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(self.state.counts().items()))
        return f"<RunResult {self.run_id} {self.status.value}: {counts}>"


class Engine:
    """Runs one workflow once. Use ``arun_workflow`` / ``run_workflow`` rather than this."""

    def __init__(
        self,
        spec: WorkflowSpec,
        provider: Provider,
        *,
        run_id: str,
        writer: RunWriter | None,
        handlers: Mapping[str, NodeHandler] | None = None,
        subscribers: Sequence[Subscriber] = (),
        settings: RunSettings | None = None,
        known_secrets: Iterable[str] = (),
        cache: NodeCache | None = None,
        rerun: Iterable[str] = (),
        reuse: Mapping[str, NodeOutput] | None = None,
        resumed_from: str | None = None,
    ) -> None:
        self.spec = spec
        self.run_id = run_id
        self.writer = writer
        self.settings = settings or build_settings(spec)
        self.plan = Plan.derived(spec)
        self.secrets = RunSecrets(spec, known_secrets)
        self.state = RunState()
        self.bus = EventBus(self.secrets.sanitize, self.state, writer, subscribers)
        before = self.settings.options.spent_before
        self.meter = TokenMeter(self.settings.token_budget, before.tokens if before else 0)
        self.provider_name = str(getattr(provider, "name", type(provider).__name__))
        self.resumed_from = resumed_from
        force: set[str] = set()
        for node_id in rerun:
            if node_id not in self.plan.by_id:
                raise WorkflowError(
                    f"--rerun {node_id}: no such node; nodes: {', '.join(self.plan.by_id)}"
                )
            force |= {node_id} | spec.downstream(node_id)
        context = RunContext(
            run_id,
            spec,
            provider,
            self.bus.publish,
            self.secrets.sanitize,
            self.secrets.redact_values,
            save_artifact(writer),
            self.meter,
            self.settings,
            CostMeter(earlier_usd=before.usd if before else 0.0),
        )
        self.runner = NodeRunner(
            context,
            nodes=self.plan.by_id,
            handlers=handlers_for(spec, handlers),
            writer=writer,
            cache=cache,
            provider_name=self.provider_name,
            force=force,
            reuse=dict(reuse or {}),
            resumed_from=resumed_from,
            cancel_reason=lambda: self.scheduler.cancel_reason,
        )
        self.scheduler = Scheduler(
            self.plan,
            run_id=run_id,
            limit=self.settings.max_concurrency,
            fail_fast=self.settings.fail_fast,
            run_node=self.runner,
            state=self.state,
            publish=self.bus.publish,
        )

    @property
    def outputs(self) -> dict[str, NodeOutput]:
        return self.runner.outputs

    def publish(self, event: RunEvent) -> None:
        self.bus.publish(event)

    async def run(self) -> RunResult:
        spec = self.spec
        t0 = time.perf_counter()
        self.publish(
            ev.RunStarted(
                run_id=self.run_id,
                workflow=spec.name,
                nodes=self.secrets.node_infos(self.plan.infos),
                provider=self.provider_name,
                model=self.settings.model,
                resumed_from=self.resumed_from,
                spec_file=None
                if spec.source_file.startswith("<")
                else str(Path(spec.source_file).resolve()),
            )
        )
        sched = self.scheduler
        try:
            await sched.run()
        except asyncio.CancelledError:
            self._finish(t0, RunStatus.CANCELLED, "run cancelled")
            raise
        message = sched.stop_reason
        if sched.failures or sched.stop_reason:
            status = RunStatus.FAILED
        elif sched.on_hold:
            status = RunStatus.WAITING
            asks = {w.request for w in self.state.waiting().values()}
            what = "approval" if asks <= {"approve", "approval"} else "a human decision"
            message = f"waiting for {what} at: {', '.join(sched.on_hold)}"
        else:
            status = RunStatus.SUCCEEDED
        return self._finish(t0, status, message)

    def _finish(self, t0: float, status: RunStatus, message: str) -> RunResult:
        finished = self.scheduler.finished
        for node_id in (n for n in self.plan.order if n not in finished):  # say why
            self.publish(
                ev.NodeCancelled(
                    run_id=self.run_id, node_id=node_id, reason=f"{message} before it started"
                )
                if status is RunStatus.CANCELLED
                else ev.NodeSkipped(run_id=self.run_id, node_id=node_id, reason=message)
            )
        self.publish(
            ev.RunFinished(
                run_id=self.run_id,
                status=status,
                duration_s=round(time.perf_counter() - t0, 4),
                counts=self.state.counts(),
                input_tokens=self.meter.input_tokens,
                output_tokens=self.meter.output_tokens,
                cost_usd=round(self.state.cost_usd, 9),
                unknown_cost_calls=self.state.unknown_cost_calls,
                message=message,
            )
        )
        if self.writer is not None:
            self.writer.write_summary(
                run_summary(
                    self.state,
                    self.spec.name,
                    self.settings.cost_budget,
                    self.settings.options.spent_before,
                )
            )
        return RunResult(
            self.run_id,
            self.writer.run_dir if self.writer else Path(),
            status,
            self.state,
            self.outputs,
        )


def run_summary(
    state: RunState,
    workflow: str,
    cost_budget: float | None = None,
    spent_before: Spent | None = None,
) -> dict[str, Any]:
    """``run.json``: how the run ended, per node, with what it cost and its dollar budget
    (and, for a resumed run, what its earlier segments used: its budgets counted that too)."""
    before = (
        {
            "spent_before": {
                "input_tokens": spent_before.input_tokens,
                "output_tokens": spent_before.output_tokens,
                "cost_usd": round(spent_before.usd, 9),
                "segments": spent_before.segments,
            }
        }
        if spent_before is not None
        else {}
    )
    return {
        "run_id": state.run_id,
        "workflow": workflow,
        "resumed_from": state.resumed_from,  # listing runs groups segments without the events
        "provider": state.provider,
        "status": state.status.value,
        "started_at": state.started_at,
        "duration_s": state.duration_s,
        "input_tokens": state.input_tokens,
        "output_tokens": state.output_tokens,
        "cost_usd": round(state.cost_usd, 9),
        "unknown_cost_calls": state.unknown_cost_calls,
        "cost_budget": cost_budget,
        **before,
        "message": state.message,
        "nodes": {
            nid: {
                "status": n.status.value,
                "attempts": n.attempts,
                "duration_s": n.duration_s,
                "input_tokens": n.input_tokens,
                "output_tokens": n.output_tokens,
                "cost_usd": round(n.cost_usd, 9),
                "unknown_cost_calls": n.unknown_cost_calls,
                "artifact": n.artifact,
                "message": n.message,
                "cached": n.cached,
                "restored_from": n.restored_from,
            }
            for nid, n in state.nodes.items()
        },
    }


__all__ = ["Engine", "RunResult", "run_summary"]

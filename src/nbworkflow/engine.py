"""The async ready-queue scheduler.

A node starts as soon as its own dependencies have succeeded (not when a whole "layer" is done),
bounded by ``max_concurrency``. A failed node skips its downstream nodes, with the reason, while
unrelated branches go on; ``fail_fast`` stops everything instead. Cancelling the run cancels
running nodes promptly and records them as cancelled. A node that needs a person's decision
nobody can give now (``approval.WaitingForHuman``) is recorded as *waiting*, its downstream is
skipped with that reason (not failed), and the run ends cleanly with status ``waiting``.

Tasks: up to ``max_concurrency`` asyncio tasks run nodes. A task that finishes a node goes on
with the next ready one (the ready queue is FIFO) instead of ending, so a chain, or a fan-out
wider than ``max_concurrency``, costs one task per slot rather than one per node; after ``HOPS``
nodes in a row the next one gets a fresh task, so instant nodes never starve the event loop.
Everything that depends only on the spec (order, children, the nodes' static info) is derived
once per spec (``WorkflowSpec.derived``). ``bench/engine.py`` measures the cost per node.

The engine publishes typed events and never knows who listens: the run log is written first,
then every subscriber is called in order. Every event passes the run's sanitizer on its way out,
so no subscriber (widget, CLI, log) can see a secret a handler forgot to redact.
"""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import events as ev
from .agents.base import Provider
from .approval import ApprovalRequest, Approver, DecisionsApprover, HumanDecision, WaitingForHuman
from .cache import CACHE_DIRNAME, NodeCache, node_key
from .events import NodeInfo, NodeStatus, RunEvent, RunStatus
from .exceptions import BudgetExceeded, WorkflowError
from .nodes.base import (
    NodeContext,
    NodeHandler,
    NodeOutput,
    RunContext,
    RunOptions,
    TokenMeter,
)
from .runlog import DEFAULT_ROOT, RunWriter, new_run_id
from .sanitize import redact_values as _redact_values
from .sanitize import sanitize as _sanitize
from .sanitize import value_redactor
from .spec import NodeSpec, WorkflowSpec, load_workflow
from .state import RunState

Subscriber = Callable[[RunEvent], None]
HOPS = 64
"""Nodes one task may run in a row before the next ready node gets a task of its own."""
PREVIEW_CHARS = 400


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


def default_handlers() -> dict[str, NodeHandler]:
    from .approval import run_approval
    from .nodes.adaptive import run_adaptive
    from .nodes.routine import run_routine

    return {"routine": run_routine, "adaptive": run_adaptive, "approval": run_approval}


def _handlers_for(
    spec: WorkflowSpec, handlers: Mapping[str, NodeHandler] | None
) -> dict[str, NodeHandler]:
    found = dict(handlers or default_handlers())
    missing = sorted({n.type for n in spec.nodes} - set(found))
    if missing:
        raise WorkflowError(
            f"no handler for node type(s) {', '.join(missing)}: pass handlers= for them"
        )
    return found


def secret_values(spec: WorkflowSpec, extra: Iterable[str] = ()) -> list[str]:
    """Values to redact by exact match: the spec's ``secrets:`` env vars, secret-looking
    interpolated ``${VAR}`` values, and whatever the caller registers."""
    from .sanitize import is_secret_name

    values = [os.environ[name] for name in spec.secrets if os.environ.get(name)]
    values += [v for k, v in spec.variables.items() if k in spec.secrets or is_secret_name(k)]
    values += list(extra)
    return [v for v in dict.fromkeys(values) if v]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the scheduler derives from a spec, once per spec (``WorkflowSpec.derived``)."""

    order: tuple[str, ...]
    roots: tuple[str, ...]
    children: dict[str, tuple[str, ...]]
    indegree: dict[str, int]
    by_id: dict[str, NodeSpec]
    infos: tuple[NodeInfo, ...]
    """Every node's static part, in ``order``, for ``RunStarted``."""

    @classmethod
    def of(cls, spec: WorkflowSpec) -> _Plan:
        order = tuple(spec.topological_order())
        children: dict[str, list[str]] = {nid: [] for nid in order}
        for node in spec.nodes:
            for up in node.upstream:
                children[up].append(node.id)
        by_id = {n.id: n for n in spec.nodes}
        return cls(
            order=order,
            roots=tuple(nid for nid in order if not by_id[nid].upstream),
            children={nid: tuple(c) for nid, c in children.items()},
            indegree={nid: len(by_id[nid].upstream) for nid in order},
            by_id=by_id,
            infos=tuple(
                NodeInfo(
                    id=n.id,
                    type=n.type,
                    agent=n.agent,
                    action=n.action,
                    depends_on=n.upstream,
                    max_retries=n.max_retries,
                )
                for n in (by_id[i] for i in order)
            ),
        )


class Engine:
    """Runs one workflow once. Use ``arun_workflow`` / ``run_workflow`` rather than this."""

    def __init__(
        self,
        spec: WorkflowSpec,
        provider: Provider,
        *,
        run_id: str,
        writer: RunWriter | None,
        subscribers: Sequence[Subscriber] = (),
        handlers: Mapping[str, NodeHandler] | None = None,
        max_concurrency: int | None = None,
        fail_fast: bool | None = None,
        known_secrets: Iterable[str] = (),
        token_budget: int | None = None,
        options: RunOptions | None = None,
        cache: NodeCache | None = None,
        rerun: Iterable[str] = (),
        reuse: Mapping[str, NodeOutput] | None = None,
        resumed_from: str | None = None,
    ) -> None:
        self.spec = spec
        self.provider = provider
        self.run_id = run_id
        self.writer = writer
        self.subscribers = list(subscribers)
        self.handlers = _handlers_for(spec, handlers)
        self.max_concurrency = max_concurrency or spec.max_concurrency
        self.fail_fast = spec.fail_fast if fail_fast is None else fail_fast
        self.secrets = secret_values(spec, known_secrets)
        self.meter = TokenMeter(token_budget if token_budget is not None else spec.token_budget)
        self.options = options or RunOptions()
        self.state = RunState()
        self.outputs: dict[str, NodeOutput] = {}
        self._bad_subscribers: set[int] = set()
        self._cancel_reason = "run cancelled"
        self._plan: _Plan = spec.derived("engine.plan", _Plan.of)
        self._nodes = self._plan.by_id
        self.cache = cache
        self.force: set[str] = set()
        for node_id in rerun:
            if node_id not in self._nodes:
                raise WorkflowError(
                    f"--rerun {node_id}: no such node; nodes: {', '.join(self._nodes)}"
                )
            self.force |= {node_id} | spec.downstream(node_id)
        self.reuse = dict(reuse or {})
        self.resumed_from = resumed_from
        self.provider_name = str(getattr(provider, "name", type(provider).__name__))
        self._run_ctx = RunContext(
            run_id,
            spec,
            provider,
            self.publish,
            self.sanitize,
            self.redact_values,
            self._save,
            self.meter,
            self.options,
        )

    # -- events ----------------------------------------------------------------------------
    def sanitize(self, text: str) -> str:
        return _sanitize(text, self.secrets)

    def redact_values(self, text: str) -> str:
        return _redact_values(text, self.secrets)

    def publish(self, event: RunEvent) -> None:
        if type(event) in _REDACTED:
            event = _redact_event(event, self.sanitize)
        self.state.apply(event)
        if self.writer is not None:
            self.writer.append(event)
        if self.subscribers:
            self._notify(event)

    def _notify(self, event: RunEvent) -> None:
        for i, subscriber in enumerate(self.subscribers):
            try:
                subscriber(event)
            except Exception as exc:  # a broken view must not break the run
                if i not in self._bad_subscribers:
                    self._bad_subscribers.add(i)
                    warnings.warn(
                        self.sanitize(f"event subscriber {subscriber!r} failed: {exc!r}"),
                        RuntimeWarning,
                        stacklevel=2,
                    )

    # -- scheduling ------------------------------------------------------------------------
    async def run(self) -> RunResult:
        spec, plan = self.spec, self._plan
        order, children = plan.order, plan.children
        waiting = dict(plan.indegree)  # per node: dependencies not yet succeeded

        t0 = time.perf_counter()
        self.publish(
            ev.RunStarted(
                run_id=self.run_id,
                workflow=spec.name,
                nodes=self._node_infos(plan.infos),
                provider=self.provider_name,
                model=spec.model,
                resumed_from=self.resumed_from,
                spec_file=None
                if spec.source_file.startswith("<")
                else str(Path(spec.source_file).resolve()),
            )
        )
        loop = asyncio.get_running_loop()
        all_done: asyncio.Future[None] = loop.create_future()
        limit = self.max_concurrency
        running: dict[str, asyncio.Task[None]] = {}
        ready: deque[str] = deque()  # runnable, waiting for a task (max_concurrency)
        finished: set[str] = set()
        on_hold: list[str] = []  # nodes waiting for a person
        failures = 0  # nodes that failed or were cancelled (their downstream is skipped)
        stop_reason = ""

        def start(node_id: str) -> None:
            running[node_id] = loop.create_task(node_task(node_id), name=f"node:{node_id}")

        async def node_task(node_id: str | None) -> None:
            # A task runs its node, then goes on with the next ready node, if any: a chain of
            # nodes costs one task and no extra trip through the event loop per node. After
            # HOPS nodes in a row the next one gets a fresh task, so the loop is never starved.
            hops = 0
            while node_id is not None:
                if stop_reason:  # the run stopped before this node began: it stays pending
                    del running[node_id]
                    settle()
                    return
                error: BaseException | None = None
                try:
                    await self._run_node(node_id)
                except BaseException as exc:  # recorded as an event by _run_node already
                    error = exc
                hops += 1
                node_id = on_done(node_id, error, go_on=hops < HOPS)

        def on_done(node_id: str, error: BaseException | None, go_on: bool) -> str | None:
            """Settle a node; returns the node its task runs next (or None: the task ends)."""
            nonlocal stop_reason, failures
            task = running.pop(node_id)
            finished.add(node_id)
            if error is None:
                for child in children[node_id]:
                    waiting[child] -= 1
                    if waiting[child] == 0 and child not in finished and not stop_reason:
                        ready.append(child)
            elif isinstance(error, WaitingForHuman):
                on_hold.append(node_id)
                skip_downstream(node_id, f"waiting for a human at '{node_id}'")
            else:
                failures += 1
                # A cancelled node's downstream is settled by _finish (cancelled or skipped).
                if not isinstance(error, asyncio.CancelledError):
                    status = self.state.nodes[node_id].status
                    skip_downstream(node_id, f"upstream node '{node_id}' {status.value}")
                    stop = self.fail_fast or isinstance(error, BudgetExceeded)
                    if stop and not stop_reason:
                        budget = isinstance(error, BudgetExceeded)
                        why = "token budget spent" if budget else "fail_fast"
                        stop_reason = f"{why}: run stopped after '{node_id}' failed"
                        self._cancel_reason = stop_reason
                        cancel_begun()
            if stop_reason:
                ready.clear()  # never started: _finish records them as skipped
            next_node = None
            if ready and go_on and error is None:
                next_node = ready.popleft()
                running[next_node] = task
                task.set_name(f"node:{next_node}")
            while ready and len(running) < limit:
                start(ready.popleft())
            settle()
            return next_node

        def settle() -> None:
            if not running and not all_done.done():
                all_done.set_result(None)

        def cancel_begun() -> None:
            # Only tasks whose node began (published NodeStarted: a task can only be suspended
            # after that). A task cancelled before its first step never runs its code, so it
            # could not report back; an unbegun task sees stop_reason instead and leaves.
            for node_id, task in running.items():
                if self.state.nodes[node_id].status is not NodeStatus.PENDING:
                    task.cancel()

        def skip_downstream(failed: str, reason: str) -> None:
            stack = list(children[failed])
            while stack:
                child = stack.pop()
                if child in finished or child in running:
                    continue
                finished.add(child)
                self.publish(
                    ev.NodeSkipped(
                        run_id=self.run_id, node_id=child, reason=reason, blocked_by=failed
                    )
                )
                stack.extend(children[child])

        ready.extend(plan.roots)
        while ready and len(running) < limit:
            start(ready.popleft())
        try:
            await all_done
        except asyncio.CancelledError:
            self._cancel_reason = stop_reason = "run cancelled"
            ready.clear()
            tasks = list(running.values())
            cancel_begun()
            # Shielded: a second Ctrl-C must not leave node tasks unrecorded.
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            self._finish(order, finished, t0, RunStatus.CANCELLED, "run cancelled")
            raise
        message = stop_reason
        if failures or stop_reason:
            status = RunStatus.FAILED
        elif on_hold:
            status = RunStatus.WAITING
            asks = {w.request for w in self.state.waiting().values()}
            what = "approval" if asks <= {"approve", "approval"} else "a human decision"
            message = f"waiting for {what} at: {', '.join(on_hold)}"
        else:
            status = RunStatus.SUCCEEDED
        return self._finish(order, finished, t0, status, message)

    def _node_infos(self, infos: tuple[NodeInfo, ...]) -> tuple[NodeInfo, ...]:
        """The nodes as ``RunStarted`` shows them (log, widget): a secret value interpolated
        into a persona or an action is removed there too."""
        scrub = value_redactor(self.secrets)
        if scrub is None:
            return infos
        return tuple(
            info
            if scrub(info.agent) == info.agent and scrub(info.action) == info.action
            else replace(info, agent=scrub(info.agent), action=scrub(info.action))
            for info in infos
        )

    def _finish(
        self,
        order: Sequence[str],
        finished: set[str],
        t0: float,
        status: RunStatus,
        message: str,
    ) -> RunResult:
        if len(finished) < len(order):  # some never started: say why
            for node_id in (n for n in order if n not in finished):
                self.publish(
                    ev.NodeCancelled(
                        run_id=self.run_id, node_id=node_id, reason=f"{message} before it started"
                    )
                    if status is RunStatus.CANCELLED
                    else ev.NodeSkipped(run_id=self.run_id, node_id=node_id, reason=message)
                )
        duration = round(time.perf_counter() - t0, 4)
        self.publish(
            ev.RunFinished(
                run_id=self.run_id,
                status=status,
                duration_s=duration,
                counts=self.state.counts(),
                input_tokens=self.meter.input_tokens,
                output_tokens=self.meter.output_tokens,
                message=message,
            )
        )
        if self.writer is not None:
            self.writer.write_summary(_summary(self.state, self.spec))
        return RunResult(
            self.run_id,
            self.writer.run_dir if self.writer else Path(),
            status,
            self.state,
            self.outputs,
        )

    async def _run_node(self, node_id: str) -> None:
        node = self._nodes[node_id]
        handler = self.handlers[node.type]
        ctx = NodeContext(self._run_ctx, node, {up: self.outputs[up] for up in node.upstream})
        self.publish(ev.NodeStarted(run_id=self.run_id, node_id=node_id))
        t0 = time.perf_counter()
        key = None
        if self.cache is not None and node.cacheable and node_id not in self.force:
            key = node_key(self.spec, node, self.provider_name, ctx.upstream)
        if (key is not None or node_id in self.reuse) and self._reused(ctx, key, t0):
            return
        try:
            if node.timeout is None:
                output = await handler(ctx)
            else:
                async with asyncio.timeout(node.timeout):
                    output = await handler(ctx)
        except WaitingForHuman as waiting:
            self.publish(waiting.request.to_event(waiting.data))
            raise
        except asyncio.CancelledError:
            self.publish(
                ev.NodeCancelled(
                    run_id=self.run_id,
                    node_id=node_id,
                    reason=self._cancel_reason,
                    duration_s=round(time.perf_counter() - t0, 4),
                )
            )
            raise
        except Exception as exc:
            message = str(exc)
            if isinstance(exc, TimeoutError) and node.timeout is not None:
                message = (
                    f"timed out after {node.timeout:g}s: raise the node's 'timeout' "
                    f"({self.spec.where(node_id)})"
                )
            if not isinstance(exc, (WorkflowError, TimeoutError)):
                message = f"{type(exc).__name__}: {exc}"
            self.publish(
                ev.NodeFailed(
                    run_id=self.run_id,
                    node_id=node_id,
                    error_type=type(exc).__name__,
                    message=message,
                    attempts=ctx.attempts,
                    duration_s=round(time.perf_counter() - t0, 4),
                    input_tokens=ctx.input_tokens,
                    output_tokens=ctx.output_tokens,
                )
            )
            if not isinstance(exc, (WorkflowError, TimeoutError, OSError)):
                # Our own bug (or a handler's): say so loudly, but through the sanitizer too.
                warnings.warn(
                    self.sanitize(f"node '{node_id}' crashed: {exc!r}"),
                    RuntimeWarning,
                    stacklevel=1,
                )
            raise
        self.outputs[node_id] = output
        if self.cache is not None and node.cacheable:
            key = key or node_key(self.spec, node, self.provider_name, ctx.upstream)
            self.cache.put(key, node_id, output, self.run_id)
        self._node_finished(ctx, output, t0)

    def _reused(self, ctx: NodeContext, key: str | None, t0: float) -> bool:
        """Finish a node from a resumed run or the cache, if possible; True when it was."""
        node_id = ctx.node.id
        how: dict[str, Any]
        if node_id in self.reuse:
            output = self.reuse[node_id]
            ctx.decide(1, "restored", f"output restored from run {self.resumed_from}")
            how = {"restored_from": self.resumed_from or "an earlier run"}
        elif key is not None and (entry := self.cache.get(key) if self.cache else None):
            output = entry.output
            ctx.decide(
                1, "cached", f"output from the node cache (made by run {entry.run_id})", key=key
            )
            how = {"cached": True}
        else:
            return False
        self.outputs[node_id] = output
        self._node_finished(ctx, replace(output, meta={**output.meta, **how}), t0)
        return True

    def _node_finished(self, ctx: NodeContext, output: NodeOutput, t0: float) -> None:
        node_id = ctx.node.id
        artifact = None
        if self.writer is not None:
            artifact = self.writer.write_artifact(node_id, output.format, output.content)
        meta = output.meta
        self.publish(
            ev.NodeFinished(
                run_id=self.run_id,
                node_id=node_id,
                attempts=ctx.attempts,
                duration_s=round(time.perf_counter() - t0, 4),
                artifact=artifact,
                preview=output.content[:PREVIEW_CHARS],
                input_tokens=ctx.input_tokens,
                output_tokens=ctx.output_tokens,
                cached=bool(meta.get("cached")) if meta else False,
                accepted_by=meta.get("accepted_by") if meta else None,
                restored_from=meta.get("restored_from") if meta else None,
            )
        )

    def _save(self, node_id: str, fmt: str, content: str, suffix: str) -> str:
        if self.writer is None:
            return ""
        return self.writer.write_artifact(node_id, fmt, content, suffix=suffix)


# Free-text fields per event class: computed once, so events without any cost nothing here.
_FREE_TEXT = (
    "reason",
    "message",
    "preview",
    "code",
    "diff",
    "target",
    "payloads",
    "rationale",
    "accepted_by",
    "request",
    "code_sha256",
)
_NESTED = ("data", "log")
"""Free-form containers (``Decision.data``, ``NodeWaiting.log``...): every string inside."""
_EVENT_FIELDS = {
    cls: {f.name for f in fields(cls)} for cls in (ev.RunStarted, ev.RunFinished, *ev.NODE_EVENTS)
}
_TEXT_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f for f in _FREE_TEXT if f in names) for cls, names in _EVENT_FIELDS.items()
}
_NESTED_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f for f in _NESTED if f in names) for cls, names in _EVENT_FIELDS.items()
}
_REDACTED = frozenset(cls for cls in _TEXT_FIELDS if _TEXT_FIELDS[cls] or _NESTED_FIELDS[cls])
"""Event classes with anything to redact (``NodeStarted`` has nothing: it skips the work)."""


def _redact_event(event: RunEvent, sanitize: Callable[[str], str]) -> RunEvent:
    """Pass every free-text field of an event through the sanitizer (the one way out)."""
    cls = type(event)
    updates: dict[str, Any] = {}
    for name in _TEXT_FIELDS[cls]:
        value = getattr(event, name)
        if value and (clean := sanitize(value)) != value:
            updates[name] = clean
    for name in _NESTED_FIELDS[cls]:
        value = getattr(event, name)
        if value and (clean := _redact_value(value, sanitize)) != value:
            updates[name] = clean
    return replace(event, **updates) if updates else event


def _redact_value(value: Any, sanitize: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, sanitize) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, sanitize) for v in value]
    return value


def _summary(state: RunState, spec: WorkflowSpec) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "workflow": spec.name,
        "provider": state.provider,
        "status": state.status.value,
        "started_at": state.started_at,
        "duration_s": state.duration_s,
        "input_tokens": state.input_tokens,
        "output_tokens": state.output_tokens,
        "message": state.message,
        "nodes": {
            nid: {
                "status": n.status.value,
                "attempts": n.attempts,
                "duration_s": n.duration_s,
                "input_tokens": n.input_tokens,
                "output_tokens": n.output_tokens,
                "artifact": n.artifact,
                "message": n.message,
                "cached": n.cached,
                "restored_from": n.restored_from,
            }
            for nid, n in state.nodes.items()
        },
    }


async def arun_workflow(
    spec: WorkflowSpec | str | os.PathLike[str],
    *,
    provider: Provider | str | None = None,
    provider_options: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    runs_dir: str | os.PathLike[str] | None = DEFAULT_ROOT,
    subscribers: Sequence[Subscriber] = (),
    max_concurrency: int | None = None,
    fail_fast: bool | None = None,
    known_secrets: Iterable[str] = (),
    token_budget: int | None = None,
    handlers: Mapping[str, NodeHandler] | None = None,
    options: RunOptions | None = None,
    run_id: str | None = None,
    cache: bool | str | os.PathLike[str] | NodeCache = True,
    rerun: Iterable[str] = (),
    reuse: Mapping[str, NodeOutput] | None = None,
    resumed_from: str | None = None,
    approver: Approver | None = None,
    decisions: Mapping[str, HumanDecision] | None = None,
) -> RunResult:
    """Run a workflow and return its ``RunResult``; see ``run_workflow`` for the arguments.

    Cancelling the awaiting task cancels every running node, records the run as cancelled, and
    re-raises ``CancelledError``.
    """
    if not isinstance(spec, WorkflowSpec):
        spec = load_workflow(spec, variables=variables)
    from .agents import resolve_provider

    if approver is not None or decisions:
        base = options or RunOptions()
        options = replace(base, approver=approver or base.approver)
        if decisions:
            unknown = sorted(set(decisions) - {n.id for n in spec.nodes})
            if unknown:
                raise WorkflowError(
                    f"decisions for unknown node(s) {', '.join(unknown)}; nodes: "
                    + ", ".join(n.id for n in spec.nodes)
                )
            options.approver = DecisionsApprover(decisions, fallback=options.approver)
    handlers = _handlers_for(spec, handlers)  # before anything is written
    prov = resolve_provider(provider, spec=spec, **dict(provider_options or {}))
    writer = None
    if runs_dir is not None:  # the folder is made exclusively: its name is the run's id
        writer = RunWriter.create(Path(runs_dir), spec.name, run_id)
        run_id = writer.run_id
        writer.write_text("workflow.yaml", spec.source_text)
    run_id = run_id or new_run_id(spec.name)
    node_cache: NodeCache | None = None
    if isinstance(cache, NodeCache):
        node_cache = cache
    elif cache is True and runs_dir is not None:
        node_cache = NodeCache(Path(runs_dir) / CACHE_DIRNAME)
    elif cache and not isinstance(cache, bool):
        node_cache = NodeCache(cache)
    engine = Engine(
        spec,
        prov,
        run_id=run_id,
        writer=writer,
        subscribers=subscribers,
        handlers=handlers,
        max_concurrency=max_concurrency,
        fail_fast=fail_fast,
        known_secrets=known_secrets,
        token_budget=token_budget,
        options=options,
        cache=node_cache,
        rerun=rerun,
        reuse=reuse,
        resumed_from=resumed_from,
    )
    try:
        return await engine.run()
    finally:
        if writer is not None:
            writer.close()
        if provider is None or isinstance(provider, str):
            await prov.aclose()


def run_workflow(spec: WorkflowSpec | str | os.PathLike[str], **kwargs: Any) -> RunResult:
    """Run a workflow to the end and return its ``RunResult`` (sync wrapper for scripts).

    Arguments: ``provider`` (a Provider, or ``"scripted"``/``"replay"``/``"anthropic"``/
    ``"auto"``), ``provider_options``, ``variables`` (for ``${VAR}``), ``runs_dir`` (``None``:
    write no run folder), ``subscribers`` (callables receiving every event), ``max_concurrency``,
    ``fail_fast``, ``known_secrets``, ``token_budget``, ``handlers``, ``options``, ``run_id``,
    ``cache`` (``True``: ``<runs_dir>/.cache``; a folder; a ``NodeCache``; ``False``: off),
    ``rerun`` (node ids to run again, with their downstream, despite the cache), ``approver``
    (who answers approval requests, ``nbworkflow.approval``; default: nobody, so nodes that
    need a person wait and the run ends ``waiting``) and ``decisions`` (answers given in
    advance, ``{node_id: HumanDecision(...)}``).
    Called from a thread that already runs an event loop (a notebook), it runs the engine on a
    private loop in a worker thread.
    """
    return run_workflow_sync(arun_workflow(spec, **kwargs))


def run_workflow_sync(coro: Coroutine[Any, Any, RunResult]) -> RunResult:
    """Run ``coro`` to the end, from plain code or from a thread that already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="nbworkflow") as pool:
        return pool.submit(asyncio.run, coro).result()


__all__ = [
    "Engine",
    "RunResult",
    "Subscriber",
    "arun_workflow",
    "run_workflow",
    "run_workflow_sync",
]

"""The async ready-queue scheduler.

A node starts as soon as its own dependencies have succeeded (not when a whole "layer" is done),
bounded by ``limit``. A failed node skips its downstream nodes, with the reason, while unrelated
branches go on; ``fail_fast`` (or a spent token or cost budget) stops everything instead. A node that
needs a person's decision nobody can give now (``WaitingForHuman``) is put on hold and its
downstream is skipped with that reason (not failed).

Tasks: up to ``limit`` asyncio tasks run nodes. A task that finishes a node goes on with the next
ready one (the ready queue is FIFO) instead of ending, so a chain, or a fan-out wider than
``limit``, costs one task per slot rather than one per node; after ``HOPS`` nodes in a row the
next one gets a fresh task, so instant nodes never starve the event loop.

The scheduler knows nodes by id only: running one is ``run_node(node_id)`` (which records its own
events), and whether a node began is read from the run state.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from .. import events as ev
from ..approval import WaitingForHuman
from ..events import NodeStatus, RunEvent
from ..exceptions import BudgetExceeded
from ..state import RunState
from .plan import Plan

HOPS = 64
"""Nodes one task may run in a row before the next ready node gets a task of its own."""


class Scheduler:
    """Runs every node of a plan once, in dependency order; see the module docstring."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        limit: int,
        fail_fast: bool,
        run_node: Callable[[str], Awaitable[None]],
        state: RunState,
        publish: Callable[[RunEvent], None],
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.limit = limit
        self.fail_fast = fail_fast
        self.run_node = run_node
        self.state = state
        self.publish = publish
        self.children = plan.children
        self.waiting = dict(plan.indegree)  # per node: dependencies not yet succeeded
        self.running: dict[str, asyncio.Task[None]] = {}
        self.ready: deque[str] = deque()  # runnable, waiting for a task slot
        self.finished: set[str] = set()
        self.on_hold: list[str] = []
        """Nodes waiting for a person."""
        self.failures = 0
        """Nodes that failed or were cancelled (their downstream is skipped)."""
        self.stop_reason = ""
        self._all_done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def cancel_reason(self) -> str:
        """What a node cancelled now is told (recorded on its ``NodeCancelled``)."""
        return self.stop_reason or "run cancelled"

    async def run(self) -> None:
        """Until every node settled; cancelling it cancels the running nodes (recorded) and
        re-raises."""
        self._loop = loop = asyncio.get_running_loop()
        self._all_done = loop.create_future()
        self.ready.extend(self.plan.roots)
        self._fill()
        self._settle()
        try:
            await self._all_done
        except asyncio.CancelledError:
            self.stop_reason = "run cancelled"
            self.ready.clear()
            tasks = list(self.running.values())
            self._cancel_begun()
            # Shielded: a second Ctrl-C must not leave node tasks unrecorded.
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
            raise

    def _start(self, node_id: str) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._task(node_id), name=f"node:{node_id}")
        self.running[node_id] = task

    def _fill(self) -> None:
        while self.ready and len(self.running) < self.limit:
            self._start(self.ready.popleft())

    async def _task(self, node_id: str | None) -> None:
        # A task runs its node, then goes on with the next ready node, if any: a chain of
        # nodes costs one task and no extra trip through the event loop per node.
        hops = 0
        while node_id is not None:
            if self.stop_reason:  # the run stopped before this node began: it stays pending
                del self.running[node_id]
                self._settle()
                return
            error: BaseException | None = None
            try:
                await self.run_node(node_id)
            except BaseException as exc:  # recorded as an event by run_node already
                error = exc
            hops += 1
            node_id = self._done(node_id, error, go_on=hops < HOPS)

    def _done(self, node_id: str, error: BaseException | None, go_on: bool) -> str | None:
        """Settle a node; returns the node its task runs next (or None: the task ends)."""
        task = self.running.pop(node_id)
        self.finished.add(node_id)
        if error is None:
            waiting, finished, ready = self.waiting, self.finished, self.ready
            for child in self.children[node_id]:
                waiting[child] -= 1
                if waiting[child] == 0 and child not in finished and not self.stop_reason:
                    ready.append(child)
        elif isinstance(error, WaitingForHuman):
            self.on_hold.append(node_id)
            self._skip_downstream(node_id, f"waiting for a human at '{node_id}'")
        else:
            self.failures += 1
            # A cancelled node's downstream is settled at the end (cancelled or skipped).
            if not isinstance(error, asyncio.CancelledError):
                status = self.state.nodes[node_id].status
                self._skip_downstream(node_id, f"upstream node '{node_id}' {status.value}")
                budget = error.budget if isinstance(error, BudgetExceeded) else None
                if (self.fail_fast or budget) and not self.stop_reason:
                    why = f"{budget} budget spent" if budget else "fail_fast"
                    self.stop_reason = f"{why}: run stopped after '{node_id}' failed"
                    self._cancel_begun()
        if self.stop_reason:
            self.ready.clear()  # never started: recorded as skipped at the end
        next_node = None
        if self.ready and go_on and error is None:
            next_node = self.ready.popleft()
            self.running[next_node] = task
            task.set_name(f"node:{next_node}")
        self._fill()
        self._settle()
        return next_node

    def _settle(self) -> None:
        done = self._all_done
        if not self.running and done is not None and not done.done():
            done.set_result(None)

    def _cancel_begun(self) -> None:
        # Only tasks whose node began (published NodeStarted: a task can only be suspended
        # after that). A task cancelled before its first step never runs its code, so it
        # could not report back; an unbegun task sees stop_reason instead and leaves.
        for node_id, task in self.running.items():
            if self.state.nodes[node_id].status is not NodeStatus.PENDING:
                task.cancel()

    def _skip_downstream(self, failed: str, reason: str) -> None:
        stack = list(self.children[failed])
        while stack:
            child = stack.pop()
            if child in self.finished or child in self.running:
                continue
            self.finished.add(child)
            self.publish(
                ev.NodeSkipped(run_id=self.run_id, node_id=child, reason=reason, blocked_by=failed)
            )
            stack.extend(self.children[child])


__all__ = ["HOPS", "Scheduler"]

"""The live view of a batch, and its static rendering for notebooks read without a kernel.

``BatchState`` folds the batch's updates (``nbworkflow.batch``: started, each item's events,
each item done, finished) into counts by status, items per second, the failures and each
item's own ``RunState``; it is pure. ``render_batch_html`` draws a finished (or running) batch
as one HTML fragment with no script: headline, a status bar, the failures with their graphs
(the run's static rendering, ``widgets.static``) and a table of every item with its run folder.

``BatchView`` is the ipywidgets view (imported only when one is built): the same headline, the
failures, and a dropdown that opens any item's graph. Pass it as a watcher
(``run_workflows(..., watchers=[view])``); updates arrive on the batch's loop thread while the
dropdown's callbacks arrive on the kernel's, so both go through one lock, and it redraws at
most every ``interval`` seconds (an update held back is drawn when the interval has passed,
and the last one always).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from ..batch import BatchFinished, BatchStarted, BatchUpdate, ItemDone, ItemEvent, ItemResult
from ..events import RunFinished, RunStarted
from ..state import RunState
from .static import load_artifacts, render_static_html

PENDING, RUNNING = "pending", "running"
_COLOURS = {
    "succeeded": "#16a34a",
    "failed": "#dc2626",
    "error": "#b91c1c",
    "lost": "#7c3aed",
    "waiting": "#d97706",
    "cancelled": "#64748b",
    RUNNING: "#2563eb",
    PENDING: "#cbd5e1",
}
MAX_FAILURE_GRAPHS = 20
"""Failed items whose graph the static rendering embeds (the rest: a line and a folder)."""
MAX_ROWS = 1000
"""Items listed in the static table (a bigger batch lists its first ones and says so)."""


@dataclass
class BatchState:
    """Everything a view draws, folded from ``BatchUpdate``s (see the module docstring)."""

    batch_id: str = ""
    total: int = 0
    labels: list[str] = field(default_factory=list)
    executor: str = ""
    dashboard: str | None = None
    status: dict[int, str] = field(default_factory=dict)
    runs: dict[int, RunState] = field(default_factory=dict)
    results: dict[int, ItemResult] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    events: int = 0
    cancelled: bool = False

    def apply(self, update: BatchUpdate, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if isinstance(update, BatchStarted):
            self.batch_id, self.total, self.labels = update.batch_id, update.total, update.labels
            self.executor, self.dashboard = update.executor, update.dashboard
            self.started_at = now
        elif isinstance(update, ItemEvent):
            self.events += 1
            run = self.runs.get(update.index)
            if run is None or isinstance(update.event, RunStarted):
                run = self.runs[update.index] = RunState()  # a new attempt starts afresh
            run.apply(update.event)
            if update.index not in self.results:
                self.status[update.index] = (
                    update.event.status.value if isinstance(update.event, RunFinished) else RUNNING
                )
        elif isinstance(update, ItemDone):
            self.results[update.result.index] = update.result
            self.status[update.result.index] = update.result.status
        elif isinstance(update, BatchFinished):
            self.finished_at = now

    def cancel(self, now: float | None = None) -> None:
        """The batch was cancelled: items that had started and not ended are ``cancelled``."""
        for index, status in self.status.items():
            if index not in self.results and status == RUNNING:
                self.status[index] = "cancelled"
        self.finished_at = time.time() if now is None else now
        self.cancelled = True

    def counts(self) -> dict[str, int]:
        tally = Counter(self.status.values())
        pending = self.total - sum(tally.values())
        if pending > 0:
            tally[PENDING] = pending
        return dict(tally)

    def done(self) -> int:
        return len(self.results)

    def rate(self, now: float | None = None) -> float:
        """Items finished per second since the batch started (restored items not counted)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at or (time.time() if now is None else now)
        ran = sum(1 for r in self.results.values() if not r.resumed)
        return ran / max(end - self.started_at, 1e-6)

    def failures(self) -> list[ItemResult]:
        return [r for _, r in sorted(self.results.items()) if not r.ok]

    def label(self, index: int) -> str:
        name = self.labels[index] if index < len(self.labels) else ""
        return f"#{index} {name}".rstrip()


def headline(state: BatchState, now: float | None = None) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(state.counts().items()))
    what = "cancelled" if state.cancelled else "finished" if state.finished_at else "running"
    return (
        f"batch {state.batch_id} {what}: {state.done()}/{state.total} items ({counts})"
        f" · {state.rate(now):.1f} items/s"
    )


def status_bar(state: BatchState) -> str:
    """A proportional bar of the items by status (plain divs: no SVG, no script)."""
    total = max(state.total, 1)
    parts = [
        f'<div title="{n} {escape(s)}" style="width:{100 * n / total:.3f}%;'
        f'background:{_COLOURS.get(s, "#94a3b8")}"></div>'
        for s, n in sorted(state.counts().items())
    ]
    return (
        '<div class="nbw-batch-bar" style="display:flex;height:10px;border-radius:4px;'
        f'overflow:hidden;background:#f1f5f9;margin:4px 0">{"".join(parts)}</div>'
    )


def _badge(status: str) -> str:
    return (
        f'<span style="color:{_COLOURS.get(status, "#334155")};font-weight:600">'
        f"{escape(status)}</span>"
    )


def failures_html(state: BatchState) -> str:
    rows = "".join(
        f'<li data-item="{r.index}"><code>{escape(state.label(r.index))}</code> '
        f"{_badge(r.status)}: {escape(r.message[:300])}</li>"
        for r in state.failures()
    )
    return f'<ul class="nbw-batch-failures" style="margin:2px 0">{rows}</ul>' if rows else ""


def item_html(state: BatchState, index: int, redact: Callable[[str], str] | None = None) -> str:
    """One item's graph and details (its run's static rendering), or why there is none."""
    run = state.runs.get(index)
    result = state.results.get(index)
    run_dir: str | None = result.run_dir if result and result.run_dir else None
    if (run is None or not run.nodes) and run_dir and (Path(run_dir) / "events.jsonl").is_file():
        from ..runlog import read_events

        run = RunState.from_events(read_events(run_dir))
    if run is None or not run.nodes:
        why = result.message if result and result.message else "it has not started yet"
        return (
            f"<div><code>{escape(state.label(index))}</code>: no run to show ({escape(why)})</div>"
        )
    artifacts = load_artifacts(run, run_dir, redact=redact) if run_dir else {}
    return render_static_html(run, run_dir=run_dir, artifacts=artifacts)


def render_batch_html(state: BatchState, redact: Callable[[str], str] | None = None) -> str:
    """The batch as one kernel-free HTML fragment (see the module docstring)."""
    link = ""
    if state.dashboard:
        link = f' · <a href="{escape(state.dashboard)}" target="_blank">Dask dashboard</a>'
    failed = state.failures()
    graphs = "".join(
        f'<details class="nbw-batch-item" data-item="{r.index}"><summary>'
        f"<code>{escape(state.label(r.index))}</code> {_badge(r.status)}</summary>"
        f"{item_html(state, r.index, redact)}</details>"
        for r in failed[:MAX_FAILURE_GRAPHS]
    )
    rows = []
    for index in range(min(state.total, MAX_ROWS)):
        r = state.results.get(index)
        status = state.status.get(index, PENDING)
        rows.append(
            f'<tr data-item="{index}"><td><code>{escape(state.label(index))}</code></td>'
            f"<td>{_badge(status)}</td><td>{r.tokens if r else ''}</td>"
            f"<td>{f'{r.duration_s:.2f}s' if r else ''}</td>"
            f"<td><code>{escape(r.run_dir) if r else ''}</code></td></tr>"
        )
    more = ""
    if state.total > MAX_ROWS:
        more = f"<div>… and {state.total - MAX_ROWS} more items (see the batch manifest)</div>"
    return (
        f'<div class="nbw-batch" data-batch-id="{escape(state.batch_id)}" '
        'style="font-family:system-ui,sans-serif;font-size:13px;line-height:1.4">'
        f'<div class="nbw-batch-summary" style="font-weight:600">{escape(headline(state))}'
        f"</div><div>{escape(state.executor)}{link}</div>{status_bar(state)}"
        f"{failures_html(state)}{graphs}"
        '<details class="nbw-batch-items"><summary>every item</summary>'
        '<table style="border-collapse:collapse"><thead><tr><th>item</th><th>status</th>'
        f"<th>tokens</th><th>time</th><th>run folder</th></tr></thead><tbody>{''.join(rows)}"
        f"</tbody></table>{more}</details></div>"
    )


def static_batch_bundle(state: BatchState) -> dict[str, str]:
    """The MIME bundle that replaces the live view when the batch ends."""
    return {"text/html": render_batch_html(state), "text/plain": headline(state)}


class BatchView:
    """The live view; pass it as a watcher and display ``view.widget`` (see the docstring)."""

    def __init__(
        self,
        *,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        import ipywidgets as w  # only here: the pure parts above need no UI library

        self.state = BatchState()
        self.interval = interval
        self.clock = clock
        self.redact = redact
        self.redraws = 0
        self._lock = threading.RLock()
        self._last_draw = float("-inf")
        self._known = 0
        self._pending = False
        self._handle: Any = None
        self.summary = w.HTML(value="<i>waiting for the batch to start…</i>")
        self.failures = w.HTML(value="")
        self.selector = w.Dropdown(options=[], description="item", layout=w.Layout(width="auto"))
        self.item = w.HTML(value="")
        self.selector.observe(self._on_select, names="value")
        self.widget = w.VBox([self.summary, self.failures, self.selector, self.item])
        self.widget.add_class("nbw-batch-view")

    def __call__(self, update: BatchUpdate) -> None:
        with self._lock:
            self.state.apply(update)
            final = isinstance(update, BatchFinished)
            wait = self._last_draw + self.interval - self.clock()
            if final or wait <= 0:
                self._draw()
            elif not self._pending:
                self._flush_later(wait)
            if final and self._handle is not None:
                # Shared notebooks show this, not a widget that needs a kernel.
                self._handle.update(static_batch_bundle(self.state), raw=True)

    def _flush_later(self, wait: float) -> None:
        """Draw the throttled update once the interval has passed: items that wait a minute
        for their model send nothing meanwhile, and the view must not stay a step behind."""
        try:
            loop = asyncio.get_running_loop()  # the batch's loop: updates come from it
        except RuntimeError:
            return  # called by hand, outside a batch: the next update draws
        self._pending = True
        loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._pending = False
            if self.state.finished_at is None:
                self._draw()

    def live_bundle(self) -> dict[str, Any]:
        """What to display for the live view: ``display(bundle, raw=True, display_id=True)``,
        then ``view.attach(handle)`` so the static rendering replaces it at the end."""
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/plain": "batch view (live)",
        }

    def cancelled(self) -> str:
        """The batch was cancelled (no ``BatchFinished`` comes): draw it so, replace the live
        view with the static rendering, and return the counts as text."""
        with self._lock:
            self.state.cancel()
            self._draw()
            if self._handle is not None:
                self._handle.update(static_batch_bundle(self.state), raw=True)
            return ", ".join(f"{n} {s}" for s, n in sorted(self.state.counts().items()))

    def attach(self, handle: Any) -> None:
        """The display handle to update with the static rendering when the batch ends."""
        self._handle = handle

    def _draw(self) -> None:
        self._last_draw = self.clock()
        self.redraws += 1
        state = self.state
        link = ""
        if state.dashboard:
            link = f' · <a href="{escape(state.dashboard)}" target="_blank">Dask dashboard</a>'
        self.summary.value = f"<b>{escape(headline(state))}</b>{link}{status_bar(state)}"
        self.failures.value = failures_html(state)
        if len(state.status) != self._known or state.finished_at:
            self._known = len(state.status)
            options = [
                (f"{state.label(i)} · {state.status.get(i, PENDING)}", i)
                for i in range(state.total)
            ]
            current = self.selector.value
            self.selector.options = options
            if current is not None:
                self.selector.value = current
        if self.selector.value is not None:
            self.item.value = item_html(state, self.selector.value, self.redact)

    def _on_select(self, change: dict[str, Any]) -> None:
        with self._lock:
            if change.get("new") is not None:
                self.item.value = item_html(self.state, change["new"], self.redact)

    def static_bundle(self) -> dict[str, str]:
        with self._lock:
            return static_batch_bundle(self.state)


def batch_state_from(result: Any) -> BatchState:
    """A finished batch's state from its ``BatchResult`` (to render it after the fact)."""
    state = BatchState(
        batch_id=result.batch_id,
        total=len(result.items),
        labels=[_first_value(r.item) for r in result.items],
        executor=result.executor,
        dashboard=result.dashboard,
        started_at=0.0,
        finished_at=result.duration_s,
    )
    for r in result.items:
        state.apply(ItemDone(r))
    return state


def _first_value(item: dict[str, Any]) -> str:
    for value in item.values():
        if isinstance(value, (str, int, float)):
            return str(value)[:40]
    return ""


__all__ = [
    "BatchState",
    "BatchView",
    "batch_state_from",
    "headline",
    "item_html",
    "render_batch_html",
    "static_batch_bundle",
]

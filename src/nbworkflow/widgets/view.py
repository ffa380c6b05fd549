"""The live ipywidgets view of a run: graph, summary line, node selector and detail pane.

Only stock ipywidgets (``HTML``, ``Dropdown``, boxes) and no custom JavaScript, so it works in
JupyterLab, Notebook 7 and VS Code. The view is an event subscriber: it folds events into its
own ``RunState`` and redraws at most once per ``interval`` seconds (a 500-node run sends a few
dozen updates, not thousands); the run's final state is always drawn.

Events arrive on the engine's loop thread while the selector's callbacks arrive on the kernel's
main thread, so both go through one lock.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..events import NodeStatus, RunEvent, RunFinished, RunStarted
from ..state import NodeState, RunState
from .layout import Layout
from .static import load_artifacts, node_details_html, summary_text
from .svg import layout_for, render_svg, run_colour, run_headline

REDRAW_INTERVAL = 0.1
"""Seconds between two redraws: at most ~10 a second, whatever the event rate."""
TICK = 1.0
"""While nodes run, redraw this often so their elapsed times move."""


class RunView:
    """Subscribe it to a run (``subscribers=[view]``) and display ``view.widget``."""

    def __init__(
        self,
        *,
        runs_root: str | os.PathLike[str] | None = None,
        interval: float = REDRAW_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        max_height: str = "620px",
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.state = RunState()
        self.layout: Layout | None = None
        self.runs_root = Path(runs_root) if runs_root is not None else None
        self.interval = interval
        self.clock = clock
        self.redact = redact
        """Applied to artifact text before it is shown (artifact files are not redacted)."""
        self.redraws = 0
        """How many times the view was redrawn (tests and the benchmark read it)."""
        self._lock = threading.RLock()
        self._last_draw = float("-inf")
        self._pending = False
        self._finished = False
        self._user_selected = False
        self._setting_options = False
        self.summary = w.HTML(value="<i>waiting for the run to start…</i>")
        self.graph = w.HTML(
            value="",
            layout=w.Layout(overflow="auto", max_height=max_height, width="100%"),
        )
        self.selector = w.Dropdown(options=[], description="node", layout=w.Layout(width="auto"))
        self.details = w.HTML(value="")
        self.selector.observe(self._on_select, names="value")
        self.widget = w.VBox(
            [self.summary, self.graph, self.selector, self.details],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("nbw-view")

    # -- subscriber ------------------------------------------------------------------------
    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self.state.apply(event)
            if isinstance(event, RunStarted):
                self.layout = layout_for(self.state)
                self._setting_options = True
                try:
                    self.selector.options = list(self.state.nodes)
                finally:
                    self._setting_options = False
        if isinstance(event, RunFinished):
            self.finish()
            return
        self.request_draw()

    @property
    def run_dir(self) -> Path | None:
        if self.runs_root is None or not self.state.run_id:
            return None
        return self.runs_root / self.state.run_id

    def request_draw(self) -> None:
        """Draw now if the last draw is old enough, else once the interval has passed."""
        with self._lock:
            if self._finished:
                return
            wait = self._last_draw + self.interval - self.clock()
            if wait <= 0:
                self._draw()
                return
            if self._pending:
                return
            self._pending = True
        self._later(wait, self._flush)

    def finish(self) -> None:
        """Draw the final state (always, whatever the throttle says; once)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._pending = False
            self._draw()

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            timer = threading.Timer(delay, callback)
            timer.daemon = True
            timer.start()
        else:
            loop.call_later(delay, callback)

    def _flush(self) -> None:
        with self._lock:
            self._pending = False
            if self._finished:
                return
            self._draw()
            ticking = any(
                n.status in (NodeStatus.RUNNING, NodeStatus.RETRYING)
                for n in self.state.nodes.values()
            )
            if ticking:
                self._pending = True
        if ticking:
            self._later(TICK, self._flush)

    # -- drawing ---------------------------------------------------------------------------
    def _draw(self) -> None:
        self.redraws += 1
        self._last_draw = self.clock()
        state = self.state
        if self.layout is None:
            return
        now = None if self._finished else time.time()
        self.graph.value = render_svg(state, self.layout, now=now, headline=False)
        colour = run_colour(state.status)
        line = summary_text(state, self.run_dir) if self._finished else run_headline(state)
        self.summary.value = (
            f'<div class="nbw-live-summary" data-run-status="{state.status.value}" '
            f'style="font-weight:600;color:{colour}">{escape(line)}</div>'
        )
        if not self._user_selected:
            pick = self._auto_selection()
            if pick is not None and pick != self.selector.value:
                self._setting_options = True
                try:
                    self.selector.value = pick
                finally:
                    self._setting_options = False
        self._draw_details()

    def _auto_selection(self) -> str | None:
        nodes = list(self.state.nodes.values())
        wanted_order = (
            NodeStatus.FAILED,
            NodeStatus.WAITING,
            NodeStatus.RETRYING,
            NodeStatus.RUNNING,
        )
        for wanted in wanted_order:
            hits = [n.id for n in nodes if n.status is wanted]
            if hits:
                return hits[-1]
        done = [n for n in nodes if n.finished_at is not None]
        if done:
            return max(done, key=lambda n: n.finished_at or 0.0).id
        return nodes[0].id if nodes else None

    def _draw_details(self) -> None:
        node_id = self.selector.value
        node: NodeState | None = self.state.nodes.get(node_id) if node_id else None
        if node is None:
            self.details.value = ""
            return
        artifact = None
        if node.artifact or node.preview:
            # Read the artifact file only for the one selected node.
            single = RunState(run_id=self.state.run_id, nodes={node.id: node})
            artifact = load_artifacts(single, self.run_dir, redact=self.redact).get(node.id)
        self.details.value = node_details_html(node, artifact, expanded=True)

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._setting_options:
            return
        with self._lock:
            self._user_selected = True
            self._draw_details()


__all__ = ["REDRAW_INTERVAL", "RunView"]

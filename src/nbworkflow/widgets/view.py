"""The live ipywidgets view of a run: graph, summary line, node selector and detail pane.
(Over 400 lines: the view, its thread hand-off and its redraw throttle share one state.)

Only stock ipywidgets (``HTML``, ``Dropdown``, boxes) and no custom JavaScript, so it works in
JupyterLab, Notebook 7 and VS Code. The view is an event subscriber: it folds events into its
own ``RunState`` and redraws at most once per ``interval`` seconds (a 500-node run sends a few
dozen updates, not thousands); the run's final state is always drawn.

Events arrive on the engine's loop thread while the selector's callbacks arrive on the kernel's
main thread, so both go through one lock.

``ApprovalPanel`` is what a waiting node shows once its cell has returned: the code, its diff
against the previous attempt, what would be sent, a comment box and one button per answer. A
click only calls back (``on_decide``): the magic resumes the run in the background, after the
cell has returned.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .layout import Layout

if TYPE_CHECKING:
    from ..approval import ApprovalRequest
    from ..events import RunEvent
    from ..state import NodeState, RunState

# The run's modules (events, state, the drawing) are imported when the first event arrives, not
# here: the view is on screen before they load (events builds pydantic adapters on import), so
# a fresh kernel shows it about as soon as a plain ipywidgets widget (bench/widget.py).

REDRAW_INTERVAL = 0.1
"""Seconds between two redraws: at most ~10 a second, whatever the event rate."""
SCROLL = "overflow-x:auto;max-width:100%;text-align:left"
"""A wide graph scrolls sideways from its start (never centred, never squeezed)."""
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
        self._state: RunState | None = None
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
        self._picked: str | None = None
        """The node a person picked in the drop-down (it then stays shown)."""
        self._shown: Any = None
        """The selector's value as this view last set it: any other value is a pick whose
        observer has not run yet (the browser's change lands before the observer takes the
        lock)."""
        self._ours = threading.local()
        """Set while this view itself changes the selector, in the thread that changes it: a
        pick arriving from the browser at that moment (another thread) is still a pick."""
        self.summary = w.HTML(value="<i>checking the workflow…</i>")
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

    @property
    def state(self) -> RunState:
        """What the view knows of the run (made on first use: see the imports above)."""
        if self._state is None:
            from ..state import RunState

            self._state = RunState()
        return self._state

    # -- subscriber ------------------------------------------------------------------------
    def __call__(self, event: RunEvent) -> None:
        from ..events import RunFinished, RunStarted
        from .svg import layout_for

        with self._lock:
            self.state.apply(event)
            if isinstance(event, RunStarted):
                self.layout = layout_for(self.state)
                self._set_selector(options=list(self.state.nodes))
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
        from ..events import NodeStatus

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
        from .static import summary_text
        from .svg import render_svg, run_colour, run_headline

        self.redraws += 1
        self._last_draw = self.clock()
        state = self.state
        if self.layout is None:
            return
        now = None if self._finished else time.time()
        svg = render_svg(state, self.layout, now=now, headline=False)
        self.graph.value = f'<div class="nbw-graph-scroll" style="{SCROLL}">{svg}</div>'
        colour = run_colour(state.status)
        line = summary_text(state, self.run_dir) if self._finished else run_headline(state)
        self.summary.value = (
            f'<div class="nbw-live-summary" data-run-status="{state.status.value}" '
            f'style="font-weight:600;color:{colour}">{escape(line)}</div>'
        )
        current = self.selector.value
        if self._picked is None and current is not None and current != self._shown:
            self._picked = current  # a pick already applied to the widget: never undo it
        pick = self._picked if self._picked is not None else self._auto_selection()
        if pick is not None and pick != current:
            # Also puts a person's pick back if an automatic one crossed it on the wire.
            self._set_selector(value=pick)
        self._draw_details()

    def _auto_selection(self) -> str | None:
        from ..events import NodeStatus

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
        from ..state import RunState
        from .static import load_artifacts, node_details_html

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

    def _set_selector(self, **traits: Any) -> None:
        self._ours.active = True
        try:
            for name, value in traits.items():
                setattr(self.selector, name, value)
            self._shown = self.selector.value
        finally:
            self._ours.active = False

    def _on_select(self, change: dict[str, Any]) -> None:
        if getattr(self._ours, "active", False) or change["new"] is None:
            return
        with self._lock:
            self._picked = change["new"]
            if self.selector.value != self._picked:  # a redraw crossed the pick: put it back
                self._set_selector(value=self._picked)
            self._draw_details()


BUTTONS: dict[str, tuple[str, str, str]] = {
    "approve": ("Approve", "success", "send the payloads to staging with this code"),
    "reject": ("Reject", "danger", "the comment goes back to the model, which rewrites the code"),
    "retry": ("Retry", "warning", "let the model rewrite the code once more"),
    "accept": ("Accept as is", "", "keep this output although it failed its checks"),
    "edit": ("Edit…", "info", "write it yourself: checked in the sandbox and against staging"),
}
"""Label, button style and tooltip per answer. ``edit`` opens an editor holding the code (or
output) first; a second click submits what is in it."""

OnDecide = Callable[["ApprovalRequest", str, str, str | None], None]
"""``on_decide(request, action, comment, code)``: called once, on the kernel's main thread;
``code`` is the edited code for ``edit``, else None."""


class ApprovalPanel:
    """The question one waiting node asks, with a button per answer (see module docstring)."""

    def __init__(
        self,
        request: ApprovalRequest,
        on_decide: OnDecide,
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        from .static import highlight_artifact

        self.request = request
        self.on_decide = on_decide
        clean = redact or (lambda text: text)
        title = {
            "approve": "approve before staging",
            "exhausted": "rewrites used up",
            "approval": "approval",
        }[request.kind]
        head = [
            f"<b>{escape(request.node_id)}</b> waits for your decision ({escape(title)}, "
            f"attempt {request.attempt})",
            f"<div>{escape(clean(request.reason))}</div>",
        ]
        if request.target:
            head.append(f"<div>target: <code>{escape(clean(request.target))}</code></div>")
        parts = ["".join(head)]
        code_as = "x.py" if request.kind != "approval" else None
        if request.code:
            label = "code" if request.kind != "approval" else "output"
            parts.append(
                f"<div><b>{label}</b></div>" + highlight_artifact(clean(request.code), code_as)
            )
        if request.diff:
            parts.append(
                "<div><b>diff against the previous attempt</b></div>"
                + highlight_artifact(clean(request.diff), "x.diff")
            )
        if request.payloads:
            parts.append(
                "<div><b>payloads that approval sends</b></div>"
                + highlight_artifact(clean(request.payloads), "x.json")
            )
        if request.log:
            parts.append("<div><b>earlier attempts</b></div>" + _log_html(request.log, clean))
        self.info = w.HTML(value="".join(parts))
        self.info.add_class("nbw-approval-info")
        self.comment = w.Textarea(
            value="",
            placeholder="Comment (required to reject: it goes back to the model)",
            layout=w.Layout(width="100%", height="64px"),
        )
        self.comment.add_class("nbw-approval-comment")
        self.editor = w.Textarea(
            value=request.code,
            layout=w.Layout(width="100%", height="220px", display="none"),
        )
        self.editor.add_class("nbw-approval-editor")
        self.buttons: dict[str, w.Button] = {}
        for choice in request.choices:
            if choice not in BUTTONS:
                continue
            label, style, tip = BUTTONS[choice]
            button = w.Button(description=label, button_style=style, tooltip=tip)
            button.add_class("nbw-approval-button")
            button.add_class(f"nbw-approval-{choice}")
            button.on_click(lambda _b, action=choice: self.click(action))
            self.buttons[choice] = button
        self.message = w.HTML(value="")
        self.message.add_class("nbw-approval-message")
        self.widget = w.VBox(
            [
                self.info,
                self.editor,
                self.comment,
                w.HBox(list(self.buttons.values())),
                self.message,
            ],
            layout=w.Layout(border="1px solid #f59e0b", padding="6px 10px", margin="6px 0"),
        )
        self.widget.add_class("nbw-approval")
        self.widget.add_class(f"nbw-approval-node-{request.node_id}")
        self.decided = False

    def click(self, action: str) -> bool:
        """Answer with ``action``; False (and a message) when the answer is not complete."""
        if self.decided:
            return False
        comment = self.comment.value.strip()
        if action == "reject" and not comment:
            return self._say("Write a comment first: it tells the model what to change.")
        code = None
        if action == "edit":
            if self.editor.layout.display == "none":  # first click: open the editor
                self.editor.layout.display = None
                self.buttons["edit"].description = "Submit edit"
                what = "output" if self.request.kind == "approval" else "code"
                self.message.value = f"Change the {what} above, then click Submit edit."
                return False
            code = self.editor.value
            if not code.strip():
                return self._say("The editor is empty: write the code to use.")
            if code == self.request.code:
                return self._say("Nothing changed: edit the code, or click Approve.")
        self.on_decide(self.request, action, comment, code)
        return True

    def _say(self, error: str) -> bool:
        self.message.value = (
            f'<span class="nbw-approval-error" style="color:#b91c1c">{escape(error)}</span>'
        )
        return False

    def close(self, note: str) -> None:
        """Freeze the panel after a decision (no second click), saying what happened."""
        self.decided = True
        for button in self.buttons.values():
            button.disabled = True
        self.comment.disabled = self.editor.disabled = True
        # Answered: the question and its code fold away, so the cell shows them once (the
        # resumed run's view shows what became of them).
        self.info.layout.display = self.editor.layout.display = "none"
        self.message.value = f'<span class="nbw-approval-done">{escape(note)}</span>'

    def reopen(self, error: str) -> None:
        """Ask again (the resume could not start), showing why."""
        self.decided = False
        for button in self.buttons.values():
            button.disabled = False
        self.comment.disabled = self.editor.disabled = False
        self.info.layout.display = None
        if "edit" in self.buttons and self.buttons["edit"].description == "Submit edit":
            self.editor.layout.display = None  # the person's edit, to submit again
        self._say(error)


def _log_html(log: Sequence[Mapping[str, Any]], clean: Callable[[str], str]) -> str:
    """The node's decision log so far, one line per attempt (why earlier code was refused)."""
    items = []
    for entry in log:
        line = f"attempt {entry.get('attempt', '?')} · {entry.get('gate', '?')}"
        human = entry.get("human")
        if isinstance(human, Mapping):
            line += f" · {human.get('action', '?')} by {human.get('who', '?')}"
            if human.get("comment"):
                line += f": {human['comment']}"
        elif entry.get("summary") or entry.get("reason"):
            line += f" · {entry.get('summary') or entry.get('reason')}"
        items.append(f"<li>{escape(clean(line))}</li>")
    return f'<ol style="margin:2px 0 4px 18px;padding:0">{"".join(items)}</ol>'


__all__ = ["BUTTONS", "REDRAW_INTERVAL", "ApprovalPanel", "OnDecide", "RunView"]

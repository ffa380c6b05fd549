"""One ``%%workflow`` cell's runs: the run the cell starts, then every run a click resumes.

The cell's output area (one display id) shows the live view while a run goes, and the static
rendering when it ends. When nodes wait for a person, the static rendering stays in that output
and a second one holds an ``ApprovalPanel`` per waiting node (code, diff, comment, one button
per answer): a shared notebook has no kernel, and nbconvert picks a widget view over everything
else in the same output. A person can take minutes, and the cell must end for nbclient and
papermill, so the cell's own run ends *waiting* (``PendingApprover``) and the cell returns; a
click then resumes the run on a new loop thread (``resume_workflow`` with the cell's provider,
variables and runs folder, and the person's ``HumanDecision``), and the first output shows the
resumed run live, then its end.

``update_display_data`` reaches the cell's output area from any thread: JupyterLab routes it by
display id to every output that showed it, whatever the message's parent.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .runner import LoopThreadRun

if TYPE_CHECKING:
    from ..approval import ApprovalRequest
    from ..engine import RunResult
    from ..spec import WorkflowSpec
    from ..state import RunState

ACTIVE: dict[str, LoopThreadRun[Any]] = {}
"""Background runs still going, by run id (``%workflow cancel`` stops them)."""
WAITING: dict[str, CellRuns] = {}
"""Cells whose last run waits for a decision, by that run's id (the buttons are in there)."""

RunFactory = Callable[[list[Any], str], Awaitable["RunResult"]]
"""``factory(subscribers, run_id)``: the coroutine that runs (or resumes) the workflow."""


@dataclass
class Attempt:
    """One run of the cell (the first, or a resumed one) and what watches it."""

    run_id: str
    run_dir: Path
    run: LoopThreadRun[RunResult]
    state: RunState
    view: Any = None


@dataclass
class CellRuns:
    """What a cell's runs share: options, provider maker, namespace and output area."""

    args: argparse.Namespace
    spec: WorkflowSpec
    variables: dict[str, str]
    make_provider: Callable[[], tuple[Any, bool]]
    """A provider for one run, and whether that run owns (and closes) it."""
    runs_root: Path
    redact: Callable[[str], str]
    user_ns: dict[str, Any]
    who: str
    display: Callable[..., Any]
    handle: Any = None
    first_view: Any = None
    """A view the magic showed before the spec was read (``handle`` shows it)."""
    panel_handle: Any = None
    answered: list[str] = field(default_factory=list)
    """The decisions given through the buttons, for the note that replaces them."""
    """The output that holds the questions (apart from the static rendering, see below)."""
    panels: dict[str, Any] = field(default_factory=dict)
    """``ApprovalPanel`` per waiting node of the run shown now."""
    last: Attempt | None = None
    home: Path = Path()
    """``runs_root`` made absolute when the cell ran: a click may come after a ``chdir``."""
    asking: Attempt | None = None
    """The waiting run the panels answer (``None`` once a click answered it)."""
    asked: Attempt | None = None
    """The last run that asked (kept after the click, to ask again if the resume fails)."""
    questions: dict[str, Any] = field(default_factory=dict)
    """The bundle that shows the panels (shown again when a resume cannot start)."""
    asked_static: dict[str, str] = field(default_factory=dict)
    """The static rendering of the run that asked (shown again when a resume cannot start)."""
    segments: list[str] = field(default_factory=list)
    """Run ids of the cell's run and of each resume of it: one run, in segments (``%workflow
    runs`` lists them as one row under the first id)."""

    def __post_init__(self) -> None:
        self.home = self.runs_root.absolute()

    # -- starting a run ------------------------------------------------------------------
    def options(self) -> Any:
        from ..approval import PendingApprover
        from ..config import RunOptions

        # Nobody can answer while the cell blocks: approve nodes (and adaptive nodes out of
        # rewrites) wait, the cell returns, and the buttons answer. A resumed run gets the same
        # options, so it keeps the cell's --model.
        return RunOptions(
            model=self.args.model,
            sandbox_backend=self.args.sandbox,
            max_concurrency=self.args.max_concurrency,
            fail_fast=True if self.args.fail_fast else None,
            token_budget=self.args.token_budget,
            cost_budget=getattr(self.args, "cost_budget", None),
            approver=PendingApprover(),
            staging=self.args.staging,
        )

    def start(self, factory: RunFactory, *, first: bool) -> Attempt:
        """Set up state, live view and the output area for a new run (not started yet)."""
        from ..runlog import new_run_id
        from ..state import RunState

        run_id = new_run_id(self.spec.name)
        # The folder as the cell named it (relative stays relative), unless a chdir since then
        # made that name point elsewhere: a resumed run then shows the absolute one.
        same_place = self.runs_root.absolute() == self.home
        root = self.runs_root if first or same_place else self.home
        state = RunState()
        subscribers: list[Any] = [state.apply]
        view = None
        if not self.args.quiet:
            from ..widgets.view import RunView

            view = self.first_view if first and self.first_view is not None else None
            if view is None:
                view = RunView(runs_root=root, redact=self.redact)
            else:
                view.runs_root, view.redact = root, self.redact
            subscribers.append(view)
            bundle = dict(view.widget._repr_mimebundle_())
            if first:
                what = f"running: run {run_id}"
            else:
                what = f"resumed: run {self.segments[0]}, segment {len(self.segments) + 1}"
            bundle["text/plain"] = f"workflow {self.spec.name} {what} ({root / run_id})"
            if self.handle is None:
                self.handle = self.display(bundle, raw=True, display_id=True)
                if self.args.background:
                    # Questions may come after the cell returned, when only an update of an
                    # output shown during the cell still reaches it: keep a place for them.
                    self.panel_handle = self.display({"text/plain": ""}, raw=True, display_id=True)
            else:
                self.handle.update(bundle, raw=True)
        run: LoopThreadRun[RunResult] = LoopThreadRun(
            lambda: factory(subscribers, run_id), name=f"nbworkflow-{run_id}"
        )
        attempt = Attempt(run_id, root / run_id, run, state, view)
        self.last = attempt
        self.segments.append(run_id)
        return attempt

    def run_in_background(self, attempt: Attempt) -> None:
        ACTIVE[attempt.run_id] = attempt.run

        def on_done(_: object) -> None:
            ACTIVE.pop(attempt.run_id, None)
            self.finalize(attempt)

        attempt.run.future.add_done_callback(on_done)
        attempt.run.start()

    def first_run(self) -> RunFactory:
        from ..engine import arun_workflow

        args = self.args

        async def go(subscribers: list[Any], run_id: str) -> RunResult:
            provider, owned = self.make_provider()
            try:
                return await arun_workflow(
                    self.spec,
                    provider=provider,
                    runs_dir=self.runs_root,
                    subscribers=subscribers,
                    options=self.options(),
                    run_id=run_id,
                    cache=not args.no_cache,
                    rerun=tuple(args.rerun or ()),
                )
            finally:
                if owned:
                    await provider.aclose()

        return go

    def resumed_run(self, old_run_id: str, decisions: dict[str, Any]) -> RunFactory:
        from ..resume import aresume_workflow

        args = self.args

        async def go(subscribers: list[Any], run_id: str) -> RunResult:
            provider, owned = self.make_provider()
            try:
                return await aresume_workflow(
                    old_run_id,
                    runs_dir=self.home,
                    variables=self.variables,
                    decisions=decisions,
                    options=self.options(),
                    provider=provider,
                    subscribers=subscribers,
                    run_id=run_id,
                    cache=not args.no_cache,
                )
            finally:
                if owned:
                    await provider.aclose()

        return go

    # -- the end of a run ----------------------------------------------------------------
    def finalize(self, attempt: Attempt) -> RunResult | None:
        """Bind ``--out``, then show the static rendering, or the questions of waiting nodes."""
        from ..events import RunStatus
        from ..widgets.static import static_bundle, summary_text

        run = attempt.run
        result: RunResult | None = None
        if run.future.done() and run.future.exception() is None:
            result = run.future.result()
            if self.args.out:
                self.user_ns[self.args.out] = result
        if attempt.view is not None:
            attempt.view.finish()
        state = attempt.state
        if self.args.quiet or self.handle is None:
            print(summary_text(state, attempt.run_dir))
            return result
        resumed = self.asked is not None and self.asked is not attempt
        if resumed and result is None and not state.run_id:  # the resume could not start
            self._resume_failed(run.future.exception())
            return result
        layout = getattr(attempt.view, "layout", None)
        bundle = static_bundle(state, attempt.run_dir, layout, self.redact)
        if result is not None and result.status is RunStatus.WAITING and state.waiting():
            self.show_questions(attempt, bundle)
        else:
            self.handle.update(bundle, raw=True)
            if self.panel_handle is not None and self.answered:
                note = (
                    f"{'; '.join(self.answered)}: run {self.segments[0]} went on in segment "
                    f"{len(self.segments)} ({attempt.run_id}, {state.status.value})"
                )
                self._show_panel(
                    {
                        "text/html": f'<div class="nbw-approval-answered">{escape(note)}</div>',
                        "text/plain": note,
                    }
                )
        return result

    def show_questions(self, attempt: Attempt, bundle: dict[str, str]) -> None:
        """The static rendering of a waiting run, then its questions in an output of their own.

        Two outputs, because a shared notebook has no kernel: nbconvert (and GitHub) pick a
        widget view over any other type in the same output and draw nothing without widget
        state, so the static rendering must never share an output with the buttons.
        """
        import ipywidgets as w

        from ..approval import ApprovalRequest
        from ..widgets.view import ApprovalPanel

        requests = [ApprovalRequest.from_event(e) for e in attempt.state.waiting().values()]
        self.panels = {
            r.node_id: ApprovalPanel(r, self.decide, redact=self.redact) for r in requests
        }
        names = ", ".join(self.panels)
        intro = w.HTML(
            value=f'<div class="nbw-approval-intro" style="font-weight:600;color:#b45309">'
            # Each panel names its node and what it asks: this line only says what a click does.
            f"A click continues the run here (as {escape(self.who)}).</div>"
        )
        area = w.VBox([intro, *(p.widget for p in self.panels.values())])
        area.add_class("nbw-approval-area")
        WAITING[attempt.run_id] = self
        self.asking = self.asked = attempt
        how = f"nbworkflow resume {attempt.run_id} --approve NODE"
        static = dict(bundle)
        static["text/plain"] = bundle["text/plain"] + (
            f"\nwaiting for a decision on: {names} (or: {how})"
        )
        self.asked_static = static
        self.handle.update(static, raw=True)
        out = dict(area._repr_mimebundle_())
        out["text/plain"] = (
            f"Approve / Reject buttons for {names}: they need a running kernel (or: {how})"
        )
        self.questions = out
        self._show_panel(out)

    def _show_panel(self, bundle: dict[str, Any]) -> None:
        if self.panel_handle is None:
            self.panel_handle = self.display(bundle, raw=True, display_id=True)
        else:
            self.panel_handle.update(bundle, raw=True)

    # -- a click -------------------------------------------------------------------------
    def decide(
        self, request: ApprovalRequest, action: str, comment: str, code: str | None = None
    ) -> None:
        """A button was clicked (kernel main thread): resume the run in the background."""
        from ..approval import HumanDecision
        from ..exceptions import WorkflowError

        old = self.asking
        if old is None or request.run_id != old.run_id:
            return  # an old panel: its run was already answered
        try:
            decision = HumanDecision(
                action,  # type: ignore[arg-type]  # the panel offers only the request's choices
                comment=comment,
                who=self.who,
                code=code,
                code_sha256=request.code_sha256 or None,
            )
        except WorkflowError as exc:
            self.panels[request.node_id].reopen(str(exc))
            return
        WAITING.pop(old.run_id, None)
        self.asking = None
        self.answered.append(f"{action} on {request.node_id} by {decision.who} at {decision.when}")
        for node_id, panel in self.panels.items():
            note = (
                f"{action} by {decision.who} at {decision.when}: resuming the run…"
                if node_id == request.node_id
                else f"{request.node_id} was answered first: this asks again when the run resumes"
            )
            panel.close(note)
        attempt = self.start(self.resumed_run(old.run_id, {request.node_id: decision}), first=False)
        self.run_in_background(attempt)

    def _resume_failed(self, exc: BaseException | None) -> None:
        """The resume stopped before its run started: ask the same questions again."""
        from ..sanitize import sanitize

        text = self.redact(sanitize(str(exc) if exc is not None else "the run did not start"))
        asked = self.asked
        if asked is None:
            return
        if self.answered:
            self.answered.pop()  # that answer did not take
        if len(self.segments) > 1:
            self.segments.pop()  # nor did its segment (no folder was made)
        for panel in self.panels.values():
            panel.reopen(f"resume failed: {text}")
        self.asking = asked
        WAITING[asked.run_id] = self
        if self.asked_static and self.handle is not None:
            self.handle.update(self.asked_static, raw=True)
        if self.questions and self.panel_handle is not None:
            self.panel_handle.update(self.questions, raw=True)


__all__ = ["ACTIVE", "WAITING", "Attempt", "CellRuns"]

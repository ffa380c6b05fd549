"""Resume a failed, cancelled, interrupted or waiting run from its run folder.

The new run links to the old one (``resumed_from``), re-reads the spec the old run recorded,
restores every node that succeeded there from its artifact (no model call, no sandbox), and
runs only what did not finish. A node that was running when the process died (kill -9, kernel
restart) has no ``node_finished`` event, so it runs again: at-least-once for unfinished nodes,
never twice for finished ones.

A node that was *waiting* for a person (``node_waiting``) continues from where it waited: its
attempt number, rewrites used and decision log come from the event, its code and the previous
attempt's code from the old run's artifacts, so the model is not asked again for code it
already wrote. ``decisions={node_id: HumanDecision(...)}`` answers its question; without one it
asks the run's approver again (and waits again when there is none).
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import boundedjson
from . import events as ev
from .approval import ApprovalRequest, HumanDecision, check_decision
from .config import RunOptions, Spent
from .engine import RunResult, arun_workflow, run_workflow_sync
from .exceptions import WorkflowError
from .nodes.adaptive.record import ResumePoint, WaitPoint
from .outputs import NodeOutput
from .runlog import DEFAULT_ROOT, read_events
from .segments import LogicalRun, find_logical_run
from .spec import WorkflowSpec, load_workflow

_FORMAT_BY_SUFFIX = {".py": "code", ".md": "text", ".json": "json"}


class RestoreWarning(UserWarning):
    """A node of the old run is not restored (its artifact failed verification): it runs
    again in the resumed run."""


MAX_ARTIFACT_BYTES = 64 * 1024 * 1024


def restorable(run_dir: Path) -> tuple[ev.RunStarted, dict[str, NodeOutput], str]:
    """The old run's start event, the outputs of its succeeded nodes, and how it ended.

    An output is restored only when it can be verified: its artifact lies inside the run
    folder, still has the SHA-256 recorded when it was written, and reads back (UTF-8; JSON
    for ``.json``). Any other node runs again, with a ``RestoreWarning`` saying why. Runs
    written before hashes were recorded have none to check: their nodes run again too."""
    started: ev.RunStarted | None = None
    outputs: dict[str, NodeOutput] = {}
    status = "interrupted"
    for event in read_events(run_dir):
        if isinstance(event, ev.RunStarted):
            started = event
        elif isinstance(event, ev.NodeFinished) and event.artifact:
            restored = _verified(run_dir, event)
            if isinstance(restored, NodeOutput):
                outputs[event.node_id] = restored
            else:
                outputs.pop(event.node_id, None)
                _not_restored(run_dir, event.node_id, event.artifact, restored)
        elif isinstance(event, ev.RunFinished):
            status = event.status.value
    if started is None:
        raise WorkflowError(f"{run_dir} has no run_started event: nothing to resume")
    return started, outputs, status


def _verified(run_dir: Path, event: ev.NodeFinished) -> NodeOutput | str:
    """The node's output from its artifact, or why it cannot be trusted."""
    rel = event.artifact or ""
    content = _read_verified(run_dir, rel, event.artifact_sha256)
    if not isinstance(content, _Text):
        return content
    fmt = _FORMAT_BY_SUFFIX.get(Path(rel).suffix, "text")
    data = None
    if fmt == "json":
        try:
            data = boundedjson.loads(content.text)
        except ValueError as exc:
            return f"its artifact {rel} is not valid JSON ({exc})"
    return NodeOutput(fmt, content.text, data)


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


def _read_verified(run_dir: Path, rel: str, sha256: str | None) -> _Text | str:
    """An artifact's text when it lies inside the run folder, still has the SHA-256 recorded
    when it was written and is UTF-8; else why it cannot be trusted."""
    root = run_dir.resolve()
    path = (run_dir / rel).resolve()
    if not rel or Path(rel).is_absolute() or not path.is_relative_to(root) or path == root:
        return f"its artifact path {rel!r} points outside the run folder"
    if not sha256:
        return "no hash was recorded for its artifact (a run from before hashes), so it cannot be verified"
    try:
        if path.stat().st_size > MAX_ARTIFACT_BYTES:
            return f"its artifact {rel} is larger than {MAX_ARTIFACT_BYTES // 2**20} MB"
        blob = path.read_bytes()
    except OSError as exc:
        return f"its artifact {rel} cannot be read ({exc.strerror or type(exc).__name__})"
    if hashlib.sha256(blob).hexdigest() != sha256:
        return f"its artifact {rel} changed since it was written (SHA-256 differs)"
    try:
        return _Text(blob.decode("utf-8"))
    except UnicodeDecodeError:
        return f"its artifact {rel} is not UTF-8 text"


def _not_restored(run_dir: Path, node_id: str, rel: str, why: str) -> None:
    # Located at the damaged file; in <...> so that printing the warning never reads it
    # (linecache skips such names), whatever path the event names.
    warnings.warn_explicit(
        f"node '{node_id}' is not restored from {run_dir.name}: {why}; it runs again",
        RestoreWarning,
        f"<{run_dir / rel}>",
        0,
        module=__name__,
    )


def waiting_nodes(run_dir: Path) -> dict[str, ev.NodeWaiting]:
    """Nodes whose last word in the run was ``node_waiting``, by id."""
    out: dict[str, ev.NodeWaiting] = {}
    for event in read_events(run_dir):
        if isinstance(event, ev.NodeWaiting):
            out[event.node_id] = event
        elif isinstance(event, (ev.NodeStarted, ev.NodeFinished, ev.NodeFailed)):
            out.pop(event.node_id, None)
    return out


def resume_point(run_dir: Path, event: ev.NodeWaiting) -> ResumePoint | None:
    """What a waiting adaptive node needs to continue (``RunOptions.resume_points``), with its
    codes read back from the artifacts; ``None`` when there is nothing to restore."""
    wait = WaitPoint.from_data(event.data)
    if wait is None:
        return None
    # The waiting code is verified like a restored output: a damaged, foreign or swapped
    # attempt is never shown to a person or sent to staging; the node starts over instead.
    code = _read_verified(run_dir, wait.artifact, event.data.get("artifact_sha256"))
    if not isinstance(code, _Text):
        _not_restored(run_dir, event.node_id, wait.artifact, code)
        return None
    prev_code: str | None = None
    if wait.prev_artifact:
        prev = _read_verified(run_dir, wait.prev_artifact, event.data.get("prev_artifact_sha256"))
        if not isinstance(prev, _Text):
            _not_restored(run_dir, event.node_id, wait.prev_artifact, prev)
            return None
        prev_code = prev.text
    return ResumePoint(
        wait=wait,
        code=code.text,
        prev_code=prev_code,
        from_run=event.run_id,
        log=tuple(dict(e) for e in event.log),
    )


@dataclass
class ResumeState:
    """Everything ``resume`` takes from an old run folder."""

    spec: WorkflowSpec
    outputs: dict[str, NodeOutput]
    """Outputs of the nodes that succeeded there."""
    old_id: str
    waiting: dict[str, ApprovalRequest]
    """What each waiting node asked."""
    points: dict[str, ResumePoint]
    """Where each waiting adaptive node continues."""
    model: str | None = None
    """The model the old run was given as an option (``RunOptions.model``), if any."""
    spent: Spent = field(default_factory=Spent)
    """What the run's segments so far used: the resumed run's budgets count it."""

    def check(self, decisions: Mapping[str, HumanDecision]) -> None:
        """Every decision must answer a node that waits, with one of its choices."""
        for node_id, decision in decisions.items():
            request = self.waiting.get(node_id)
            if request is None:
                waiting = ", ".join(self.waiting) or "none"
                raise WorkflowError(
                    f"node '{node_id}' is not waiting for a decision in run {self.old_id} "
                    f"(waiting: {waiting})"
                )
            check_decision(request, decision)


def load_resume_state(
    run: str | os.PathLike[str],
    runs_dir: str | os.PathLike[str] = DEFAULT_ROOT,
    variables: Mapping[str, Any] | None = None,
) -> ResumeState:
    logical = find_logical_run(str(run), runs_dir)  # once: it lists the runs folder
    run_dir = logical.last.path
    spec, outputs, old_id, model = _load(run_dir, variables)
    known = {n.id for n in spec.nodes}
    waiting = {k: v for k, v in waiting_nodes(run_dir).items() if k in known}
    points = {k: p for k, e in waiting.items() if (p := resume_point(run_dir, e)) is not None}
    requests = {k: ApprovalRequest.from_event(e) for k, e in waiting.items()}
    return ResumeState(spec, outputs, old_id, requests, points, model, spent_so_far(logical))


def spent_so_far(logical: LogicalRun) -> Spent:
    """Tokens and known dollars of every segment of ``logical``, from their recorded
    ``model_called`` events (a damaged segment counts what can still be read)."""
    tokens_in = tokens_out = 0
    usd = 0.0
    for segment in logical.segments:
        for event in read_events(segment.path):
            if isinstance(event, ev.ModelCalled):
                tokens_in += max(event.input_tokens, 0)
                tokens_out += max(event.output_tokens, 0)
                if event.cost_usd is not None and math.isfinite(event.cost_usd):
                    usd += max(event.cost_usd, 0.0)
    return Spent(tokens_in, tokens_out, usd, len(logical.segments))


def load_resume(
    run: str | os.PathLike[str],
    runs_dir: str | os.PathLike[str] = DEFAULT_ROOT,
    variables: Mapping[str, Any] | None = None,
) -> tuple[WorkflowSpec, dict[str, NodeOutput], str]:
    """The old run's spec (with the model the run used), its restorable outputs and its id."""
    spec, outputs, old_id, model = _load(latest_segment(run, runs_dir), variables)
    if model is not None:
        spec = spec.model_copy(update={"model": model})
    return spec, outputs, old_id


def _load(
    run_dir: Path, variables: Mapping[str, Any] | None
) -> tuple[WorkflowSpec, dict[str, NodeOutput], str, str | None]:
    """``load_resume``'s parts, read from the run's last segment ``run_dir``, with the spec as
    written and the model the run was given (``None`` when it used the spec's own)."""
    started, outputs, status = restorable(run_dir)
    if status == "succeeded":
        raise WorkflowError(f"run {started.run_id} succeeded: nothing to resume")
    text = _recorded_spec(run_dir)
    spec_file = started.spec_file
    spec = load_workflow(
        text=text,
        variables=variables,
        filename=spec_file or f"{run_dir}/workflow.yaml",
        base_dir=Path(spec_file).parent if spec_file else None,
    )
    # The run was given another model than its YAML says (--model, RunOptions.model): the run
    # that continues it keeps that model, for every node, as the option did.
    model = started.model if started.model and started.model != spec.model else None
    known = {n.id for n in spec.nodes}
    return spec, {k: v for k, v in outputs.items() if k in known}, started.run_id, model


def latest_segment(run: str | os.PathLike[str], runs_dir: str | os.PathLike[str]) -> Path:
    """The folder a resume continues: the last segment of the run that ``run`` names (any of
    its segments' ids, as ``nbworkflow runs`` shows the first). Resuming an older segment again
    would fork the run and redo what a later segment already did."""
    return find_logical_run(str(run), runs_dir).last.path


def _recorded_spec(run_dir: Path) -> str:
    """The spec the old run recorded, or a ``WorkflowError`` naming the damaged file."""
    path = run_dir / "workflow.yaml"
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise WorkflowError(f"{path} is missing: this run cannot be resumed") from None
    except OSError as exc:
        raise WorkflowError(f"cannot read {path}: {exc.strerror}; it cannot be resumed") from None
    except UnicodeDecodeError as exc:
        raise WorkflowError(
            f"{path} is damaged (not UTF-8 at byte {exc.start}): this run cannot be resumed"
        ) from None


async def aresume_workflow(
    run: str | os.PathLike[str],
    *,
    runs_dir: str | os.PathLike[str] = DEFAULT_ROOT,
    variables: Mapping[str, Any] | None = None,
    decisions: Mapping[str, HumanDecision] | None = None,
    options: RunOptions | None = None,
    **kwargs: Any,
) -> RunResult:
    """Continue run ``run`` (id, prefix, folder or ``last``) in a new run; see module docstring.

    ``decisions`` answer waiting nodes (``{node_id: HumanDecision("approve", who="ada")}``);
    a decision for a node that does not wait, or not among its choices, raises
    ``WorkflowError`` before anything runs. Other arguments as for ``arun_workflow``.
    """
    state = load_resume_state(run, runs_dir, variables)
    state.check(decisions or {})
    options = options or RunOptions()
    options = replace(
        options,
        resume_points=state.points,
        model=options.model or state.model,
        spent_before=state.spent,
    )
    return await arun_workflow(
        state.spec,
        runs_dir=runs_dir,
        reuse=state.outputs,
        resumed_from=state.old_id,
        decisions=decisions,
        options=options,
        **kwargs,
    )


def resume_workflow(run: str | os.PathLike[str], **kwargs: Any) -> RunResult:
    """Sync twin of ``aresume_workflow``."""
    return run_workflow_sync(aresume_workflow(run, **kwargs))


__all__ = [
    "RestoreWarning",
    "ResumeState",
    "aresume_workflow",
    "latest_segment",
    "load_resume",
    "load_resume_state",
    "restorable",
    "resume_point",
    "resume_workflow",
    "waiting_nodes",
]

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
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import boundedjson
from . import events as ev
from .approval import ApprovalRequest, HumanDecision, check_decision
from .engine import RunResult, arun_workflow, run_workflow_sync
from .exceptions import WorkflowError
from .nodes.base import NodeOutput, RunOptions
from .runlog import DEFAULT_ROOT, find_run, read_events
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
                # Located at the damaged file; in <...> so that printing the warning never
                # reads it (linecache skips such names), whatever path the event names.
                warnings.warn_explicit(
                    f"node '{event.node_id}' is not restored from {run_dir.name}: {restored}; "
                    "it runs again",
                    RestoreWarning,
                    f"<{run_dir / (event.artifact or '')}>",
                    0,
                    module=__name__,
                )
        elif isinstance(event, ev.RunFinished):
            status = event.status.value
    if started is None:
        raise WorkflowError(f"{run_dir} has no run_started event: nothing to resume")
    return started, outputs, status


def _verified(run_dir: Path, event: ev.NodeFinished) -> NodeOutput | str:
    """The node's output from its artifact, or why it cannot be trusted."""
    rel = event.artifact or ""
    root = run_dir.resolve()
    path = (run_dir / rel).resolve()
    if Path(rel).is_absolute() or not path.is_relative_to(root) or path == root:
        return f"its artifact path {rel!r} points outside the run folder"
    if not event.artifact_sha256:
        return "no hash was recorded for its artifact (a run from before hashes), so it cannot be verified"
    try:
        if path.stat().st_size > MAX_ARTIFACT_BYTES:
            return f"its artifact {rel} is larger than {MAX_ARTIFACT_BYTES // 2**20} MB"
        blob = path.read_bytes()
    except OSError as exc:
        return f"its artifact {rel} cannot be read ({exc.strerror or type(exc).__name__})"
    if hashlib.sha256(blob).hexdigest() != event.artifact_sha256:
        return f"its artifact {rel} changed since it was written (SHA-256 differs)"
    try:
        content = blob.decode("utf-8")
    except UnicodeDecodeError:
        return f"its artifact {rel} is not UTF-8 text"
    fmt = _FORMAT_BY_SUFFIX.get(path.suffix, "text")
    data = None
    if fmt == "json":
        try:
            data = boundedjson.loads(content)
        except ValueError as exc:
            return f"its artifact {rel} is not valid JSON ({exc})"
    return NodeOutput(fmt, content, data)


def waiting_nodes(run_dir: Path) -> dict[str, ev.NodeWaiting]:
    """Nodes whose last word in the run was ``node_waiting``, by id."""
    out: dict[str, ev.NodeWaiting] = {}
    for event in read_events(run_dir):
        if isinstance(event, ev.NodeWaiting):
            out[event.node_id] = event
        elif isinstance(event, (ev.NodeStarted, ev.NodeFinished, ev.NodeFailed)):
            out.pop(event.node_id, None)
    return out


def resume_point(run_dir: Path, event: ev.NodeWaiting) -> dict[str, Any] | None:
    """What a waiting adaptive node needs to continue (``RunOptions.resume_points``), with its
    codes read back from the artifacts; ``None`` when there is nothing to restore."""
    data = dict(event.data)
    artifact = data.get("artifact")
    if not artifact:
        return None
    try:
        data["code"] = (run_dir / artifact).read_text(encoding="utf-8")
        prev = data.get("prev_artifact")
        data["prev_code"] = (run_dir / prev).read_text(encoding="utf-8") if prev else None
    except OSError:
        return None  # artifacts gone: the node starts over
    data["from_run"] = event.run_id
    data["log"] = [dict(e) for e in event.log]
    return data


@dataclass
class ResumeState:
    """Everything ``resume`` takes from an old run folder."""

    spec: WorkflowSpec
    outputs: dict[str, NodeOutput]
    """Outputs of the nodes that succeeded there."""
    old_id: str
    waiting: dict[str, ApprovalRequest]
    """What each waiting node asked."""
    points: dict[str, dict[str, Any]]
    """Where each waiting adaptive node continues."""

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
    spec, outputs, old_id = load_resume(run, runs_dir, variables)
    run_dir = find_run(str(run), runs_dir)
    known = {n.id for n in spec.nodes}
    waiting = {k: v for k, v in waiting_nodes(run_dir).items() if k in known}
    points = {k: p for k, e in waiting.items() if (p := resume_point(run_dir, e)) is not None}
    requests = {k: ApprovalRequest.from_event(e) for k, e in waiting.items()}
    return ResumeState(spec, outputs, old_id, requests, points)


def load_resume(
    run: str | os.PathLike[str],
    runs_dir: str | os.PathLike[str] = DEFAULT_ROOT,
    variables: Mapping[str, Any] | None = None,
) -> tuple[WorkflowSpec, dict[str, NodeOutput], str]:
    run_dir = find_run(str(run), runs_dir)
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
    if started.model and started.model != spec.model:
        # The run used another model than its YAML says (a notebook's --model, a copy made
        # in Python): the run that continues it keeps that model.
        spec = spec.model_copy(update={"model": started.model})
    known = {n.id for n in spec.nodes}
    return spec, {k: v for k, v in outputs.items() if k in known}, started.run_id


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
    options = replace(options or RunOptions(), resume_points=state.points)
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
    "load_resume",
    "load_resume_state",
    "restorable",
    "resume_point",
    "resume_workflow",
    "waiting_nodes",
]

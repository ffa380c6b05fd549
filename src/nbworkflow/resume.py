"""Resume a failed, cancelled or interrupted run from its run folder.

The new run links to the old one (``resumed_from``), re-reads the spec the old run recorded,
restores every node that succeeded there from its artifact (no model call, no sandbox), and
runs only what did not finish. A node that was running when the process died (kill -9, kernel
restart) has no ``node_finished`` event, so it runs again: at-least-once for unfinished nodes,
never twice for finished ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import events as ev
from .engine import RunResult, arun_workflow, run_workflow_sync
from .exceptions import WorkflowError
from .nodes.base import NodeOutput
from .runlog import DEFAULT_ROOT, find_run, read_events
from .spec import WorkflowSpec, load_workflow

_FORMAT_BY_SUFFIX = {".py": "code", ".md": "text", ".json": "json"}


def restorable(run_dir: Path) -> tuple[ev.RunStarted, dict[str, NodeOutput], str]:
    """The old run's start event, the outputs of its succeeded nodes, and how it ended."""
    started: ev.RunStarted | None = None
    outputs: dict[str, NodeOutput] = {}
    status = "interrupted"
    for event in read_events(run_dir):
        if isinstance(event, ev.RunStarted):
            started = event
        elif isinstance(event, ev.NodeFinished) and event.artifact:
            path = run_dir / event.artifact
            try:
                content = path.read_text(encoding="utf-8")
            except OSError:
                continue  # artifact missing: the node runs again
            fmt = _FORMAT_BY_SUFFIX.get(path.suffix, "text")
            data = None
            if fmt == "json":
                try:
                    data = json.loads(content)
                except ValueError:
                    continue
            outputs[event.node_id] = NodeOutput(fmt, content, data)
        elif isinstance(event, ev.RunFinished):
            status = event.status.value
    if started is None:
        raise WorkflowError(f"{run_dir} has no run_started event: nothing to resume")
    return started, outputs, status


def load_resume(
    run: str | os.PathLike[str],
    runs_dir: str | os.PathLike[str] = DEFAULT_ROOT,
    variables: Mapping[str, Any] | None = None,
) -> tuple[WorkflowSpec, dict[str, NodeOutput], str]:
    run_dir = find_run(str(run), runs_dir)
    started, outputs, status = restorable(run_dir)
    if status == "succeeded":
        raise WorkflowError(f"run {started.run_id} succeeded: nothing to resume")
    text = (run_dir / "workflow.yaml").read_text(encoding="utf-8")
    spec_file = started.spec_file
    spec = load_workflow(
        text=text,
        variables=variables,
        filename=spec_file or f"{run_dir}/workflow.yaml",
        base_dir=Path(spec_file).parent if spec_file else None,
    )
    known = {n.id for n in spec.nodes}
    return spec, {k: v for k, v in outputs.items() if k in known}, started.run_id


async def aresume_workflow(
    run: str | os.PathLike[str],
    *,
    runs_dir: str | os.PathLike[str] = DEFAULT_ROOT,
    variables: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> RunResult:
    """Continue run ``run`` (id, prefix, folder or ``last``) in a new run; see module docstring."""
    spec, outputs, old_id = load_resume(run, runs_dir, variables)
    return await arun_workflow(
        spec, runs_dir=runs_dir, reuse=outputs, resumed_from=old_id, **kwargs
    )


def resume_workflow(run: str | os.PathLike[str], **kwargs: Any) -> RunResult:
    """Sync twin of ``aresume_workflow``."""
    return run_workflow_sync(aresume_workflow(run, **kwargs))


__all__ = ["aresume_workflow", "load_resume", "restorable", "resume_workflow"]

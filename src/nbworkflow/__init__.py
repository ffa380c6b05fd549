"""nbworkflow: turn a notebook cell into a secure, adaptive, auditable agent workflow.

Python API::

    from nbworkflow import load_workflow, run_workflow
    spec = load_workflow("workflow.yaml")            # raises SpecError with file:line:col
    result = run_workflow(spec, provider="scripted", provider_options={"script": "script.yaml"})
    batch = run_workflows(spec, inputs="items.jsonl")  # one run per item: a BatchResult

In a notebook: ``%load_ext nbworkflow`` then a ``%%workflow`` cell holding the YAML.
Importing this package is cheap: every name below loads its module on first use, so
``%load_ext nbworkflow`` costs milliseconds and the anthropic SDK loads only for live calls.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _t

from .exceptions import (
    CycleError,
    NodeFailed,
    OutputValidationError,
    ProviderError,
    RunCancelled,
    SandboxError,
    SandboxUnavailable,
    SpecError,
    StagingError,
    WorkflowError,
)

# Eager on purpose: the function shares its name with its module, and a lazy attribute would be
# shadowed by the submodule as soon as anything imports ``nbworkflow.sanitize``.
from .sanitize import sanitize

if _t.TYPE_CHECKING:
    from .approval import (
        ApprovalRequest,
        Approver,
        AutoApprover,
        DecisionsApprover,
        HumanDecision,
        PendingApprover,
    )
    from .batch import BatchResult, arun_workflows, run_workflows
    from .config import RunOptions
    from .engine import RunResult, arun_workflow, run_workflow
    from .events import NodeStatus, RunStatus
    from .resume import aresume_workflow, resume_workflow
    from .runlog import find_run, list_runs, read_events
    from .sandbox import SandboxResult, arun_code, run_code
    from .spec import WorkflowSpec, json_schema, load_workflow

__version__ = "0.1.0"

_LAZY = {
    "nbworkflow.approval": (
        "ApprovalRequest",
        "Approver",
        "AutoApprover",
        "DecisionsApprover",
        "HumanDecision",
        "PendingApprover",
    ),
    "nbworkflow.batch": ("BatchResult", "arun_workflows", "run_workflows"),
    "nbworkflow.config": ("RunOptions",),
    "nbworkflow.engine": ("RunResult", "arun_workflow", "run_workflow"),
    "nbworkflow.events": ("NodeStatus", "RunStatus"),
    "nbworkflow.resume": ("aresume_workflow", "resume_workflow"),
    "nbworkflow.runlog": ("find_run", "list_runs", "read_events"),
    "nbworkflow.sandbox": ("SandboxResult", "arun_code", "run_code"),
    "nbworkflow.spec": ("WorkflowSpec", "json_schema", "load_workflow"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> _t.Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'nbworkflow' has no attribute '{name}'")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


def load_ipython_extension(ipython: _t.Any) -> None:
    """``%load_ext nbworkflow``: registers ``%%workflow`` and ``%workflow``."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "ApprovalRequest",
    "Approver",
    "AutoApprover",
    "BatchResult",
    "CycleError",
    "DecisionsApprover",
    "HumanDecision",
    "NodeFailed",
    "NodeStatus",
    "OutputValidationError",
    "PendingApprover",
    "ProviderError",
    "RunCancelled",
    "RunOptions",
    "RunResult",
    "RunStatus",
    "SandboxError",
    "SandboxResult",
    "SandboxUnavailable",
    "SpecError",
    "StagingError",
    "WorkflowError",
    "WorkflowSpec",
    "__version__",
    "aresume_workflow",
    "arun_code",
    "arun_workflow",
    "arun_workflows",
    "find_run",
    "json_schema",
    "list_runs",
    "load_ipython_extension",
    "load_workflow",
    "read_events",
    "resume_workflow",
    "run_code",
    "run_workflow",
    "run_workflows",
    "sanitize",
]

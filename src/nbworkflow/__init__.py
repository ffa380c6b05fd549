"""nbworkflow: turn a notebook cell into a secure, adaptive, auditable agent workflow.

Python API::

    from nbworkflow import load_workflow, run_workflow
    spec = load_workflow("workflow.yaml")            # raises SpecError with file:line:col
    result = run_workflow(spec, provider="scripted", provider_options={"script": "script.yaml"})

In a notebook: ``%load_ext nbworkflow`` then a ``%%workflow`` cell holding the YAML.
Importing this package is cheap: the sandbox, the anthropic SDK and IPython load on first use.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _t

from .approval import (
    ApprovalRequest,
    Approver,
    AutoApprover,
    DecisionsApprover,
    HumanDecision,
    PendingApprover,
)
from .engine import RunResult, arun_workflow, run_workflow
from .events import NodeStatus, RunStatus
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
from .resume import aresume_workflow, resume_workflow
from .runlog import find_run, list_runs, read_events
from .sanitize import sanitize
from .spec import WorkflowSpec, json_schema, load_workflow

if _t.TYPE_CHECKING:
    from .sandbox import SandboxResult, arun_code, run_code

__version__ = "0.1.0"

_LAZY = {
    "SandboxResult": "nbworkflow.sandbox",
    "arun_code": "nbworkflow.sandbox",
    "run_code": "nbworkflow.sandbox",
}


def __getattr__(name: str) -> _t.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbworkflow' has no attribute '{name}'")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: _t.Any) -> None:
    """``%load_ext nbworkflow``: registers ``%%workflow`` and ``%workflow``."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "ApprovalRequest",
    "Approver",
    "AutoApprover",
    "CycleError",
    "DecisionsApprover",
    "HumanDecision",
    "NodeFailed",
    "NodeStatus",
    "OutputValidationError",
    "PendingApprover",
    "ProviderError",
    "RunCancelled",
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
    "find_run",
    "json_schema",
    "list_runs",
    "load_ipython_extension",
    "load_workflow",
    "read_events",
    "resume_workflow",
    "run_code",
    "run_workflow",
    "sanitize",
]

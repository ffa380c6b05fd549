"""Many inputs, many workflows: ``run_workflows`` on one event loop or on a Dask cluster.

Layering: ``batch`` sits on the engine's public API (``arun_workflow``) and below the CLI,
magics and widgets; Dask is imported only by ``dask_executor``, when a batch asks for it.
"""

from __future__ import annotations

from .items import item_key, load_items
from .manifest import read_manifest
from .plan import WorkflowText
from .result import (
    BatchFinished,
    BatchResult,
    BatchStarted,
    BatchUpdate,
    ItemDone,
    ItemEvent,
    ItemOutput,
    ItemResult,
    Watcher,
)
from .run import arun_workflows, run_workflows
from .task import RunTask

__all__ = [
    "BatchFinished",
    "BatchResult",
    "BatchStarted",
    "BatchUpdate",
    "ItemDone",
    "ItemEvent",
    "ItemOutput",
    "ItemResult",
    "RunTask",
    "Watcher",
    "WorkflowText",
    "arun_workflows",
    "item_key",
    "load_items",
    "read_manifest",
    "run_workflows",
]

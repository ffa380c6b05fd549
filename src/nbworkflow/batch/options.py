"""What ``--map`` and ``--cluster`` mean, for the CLI (``nbworkflow run FILE --map items.jsonl``)
and the magic (``%%workflow --map VAR_OR_FILE [--cluster local | ADDRESS]``) alike.

Both parse their own arguments and call ``run_mapped``; both print ``batch_lines``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..exceptions import WorkflowError
from .items import load_items
from .result import BatchResult
from .run import arun_workflows, run_workflows

MAX_FAILURE_LINES = 10


def map_inputs(value: str, namespace: Mapping[str, Any] | None = None) -> Any:
    """``--map``'s items: a variable of the notebook (a list of mappings, or anything with
    ``to_dict("records")`` such as a pandas DataFrame) or a ``.jsonl`` / ``.csv`` file."""
    if namespace is not None and value.isidentifier() and value in namespace:
        obj = namespace[value]
        if hasattr(obj, "to_dict") and not isinstance(obj, Mapping):
            obj = obj.to_dict("records")
        if isinstance(obj, (str, Mapping)) or not hasattr(obj, "__iter__"):
            raise WorkflowError(
                f"--map {value}: the variable holds a {type(obj).__name__}; give a list of "
                "items (dicts), a DataFrame, or a .jsonl/.csv file"
            )
        return load_items(list(obj))
    path = Path(value)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".csv") and path.is_file():
        return str(path)
    hint = ""
    if namespace is not None:
        names = [k for k in namespace if not k.startswith("_") and isinstance(k, str)]
        close = difflib.get_close_matches(value, names, n=1)
        hint = f" (did you mean the variable '{close[0]}'?)" if close else ""
    where = "a variable of this notebook or " if namespace is not None else ""
    raise WorkflowError(
        f"--map {value}: no such {'variable or ' if namespace is not None else ''}file{hint}; "
        f"give {where}a .jsonl (one JSON object a line) or .csv file"
    )


def executor_options(cluster: str | None) -> dict[str, Any]:
    """``--cluster``: none -> one event loop; ``local`` -> a LocalCluster; else its address."""
    if cluster is None or cluster == "":
        return {"executor": "local"}
    if cluster == "local":
        return {"executor": "dask"}
    if "://" not in cluster:
        if ":" not in cluster:
            raise WorkflowError(
                f"--cluster {cluster}: give 'local' or a scheduler address (tcp://host:8786)"
            )
        cluster = f"tcp://{cluster}"
    return {"executor": "dask", "address": cluster}


def run_mapped(
    spec: Any,
    map_value: str,
    *,
    cluster: str | None = None,
    namespace: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> BatchResult:
    """What ``--map`` runs: the workflow over the mapped items (see the module docstring)."""
    return run_workflows(
        spec, map_inputs(map_value, namespace), **executor_options(cluster), **kwargs
    )


async def arun_mapped(
    spec: Any,
    map_value: str,
    *,
    cluster: str | None = None,
    namespace: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> BatchResult:
    return await arun_workflows(
        spec, map_inputs(map_value, namespace), **executor_options(cluster), **kwargs
    )


def batch_lines(result: BatchResult) -> list[str]:
    """The batch as plain lines: summary, the batch folder, then each failure (a few)."""
    lines = [result.summary()]
    if result.dashboard:
        lines.append(f"dashboard: {result.dashboard}")
    if result.batch_dir is not None:
        lines.append(f"batch folder: {result.batch_dir} (resume: same batch id {result.batch_id})")
    failures = result.failures
    for r in failures[:MAX_FAILURE_LINES]:
        where = f" ({r.run_dir})" if r.run_dir else ""
        lines.append(f"  item {r.index} {r.status}: {r.message}{where}")
    if len(failures) > MAX_FAILURE_LINES:
        lines.append(f"  ... and {len(failures) - MAX_FAILURE_LINES} more not succeeded")
    return lines


def exit_code(result: BatchResult) -> int:
    """0 when every item succeeded, else 1 (as ``nbworkflow run`` for one run)."""
    return 0 if result.ok else 1


__all__ = [
    "arun_mapped",
    "batch_lines",
    "executor_options",
    "exit_code",
    "map_inputs",
    "run_mapped",
]

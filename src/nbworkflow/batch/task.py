"""One item's run as a self-contained task: what crosses the wire, and what runs on a worker.

A ``RunTask`` holds the workflow as written (``source_text``: before ``${VAR}`` interpolation,
so without secret values), the variables that are not secrets, the item's fields, the content
of the ``file:`` inputs (read in the notebook: a worker may not see the notebook's disk), the
provider as a name (or an object that pickles as name + options) and options with no secret
in them. Secrets go by name only (``secret_names``): ``execute`` resolves them on the worker,
from its environment, when it loads the spec there.

``execute`` is the same coroutine in the notebook (the local executor) and on a Dask worker.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import ModelCalled, RunEvent
from ..exceptions import WorkflowError
from .result import ERROR, ItemOutput, ItemResult

Emit = Callable[[RunEvent], None]

_LOADED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
"""Specs loaded in this process, by batch, text and variables: the items of a batch whose
workflow does not name item fields share one loaded (frozen) spec and what the engine derives
from it, instead of parsing it again per item (~3 ms for the CRM workflow)."""
_LOADED_MAX = 16


@dataclass(slots=True)
class RunTask:
    """Everything one item's run needs, and nothing secret (see the module docstring)."""

    index: int
    key: str
    workflow: str
    item: dict[str, Any]
    source_text: str
    filename: str
    base_dir: str
    variables: dict[str, str]
    """Loader variables: the notebook's non-secret ones and the item's (``item__field``)."""
    run_id: str
    runs_dir: str | None
    provider: Any = None
    """A provider name, or a provider object (one that pickles as name + options)."""
    provider_options: dict[str, Any] = field(default_factory=dict)
    run_options: dict[str, Any] = field(default_factory=dict)
    """Further ``arun_workflow`` keyword arguments (max_concurrency, fail_fast, cache, ...)."""
    files: dict[str, str] | None = None
    """``file:`` input as written -> its content; ``None``: read them where the spec says."""
    secret_names: tuple[str, ...] = ()
    """Environment variables the run needs and that were not sent: the worker must have them."""
    use_env: bool = True
    ship_run: bool = False
    """Send the run folder back in the result (workers without a disk shared with the notebook)."""
    topic: str | None = None
    """Dask event topic the worker streams this run's events to."""
    batch_id: str = ""


def _staged_spec(task: RunTask, folder: Path) -> Any:
    """The spec loaded with its ``file:`` inputs written under ``folder`` (the new base dir)."""
    from ..spec import load_workflow

    key: tuple[Any, ...] | None = None
    if task.files is None and task.batch_id:
        variables = tuple(sorted(task.variables.items()))
        key = (task.batch_id, task.source_text, task.filename, task.base_dir, variables)
        if (cached := _LOADED.get(key)) is not None:
            _LOADED.move_to_end(key)
            return cached
    spec = load_workflow(
        text=task.source_text,
        variables=task.variables,
        use_env=task.use_env,
        filename=task.filename,
        base_dir=folder if task.files is not None else task.base_dir,
    )
    if key is not None:
        _LOADED[key] = spec
        if len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    if not task.files:
        return spec
    staged: dict[str, str] = {}
    for i, (written, content) in enumerate(sorted(task.files.items())):
        name = f"{i:03d}-{Path(written).name or 'input'}"
        (folder / name).write_text(content, encoding="utf-8")
        staged[written] = name
    nodes = tuple(
        node.model_copy(
            update={
                "inputs": tuple(
                    inp.model_copy(update={"file": staged[inp.file]}) if inp.file in staged else inp
                    for inp in node.inputs
                )
            }
        )
        if any(inp.file in staged for inp in node.inputs)
        else node
        for node in spec.nodes
    )
    # What the spec derives from its nodes is memoised per nodes tuple: a copy with new nodes
    # derives again.
    return spec.model_copy(update={"nodes": nodes})


def _missing_secrets(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not os.environ.get(n)]


def _where() -> str:
    # On a worker, distributed is loaded already; elsewhere it must not be imported for this.
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return "local"
    try:
        return str(distributed.get_worker().address)
    except ValueError:
        return "local"


def _archive(run_dir: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        tar.add(run_dir, arcname=run_dir.name)
    return buf.getvalue()


def unpack_run(archive: bytes, runs_dir: Path) -> Path:
    """Unpack a shipped run folder under ``runs_dir``; refuses paths that leave it."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
        tar.extractall(runs_dir, filter="data")
    return runs_dir / names[0].split("/")[0]


async def execute(task: RunTask, emit: Emit | None = None) -> ItemResult:
    """Run one item's workflow to its end and describe it; never raises for a failed run."""
    from ..engine import arun_workflow

    where = _where()
    t0 = time.perf_counter()
    result = ItemResult(task.index, task.key, task.workflow, task.item, ERROR, worker=where)
    missing = _missing_secrets(task.secret_names)
    if missing:
        result.message = (
            f"{', '.join(missing)} not set on {where}: secrets are never sent with a task; set "
            "them in the workers' environment before they start (see docs/batch.md, 'Secrets')"
        )
        return result
    costs: list[float] = []

    def watch(event: RunEvent) -> None:
        if isinstance(event, ModelCalled) and event.cost_usd is not None:
            costs.append(event.cost_usd)
        if emit is not None:
            emit(event)

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nbw-item-")))
        runs_dir = task.runs_dir
        run_options = dict(task.run_options)
        if task.ship_run and runs_dir is not None:
            runs_dir = str(scratch / "runs")
            # The node cache stays on this worker (one per batch), so an item run again here
            # reuses its nodes' work.
            cache = Path(tempfile.gettempdir()) / f"nbworkflow-cache-{task.batch_id or 'adhoc'}"
            run_options.setdefault("cache", cache)
        run_id = task.run_id
        if runs_dir is not None and (Path(runs_dir) / run_id).exists():
            # A previous attempt (its worker died) left a partial folder: keep it, start anew.
            run_id = f"{run_id}-r{time.time_ns() % 1_000_000:06d}"
        try:
            spec = _staged_spec(task, scratch)
            run = await arun_workflow(
                spec,
                provider=task.provider,
                provider_options=task.provider_options,
                runs_dir=runs_dir,
                subscribers=[watch],
                run_id=run_id,
                **run_options,
            )
        except WorkflowError as exc:
            result.message = str(exc)
            result.duration_s = round(time.perf_counter() - t0, 4)
            return result
        result.status = run.status.value
        result.run_id = run.run_id
        result.run_dir = str(run.run_dir) if runs_dir is not None else ""
        result.outputs = {
            nid: ItemOutput(out.format, out.content, out.data) for nid, out in run.outputs.items()
        }
        result.input_tokens = run.state.input_tokens
        result.output_tokens = run.state.output_tokens
        result.cost_usd = round(sum(costs), 6) if costs else None
        result.message = _failure(run.state)
        if task.ship_run and runs_dir is not None:
            result.archive = _archive(Path(runs_dir) / run.run_id)
            shutil.rmtree(Path(runs_dir) / run.run_id, ignore_errors=True)
    result.duration_s = round(time.perf_counter() - t0, 4)
    return result


def _failure(state: Any) -> str:
    if state.status.value == "succeeded":
        return ""
    bad = [
        f"{nid}: {n.message}"
        for nid, n in state.nodes.items()
        if n.status.value in ("failed", "waiting", "cancelled") and n.message
    ]
    return "; ".join(bad) or state.message


def local_files(spec: Any) -> dict[str, str]:
    """The content of every ``file:`` input of a spec, read here (for workers elsewhere)."""
    files: dict[str, str] = {}
    for node in spec.nodes:
        for inp in node.inputs:
            if inp.file and inp.file not in files:
                path = Path(inp.file)
                if not path.is_absolute():
                    path = spec.base_dir / path
                try:
                    files[inp.file] = path.read_text(encoding="utf-8", errors="replace")
                except OSError as exc:
                    raise WorkflowError(
                        f"{spec.where(node.id)}: node '{node.id}': input file {inp.file} cannot "
                        f"be read here ({exc.strerror}); file inputs are read in the notebook and "
                        f"sent to the workers; paths are relative to {spec.base_dir}"
                    ) from exc
    return files


def secret_free(options: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Options without secret-named entries (``api_key``...), and the names taken out."""
    from ..sanitize import is_secret_name

    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for k, v in options.items():
        if is_secret_name(k):
            dropped.append(k)
        elif isinstance(v, Mapping):
            inner, gone = secret_free(v)
            kept[k] = inner
            dropped += [f"{k}.{g}" for g in gone]
        else:
            kept[k] = v
    return kept, dropped


__all__ = ["RunTask", "execute", "local_files", "secret_free", "unpack_run"]

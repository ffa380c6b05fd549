"""``run_workflows``: one or many workflows over many inputs, locally or on a Dask cluster.

The notebook side of a batch: ``plan`` loads and checks the workflows and builds the tasks;
this module hands them to an executor (one event loop here, or ``dask_executor``), tells the
watchers, and records each result in the batch manifest as it comes back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from ..events import RunEvent
from ..exceptions import WorkflowError
from ..runlog import DEFAULT_ROOT
from .items import load_items
from .manifest import ManifestWriter, batch_dir_for, new_batch_id, succeeded
from .plan import build_plan, check_payload, read_source, secret_values
from .result import (
    BatchFinished,
    BatchResult,
    BatchStarted,
    ItemDone,
    ItemEvent,
    ItemResult,
    Watcher,
)
from .task import RunTask, execute, unpack_run

Executor = Literal["local", "dask"]
DEFAULT_CONCURRENCY = 32
"""Items in flight at once when ``max_concurrency`` is not given (local executor)."""
_OWN = frozenset({"spec", "run_id", "reuse", "resumed_from"})
"""``arun_workflow`` arguments a batch sets per item itself (or that make no sense for many)."""


def _passed_on() -> frozenset[str]:
    """The ``arun_workflow`` keywords a batch hands on to every run (whatever the engine takes)."""
    import inspect

    from ..engine import arun_workflow

    return frozenset(inspect.signature(arun_workflow).parameters) - _OWN


async def arun_workflows(
    spec_or_specs: Any,
    inputs: Sequence[Any] | str | os.PathLike[str] | None = None,
    *,
    executor: Executor = "local",
    address: Any = None,
    max_concurrency: int | None = None,
    workers: int | None = None,
    batch_id: str | None = None,
    watchers: Sequence[Watcher] = (),
    shared_disk: bool | None = None,
    node_concurrency: int | None = None,
    provider: Any = None,
    provider_options: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    runs_dir: str | os.PathLike[str] | None = DEFAULT_ROOT,
    subscribers: Sequence[Any] = (),
    **run_kwargs: Any,
) -> BatchResult:
    """Run workflow(s) over items; see ``run_workflows``."""
    if executor not in ("local", "dask"):
        raise WorkflowError(f"executor={executor!r}: use 'local' or 'dask'")
    if address is not None and executor != "dask":
        executor = "dask"
    unknown = sorted(set(run_kwargs) - _passed_on())
    if unknown:
        raise WorkflowError(
            f"run_workflows() got unexpected argument(s) {', '.join(unknown)}; it takes "
            f"run_workflow's arguments except run_id/reuse/resumed_from (one run per item)"
        )
    if max_concurrency is not None and max_concurrency < 1:
        raise WorkflowError(f"max_concurrency={max_concurrency}: give at least 1")
    remote = executor == "dask"
    if remote and run_kwargs.get("known_secrets"):
        raise WorkflowError(
            "known_secrets are values, and values would travel to the workers: list their "
            "environment variable names under the workflow's 'secrets:' instead (read on workers)"
        )
    specs = list(spec_or_specs) if isinstance(spec_or_specs, (list, tuple)) else [spec_or_specs]
    if not specs:
        raise WorkflowError("run_workflows() got no workflow")
    items = load_items(inputs) if inputs is not None else [{}]
    if not items:
        raise WorkflowError("inputs: the list of items is empty; give at least one item")
    variables = dict(variables or {})
    # runs_dir=None, as for run_workflow: no run folders, so no manifest and no resume either.
    runs_root = None if runs_dir is None else Path(runs_dir).resolve()
    sources = [read_source(s, variables, items[0], remote) for s in specs]
    run_options = dict(run_kwargs)
    if node_concurrency is not None:
        run_options["max_concurrency"] = node_concurrency

    batch_id = batch_id or new_batch_id()
    folder = None if runs_root is None else batch_dir_for(runs_root, batch_id)
    plan = build_plan(
        sources,
        items,
        remote=remote,
        done_before=succeeded(folder) if folder is not None else {},
        provider=provider,
        provider_options=provider_options or {},
        run_options=run_options,
        runs_root=runs_root,
        batch_id=batch_id,
    )
    tasks, restored, errors, labels = plan.tasks, plan.restored, plan.errors, plan.labels
    results: dict[int, ItemResult] = {r.index: r for r in (*restored, *errors)}
    writer = ManifestWriter(folder) if folder is not None else None
    t0 = time.perf_counter()
    dashboard: str | None = None

    def notify(update: Any) -> None:
        for watcher in watchers:
            watcher(update)

    def on_event(index: int, event: RunEvent, worker: str = "") -> None:
        for sub in subscribers:
            sub(event)
        if watchers:
            notify(ItemEvent(index, event, worker))

    def on_done(result: ItemResult) -> None:
        if result.archive is not None and runs_root is not None:
            result.run_dir = str(unpack_run(result.archive, runs_root))
        result.archive = None
        results[result.index] = result
        if writer is not None:
            writer.add(result)
        notify(ItemDone(result))

    def on_started(link: str | None) -> None:
        nonlocal dashboard
        dashboard = link
        notify(BatchStarted(batch_id, len(sources) * len(items), labels, executor, link))
        for r in (*restored, *errors):
            notify(ItemDone(r))

    try:
        for r in errors:
            if writer is not None:
                writer.add(r)
        if remote:
            from .dask_executor import run_on_dask

            secrets = secret_values(sources, variables, provider_options or {}, plan.dropped)
            for task in tasks:
                check_payload(task, secrets)
            await run_on_dask(
                tasks,
                address=address,
                workers=workers,
                limit=max_concurrency,
                shared_disk=shared_disk,
                stream=bool(subscribers or watchers),
                on_started=on_started,
                on_event=on_event,
                on_done=on_done,
            )
        else:
            on_started(None)
            await _run_local(tasks, max_concurrency or DEFAULT_CONCURRENCY, on_event, on_done)
    finally:
        if writer is not None:
            writer.close()
    batch = BatchResult(
        batch_id,
        folder,
        [results[i] for i in sorted(results)],
        round(time.perf_counter() - t0, 4),
        executor,
        dashboard,
    )
    notify(BatchFinished(batch))
    return batch


async def _run_local(
    tasks: Sequence[RunTask],
    limit: int,
    on_event: Any,
    on_done: Any,
) -> None:
    """Every item as a task of this event loop, at most ``limit`` at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(task: RunTask) -> None:
        async with gate:
            result = await execute(task, lambda e: on_event(task.index, e))
        on_done(result)

    await asyncio.gather(*(one(t) for t in tasks))


def run_workflows(spec_or_specs: Any, inputs: Any = None, **kwargs: Any) -> BatchResult:
    """Run one workflow over many inputs, or many workflows, and return a ``BatchResult``.

    ``spec_or_specs``: a path, a ``WorkflowSpec``, a ``WorkflowText`` (YAML as text, with the
    file name and line offset its errors name) or a list of them (each over every item).
    ``inputs``: a list of items (mappings), or a ``.jsonl`` / ``.csv`` file; ``${item.field}``
    in the workflow is filled from each item (``None``: each workflow once).
    ``executor``: ``"local"`` (every item a task of one event loop) or ``"dask"`` (with
    ``address=None`` a ``LocalCluster`` of ``workers`` processes, default one per core; an
    address ``"tcp://..."`` or a ``distributed.Client`` uses that cluster).
    ``max_concurrency``: items in flight at once; ``node_concurrency``: nodes at once within a
    run (``run_workflow``'s ``max_concurrency``). ``batch_id``: the same id resumes a batch
    (items that succeeded are not run again). ``watchers``: callables receiving
    ``BatchUpdate``s (the live view). ``shared_disk``: whether workers write run folders where
    the notebook reads them (default: yes for a local cluster); otherwise they ship each run
    folder back compressed. Every other keyword is ``run_workflow``'s (provider,
    provider_options, variables, runs_dir, subscribers, fail_fast, cache, ...).
    """
    from ..engine import run_workflow_sync

    # run_workflow_sync runs any coroutine (typed for RunResult, its first use).
    return cast(
        BatchResult, run_workflow_sync(cast(Any, arun_workflows(spec_or_specs, inputs, **kwargs)))
    )


__all__ = ["arun_workflows", "check_payload", "run_workflows"]

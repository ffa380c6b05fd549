"""``run_workflows``: one or many workflows over many inputs, locally or on a Dask cluster.

The notebook side of a batch: load and check every workflow once (a spec error stops the batch
before anything runs), read the items and the ``file:`` inputs, build one ``RunTask`` per
(workflow, item) with no secret inside (checked on the pickled bytes before a task leaves),
skip the items the batch manifest says already succeeded, hand the rest to an executor, and
record each result in the manifest as it comes back.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from ..events import RunEvent
from ..exceptions import WorkflowError
from .items import item_key, item_refs, item_text, item_variables, load_items
from .manifest import ManifestWriter, batch_dir_for, new_batch_id, succeeded
from .result import (
    ERROR,
    BatchFinished,
    BatchResult,
    BatchStarted,
    ItemDone,
    ItemEvent,
    ItemResult,
    Watcher,
)
from .task import RunTask, execute, local_files, secret_free, unpack_run

Executor = Literal["local", "dask"]
DEFAULT_CONCURRENCY = 32
"""Items in flight at once when ``max_concurrency`` is not given (local executor)."""
_MIN_SECRET = 6
"""Shorter values are not looked for in payloads (``1``, ``true`` would match anything)."""
_PASSED_ON = frozenset(
    {
        "fail_fast",
        "token_budget",
        "handlers",
        "options",
        "cache",
        "rerun",
        "approver",
        "decisions",
        "known_secrets",
    }
)


@dataclass(slots=True)
class _Source:
    """One workflow of the batch, as the notebook loaded it."""

    name: str
    text: str
    """Its YAML with ``${item.x}`` written the way the loader accepts (``items.item_text``)."""
    filename: str
    base_dir: str
    variables: dict[str, str]
    secret_names: tuple[str, ...]
    refs: dict[str, bool]
    files: dict[str, str] | None


def _read_source(
    spec: Any, variables: Mapping[str, Any], first_item: Mapping[str, Any], remote: bool
) -> _Source:
    from ..sanitize import is_secret_name
    from ..spec import WorkflowSpec, load_workflow

    if isinstance(spec, WorkflowSpec):
        text, filename, base_dir = spec.source_text, spec.source_file, str(spec.base_dir)
        given = {**spec.variables, **variables}
        if not text:
            raise WorkflowError(
                "this WorkflowSpec has no source text (built in Python?): load it with "
                "load_workflow(path or text=...) so each item can be filled in"
            )
    else:
        path = Path(spec)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkflowError(f"cannot read the workflow file {path}: {exc.strerror}") from exc
        filename, base_dir, given = str(path), str(path.resolve().parent), dict(variables)
    refs = item_refs(text)
    text = item_text(text)
    # Checked here, once, with the first item's fields: a spec error stops the batch now.
    probe = {"item__" + r.replace(".", "__"): "0" for r in refs}
    probe.update(item_variables(first_item, dict.fromkeys(refs, False)))
    loaded = load_workflow(
        text=text, variables={**given, **probe}, filename=filename, base_dir=base_dir
    )
    secret = set(loaded.secrets)
    used = {k: v for k, v in loaded.variables.items() if not k.startswith("item__")}
    sendable = {k: str(v) for k, v in {**used, **given}.items() if not k.startswith("item__")}
    secret_names: tuple[str, ...] = ()
    if remote:
        names = [k for k in sendable if k in secret or is_secret_name(k)]
        sendable = {k: v for k, v in sendable.items() if k not in names}
        secret_names = tuple(sorted(set(names) | {s for s in secret if os.environ.get(s)}))
    return _Source(
        loaded.name,
        text,
        filename,
        base_dir,
        sendable,
        secret_names,
        refs,
        local_files(loaded) if remote else None,
    )


def _secret_values(
    sources: Sequence[_Source], variables: Mapping[str, Any], extra: Iterable[Any]
) -> dict[str, str]:
    """Name -> value of everything that must never be inside a task payload."""
    from ..sanitize import is_secret_name

    found = {k: v for k, v in os.environ.items() if is_secret_name(k)}
    for src in sources:
        found.update({n: os.environ[n] for n in src.secret_names if os.environ.get(n)})
    found.update({k: str(v) for k, v in variables.items() if is_secret_name(k)})
    found.update({f"known_secrets[{i}]": str(v) for i, v in enumerate(extra)})
    return {k: v for k, v in found.items() if len(v) >= _MIN_SECRET}


def check_payload(task: RunTask, secrets: Mapping[str, str]) -> bytes:
    """The task pickled, after checking that no secret value is in the bytes."""
    try:
        blob = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
    except (TypeError, AttributeError, pickle.PicklingError) as exc:
        raise WorkflowError(
            f"item {task.index} cannot be sent to the workers ({exc}): pass the provider by "
            "name (provider='anthropic', provider_options={...}) and only plain values"
        ) from exc
    for name, value in secrets.items():
        if value.encode("utf-8") in blob:
            raise WorkflowError(
                f"the value of {name} would travel inside item {task.index}'s task: secrets "
                "go by name only and are read on the workers; remove it from the variables, "
                "provider options or items and set it in the workers' environment "
                "(docs/batch.md, 'Secrets')"
            )
    return blob


def _label(item: Mapping[str, Any]) -> str:
    for value in item.values():
        if isinstance(value, (str, int, float)) and str(value).strip():
            text = str(value).strip().replace("\n", " ")
            return text if len(text) <= 40 else text[:39] + "…"
    return ""


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
    runs_dir: str | os.PathLike[str] | None = None,
    subscribers: Sequence[Any] = (),
    **run_kwargs: Any,
) -> BatchResult:
    """Run workflow(s) over items; see ``run_workflows``."""
    from ..runlog import DEFAULT_ROOT, new_run_id

    if executor not in ("local", "dask"):
        raise WorkflowError(f"executor={executor!r}: use 'local' or 'dask'")
    if address is not None and executor != "dask":
        executor = "dask"
    unknown = sorted(set(run_kwargs) - _PASSED_ON)
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
    variables = dict(variables or {})
    runs_root = Path(DEFAULT_ROOT if runs_dir is None else runs_dir).resolve()
    sources = [_read_source(s, variables, items[0], remote) for s in specs]

    options: dict[str, Any] = dict(provider_options or {})
    dropped: list[str] = []
    if remote:
        options, dropped = secret_free(options)
        if dropped:
            warnings.warn(
                f"provider option(s) {', '.join(dropped)} not sent to the Dask workers (secrets "
                "never travel in tasks): the workers' providers read their keys from their own "
                "environment (ANTHROPIC_API_KEY, OPENAI_API_KEY...), see docs/batch.md",
                UserWarning,
                stacklevel=2,
            )
    run_options = dict(run_kwargs)
    if node_concurrency is not None:
        run_options["max_concurrency"] = node_concurrency
    batch_id = batch_id or new_batch_id()
    folder = batch_dir_for(runs_root, batch_id)
    done_before = succeeded(folder)

    tasks: list[RunTask] = []
    restored: list[ItemResult] = []
    errors: list[ItemResult] = []
    labels: list[str] = []
    for s, src in enumerate(sources):
        src_key = item_key({"workflow": src.text})
        for i, item in enumerate(items):
            index = s * len(items) + i
            key = item_key({"w": src_key, "item": item})
            labels.append(f"{src.name} · {_label(item)}" if len(sources) > 1 else _label(item))
            if key in done_before:
                restored.append(replace(done_before[key], index=index, resumed=True))
                continue
            try:
                item_vars = item_variables(item, src.refs)
            except WorkflowError as exc:
                errors.append(ItemResult(index, key, src.name, item, ERROR, message=str(exc)))
                continue
            tasks.append(
                RunTask(
                    index=index,
                    key=key,
                    workflow=src.name,
                    item=item,
                    source_text=src.text,
                    filename=src.filename,
                    base_dir=src.base_dir,
                    variables={**src.variables, **item_vars},
                    run_id=new_run_id(src.name),
                    runs_dir=str(runs_root),
                    provider=provider,
                    provider_options=options,
                    run_options=run_options,
                    files=src.files,
                    secret_names=src.secret_names,
                    batch_id=batch_id,
                )
            )

    results: dict[int, ItemResult] = {r.index: r for r in (*restored, *errors)}
    writer = ManifestWriter(folder)
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
        if result.archive is not None:
            result.run_dir = str(unpack_run(result.archive, runs_root))
            result.archive = None
        results[result.index] = result
        writer.add(result)
        notify(ItemDone(result))

    total = len(sources) * len(items)
    try:
        for r in errors:
            writer.add(r)
        if remote:
            from .dask_executor import run_on_dask

            secrets = _secret_values(sources, variables, ())
            for name in dropped:
                value = _lookup(provider_options or {}, name)
                if value is not None and len(str(value)) >= _MIN_SECRET:
                    secrets[f"provider_options.{name}"] = str(value)
            for task in tasks:
                check_payload(task, secrets)
            started = False

            def on_started(link: str | None) -> None:
                nonlocal dashboard, started
                dashboard, started = link, True
                notify(BatchStarted(batch_id, total, labels, executor, link))
                for r in (*restored, *errors):
                    notify(ItemDone(r))

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
            notify(BatchStarted(batch_id, total, labels, executor))
            for r in (*restored, *errors):
                notify(ItemDone(r))
            await _run_local(tasks, max_concurrency or DEFAULT_CONCURRENCY, on_event, on_done)
    finally:
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


def _lookup(options: Mapping[str, Any], dotted: str) -> Any:
    value: Any = options
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


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

    ``spec_or_specs``: a path, a ``WorkflowSpec`` or a list of them (each over every item).
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

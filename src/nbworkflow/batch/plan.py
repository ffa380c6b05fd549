"""A batch's plan: each workflow loaded and checked once, one secret-free ``RunTask`` per
(workflow, item), the items a resumed batch already has, and the payload check.

A task carries the workflow as written (``${item.x}`` renamed for the loader), the variables
that are not secrets, the item's fields and, for workers elsewhere, the ``file:`` inputs'
content (per item when a path names an item field). ``check_payload`` pickles a task as Dask
will and looks for every secret value the notebook knows in the bytes.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..exceptions import WorkflowError
from .items import item_key, item_refs, item_text, item_variables
from .result import ERROR, ItemResult
from .task import RunTask, local_files, secret_free

_MIN_SECRET = 6
"""Shorter values are not looked for in payloads (``1``, ``true`` would match anything)."""
_MARK = "nbw-item-field-"


@dataclass(frozen=True, slots=True)
class WorkflowText:
    """A workflow's YAML given as text, with where it was written: a notebook cell is
    ``WorkflowText(cell, filename="<cell>", line_offset=1)``, so a spec error says
    ``<cell>:6:5`` for the editor's line 6. It cannot be loaded as a plain spec first when it
    uses ``${item.field}`` (a dotted name is no loader variable), hence this form."""

    text: str
    filename: str = "<workflow>"
    line_offset: int = 0
    """Lines above the YAML in the editor (the ``%%workflow`` line)."""
    base_dir: str | None = None
    """Where relative ``file:`` inputs resolve (default: the working directory)."""


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
    """The ``file:`` inputs' content, for workers elsewhere (``None``: read where they run)."""
    files_per_item: bool = False
    """A ``file:`` path names an item field: each item's files are read for it."""


def read_source(
    spec: Any, variables: Mapping[str, Any], first_item: Mapping[str, Any], remote: bool
) -> _Source:
    from ..sanitize import is_secret_name
    from ..spec import WorkflowSpec, load_workflow

    if isinstance(spec, WorkflowText):
        # Blank lines, not a shifted line count: every later load of the text (per item, on a
        # worker) then names the same editor lines.
        text = "\n" * max(spec.line_offset, 0) + spec.text
        filename, given = spec.filename, dict(variables)
        base_dir = str(Path(spec.base_dir or ".").resolve())
    elif isinstance(spec, WorkflowSpec):
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
    source = _Source(loaded.name, text, filename, base_dir, sendable, secret_names, refs, None)
    if remote:
        source.files_per_item = _files_name_items(source, given)
        source.files = None if source.files_per_item else local_files(loaded)
    return source


def _files_name_items(src: _Source, given: Mapping[str, Any]) -> bool:
    """Whether a ``file:`` path holds ``${item.x}`` (loaded once more with marked fields)."""
    from ..spec import load_workflow

    if not src.refs or "file" not in src.text:
        return False
    marked = {"item__" + r.replace(".", "__"): _MARK for r in src.refs}
    try:
        spec = load_workflow(
            text=src.text, variables={**given, **marked}, filename=src.filename, use_env=True
        )
    except WorkflowError:  # a field used where the marker does not fit: read per item
        return True
    return any(_MARK in (inp.file or "") for node in spec.nodes for inp in node.inputs)


def secret_values(
    sources: Sequence[_Source],
    variables: Mapping[str, Any],
    provider_options: Mapping[str, Any],
    dropped: Sequence[str],
) -> dict[str, str]:
    """Name -> value of everything that must never be inside a task payload."""
    from ..sanitize import is_secret_name

    found = {k: v for k, v in os.environ.items() if is_secret_name(k)}
    for src in sources:
        found.update({n: os.environ[n] for n in src.secret_names if os.environ.get(n)})
    found.update({k: str(v) for k, v in variables.items() if is_secret_name(k)})
    for name in dropped:
        value = _lookup(provider_options, name)
        if value is not None:
            found[f"provider_options.{name}"] = str(value)
    return {k: v for k, v in found.items() if len(v) >= _MIN_SECRET}


def check_payload(task: RunTask, secrets: Mapping[str, str]) -> bytes:
    """The task pickled as Dask will (cloudpickle: closures and lambdas go by value, and so
    does anything they hold), after checking that no secret value is in the bytes."""
    try:
        import cloudpickle  # type: ignore[import-untyped]

        dumps = cloudpickle.dumps
    except ImportError:  # Dask brings cloudpickle; without Dask nothing is sent anyway
        dumps = pickle.dumps
    try:
        blob: bytes = dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
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


def _lookup(options: Mapping[str, Any], dotted: str) -> Any:
    value: Any = options
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass(slots=True)
class Plan:
    tasks: list[RunTask] = field(default_factory=list)
    restored: list[ItemResult] = field(default_factory=list)
    """Items the manifest says succeeded before: not run again."""
    errors: list[ItemResult] = field(default_factory=list)
    """Items that cannot run (a field the workflow needs is missing...)."""
    labels: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Secret-named provider options kept out of the tasks."""


def build_plan(
    sources: Sequence[_Source],
    items: Sequence[dict[str, Any]],
    *,
    remote: bool,
    done_before: Mapping[str, ItemResult],
    provider: Any,
    provider_options: Mapping[str, Any],
    run_options: Mapping[str, Any],
    runs_root: Path | None,
    batch_id: str,
) -> Plan:
    from ..runlog import new_run_id

    plan = Plan()
    options: dict[str, Any] = dict(provider_options)
    if remote:
        options, plan.dropped = secret_free(options)
        if plan.dropped:
            warnings.warn(
                f"provider option(s) {', '.join(plan.dropped)} not sent to the Dask workers "
                "(secrets never travel in tasks): the workers' providers read their keys from "
                "their own environment (ANTHROPIC_API_KEY, OPENAI_API_KEY...), see docs/batch.md",
                UserWarning,
                stacklevel=3,
            )
    for s, src in enumerate(sources):
        src_key = item_key({"workflow": src.text})
        for i, item in enumerate(items):
            index = s * len(items) + i
            key = item_key({"w": src_key, "item": item})
            label = _label(item)
            plan.labels.append(f"{src.name} · {label}" if len(sources) > 1 else label)
            if key in done_before:
                plan.restored.append(replace(done_before[key], index=index, resumed=True))
                continue
            try:
                item_vars = item_variables(item, src.refs)
                files = _item_files(src, item_vars) if src.files_per_item else src.files
            except WorkflowError as exc:
                plan.errors.append(ItemResult(index, key, src.name, item, ERROR, message=str(exc)))
                continue
            plan.tasks.append(
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
                    runs_dir=None if runs_root is None else str(runs_root),
                    provider=provider,
                    provider_options=options,
                    run_options=dict(run_options),
                    files=files,
                    secret_names=src.secret_names,
                    batch_id=batch_id,
                )
            )
    return plan


def _item_files(src: _Source, item_vars: Mapping[str, str]) -> dict[str, str]:
    from ..spec import load_workflow

    spec = load_workflow(
        text=src.text,
        variables={**src.variables, **item_vars},
        filename=src.filename,
        base_dir=src.base_dir,
    )
    return local_files(spec)


__all__ = ["Plan", "WorkflowText", "build_plan", "check_payload", "read_source", "secret_values"]

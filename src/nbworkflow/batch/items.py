"""A batch's items: read from a list, a JSON Lines file or a CSV file; keyed; made variables.

An item is a mapping of fields; ``${item.field}`` in the workflow is filled from it (nested
mappings as ``${item.address.city}``). The spec loader's ``${NAME}`` accepts no dots, so
``item_text`` rewrites each ``${item.a.b}`` to ``${item__a__b}`` before loading and
``item_variables`` gives the values under those names (``$${item.x}`` stays a literal).

An item's key is a hash of its fields, so a resumed batch recognises items that already
succeeded whatever their order in the input.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import boundedjson
from ..exceptions import WorkflowError

Item = dict[str, Any]
MAX_ITEMS = 1_000_000
"""More items than this is a mistake (or needs a streaming source), not a batch."""

_ITEM_REF = re.compile(r"\$\$|\$\{item\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(:-)?")
_PREFIX = "item__"


def load_items(inputs: Sequence[Any] | str | os.PathLike[str]) -> list[Item]:
    """The items of a batch: a list (of mappings, or of plain values, given as ``{"value": v}``),
    or a ``.jsonl`` / ``.csv`` file (read here, in the notebook: workers get the values)."""
    if isinstance(inputs, (str, os.PathLike)):
        return _read_file(Path(inputs))
    if isinstance(inputs, Mapping):
        raise WorkflowError(
            "inputs must be a list of items (mappings), or a path to a .jsonl or .csv file; "
            "got one mapping: wrap it in a list"
        )
    items = [dict(x) if isinstance(x, Mapping) else {"value": x} for x in inputs]
    if len(items) > MAX_ITEMS:
        raise WorkflowError(f"{len(items)} items: a batch takes at most {MAX_ITEMS}")
    for i, item in enumerate(items):
        bad = [k for k in item if not isinstance(k, str)]
        if bad:
            raise WorkflowError(f"item {i}: field names must be text, got {bad[0]!r}")
    return items


def _read_file(path: Path) -> list[Item]:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise WorkflowError(
            f"{path}: inputs must be a .jsonl (one JSON object a line) or a .csv file"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise WorkflowError(f"cannot read the batch inputs {path}: {exc.strerror}") from exc
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows:
            raise WorkflowError(f"{path}: no rows under the header line")
        return [{k: v for k, v in row.items() if k is not None} for row in rows]
    items: list[Item] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = boundedjson.loads(line)
        except ValueError as exc:
            raise WorkflowError(f"{path}:{number}: not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise WorkflowError(
                f"{path}:{number}: each line must be a JSON object, got {type(value).__name__}"
            )
        items.append(value)
        if len(items) > MAX_ITEMS:
            raise WorkflowError(f"{path}: more than {MAX_ITEMS} items")
    if not items:
        raise WorkflowError(f"{path}: no items (one JSON object a line)")
    return items


def item_key(item: Mapping[str, Any]) -> str:
    """A stable key for an item's content (same fields and values: same key)."""
    blob = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def item_refs(text: str) -> dict[str, bool]:
    """The ``item.`` fields a workflow's text uses, e.g. ``{"name": True, "city": False}``:
    whether each is required (``False``: every use has a ``:-default``)."""
    refs: dict[str, bool] = {}
    for m in _ITEM_REF.finditer(text):
        if m.group(1):
            refs[m.group(1)] = refs.get(m.group(1), False) or m.group(2) is None
    return refs


def item_text(text: str) -> str:
    """The workflow text with ``${item.a.b}`` written ``${item__a__b}`` (see the docstring)."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)
        return "${" + _PREFIX + m.group(1).replace(".", "__") + (m.group(2) or "")

    return _ITEM_REF.sub(repl, text)


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        out[prefix] = json.dumps(value, ensure_ascii=False, default=str)
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}", out)
    elif isinstance(value, str):
        out[prefix] = value
    else:
        out[prefix] = json.dumps(value, ensure_ascii=False, default=str)


def item_fields(item: Mapping[str, Any]) -> dict[str, str]:
    """Every field as text by its dotted name (``address.city``); non-text values as JSON."""
    out: dict[str, str] = {}
    for k, v in item.items():
        _flatten(v, k, out)
    return out


def item_variables(item: Mapping[str, Any], refs: Mapping[str, bool]) -> dict[str, str]:
    """The loader variables for the fields ``refs`` (as ``item_text`` names them).

    A required field the item lacks is an error naming both."""
    fields = item_fields(item)
    missing = [r for r, required in refs.items() if required and r not in fields]
    if missing:
        have = ", ".join(sorted(k for k in fields if "." not in k)) or "none"
        raise WorkflowError(
            f"the workflow uses ${{item.{missing[0]}}} but this item has no field "
            f"'{missing[0]}' (its fields: {have}); add it to the item or write "
            f"${{item.{missing[0]}:-default}}"
        )
    return {_PREFIX + r.replace(".", "__"): fields[r] for r in refs if r in fields}


__all__ = [
    "Item",
    "item_fields",
    "item_key",
    "item_refs",
    "item_text",
    "item_variables",
    "load_items",
]

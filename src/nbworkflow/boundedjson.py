"""JSON from places we do not control (model answers, run folders, cache entries, cassettes),
parsed with a bound on nesting.

``json.loads`` of a 10,000-deep array raises ``RecursionError``, and a 900-deep one parses but
breaks whatever walks it next (schema validation, ``json.dumps``, pydantic). Both are refused
here as ``JSONTooDeep`` (a ``ValueError``, like every other malformed-JSON error), so readers
treat them like any other damaged input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 100
"""Nesting levels accepted (arrays and objects); real answers and records use far fewer."""


class JSONTooDeep(ValueError):
    """The JSON nests deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ``ValueError`` for anything malformed, too deep included
    (invalid UTF-8 in bytes too)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    opens = text.count("[") + text.count("{") if isinstance(text, str) else 0
    if isinstance(text, bytes):
        opens = text.count(b"[") + text.count(b"{")
    if opens > max_depth and depth(value, max_depth) > max_depth:  # only then can it be deep
        raise JSONTooDeep(max_depth)
    return value


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of parsed JSON, without recursion; stops counting past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


__all__ = ["MAX_DEPTH", "JSONTooDeep", "depth", "loads"]

"""A JSON value that satisfies a (``$ref``-free) JSON schema: the 2xx bodies of the contract mock.

Prefers what the document says (``example``, ``default``, ``const``, the first ``enum`` value),
then fills in by type; properties the request sent are echoed when the response schema has them,
so ``POST /pet`` answers with the pet it was given plus an ``id``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_BY_FORMAT = {
    "email": "user@example.com",
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/",
}


def example_value(schema: Any, echo: Any = None, depth: int = 0) -> Any:
    if not isinstance(schema, Mapping) or depth > 8:
        return echo
    # Copies: the schema is the mock's shared, memoized one, and the value is handed out.
    for key in ("const", "example", "default"):
        if key in schema and echo is None:
            return copy.deepcopy(schema[key])
    if isinstance(schema.get("enum"), list) and schema["enum"] and echo is None:
        return copy.deepcopy(schema["enum"][0])
    for combo in ("allOf", "oneOf", "anyOf"):
        parts = schema.get(combo)
        if isinstance(parts, list) and parts:
            if combo == "allOf":
                merged: dict[str, Any] = {}
                for part in parts:
                    value = example_value(part, echo, depth + 1)
                    if isinstance(value, dict):
                        merged.update(value)
                return merged
            return example_value(parts[0], echo, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        given = echo if isinstance(echo, Mapping) else {}
        out = {str(k): v for k, v in given.items()}
        props = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in out:
                out[name] = example_value(props.get(name, {}), None, depth + 1)
        for name, sub in props.items():
            if name in out:
                out[name] = example_value(sub, out[name], depth + 1)
            elif name == "id":
                out[name] = example_value(sub, None, depth + 1)
        return out
    if echo is not None:
        return echo
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    if kind == "string":
        return _BY_FORMAT.get(str(schema.get("format")), "string")
    return None


__all__ = ["example_value"]

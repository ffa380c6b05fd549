"""Which JSON Schemas the vendors' strict structured-output modes can take as they are.

Shared by the anthropic and openai providers; pure functions on plain dicts.
"""

from __future__ import annotations

from typing import Any


def strict_compatible(schema: Any, *, all_required: bool = False) -> bool:
    """Whether a strict ``json_schema`` output mode can express ``schema`` without loss.

    Strict mode closes every object (``additionalProperties: false``) and needs a type (or
    ``anyOf``/``enum``/``const``/``$ref``) on every value, so a free-form object or an untyped
    value would be forced empty or rejected: those go another way (a tool, JSON mode).
    ``all_required``: OpenAI's strict mode also wants every property listed in ``required``
    (an optional field would become mandatory).
    """
    if not isinstance(schema, dict):
        return False
    if "$ref" in schema:
        return all(
            strict_compatible(s, all_required=all_required)
            for s in schema.get("$defs", {}).values()
        )
    for key in ("$defs", "definitions"):
        if not all(
            strict_compatible(s, all_required=all_required) for s in schema.get(key, {}).values()
        ):
            return False
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return all(strict_compatible(s, all_required=all_required) for s in schema[key])
    if "enum" in schema or "const" in schema:
        return True
    kind = schema.get("type")
    if isinstance(kind, list) or kind is None:
        return False
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return False
        if schema.get("additionalProperties", False) is not False:
            return False
        if "patternProperties" in schema:
            return False
        if all_required and set(schema.get("required") or ()) != set(props):
            return False
        return all(strict_compatible(s, all_required=all_required) for s in props.values())
    if kind == "array":
        items = schema.get("items")
        return items is None or strict_compatible(items)
    return kind in ("string", "integer", "number", "boolean", "null")


_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def without_defaults(schema: Any) -> Any:
    """``schema`` minus ``default`` keywords (strict mode would paste them into descriptions)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: without_defaults(v) for k, v in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [without_defaults(v) for v in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = without_defaults(value)
        else:
            out[key] = value
    return out


__all__ = ["strict_compatible", "without_defaults"]

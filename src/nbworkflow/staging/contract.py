"""The words the contract mock, its validation and the mutator share: mutation kinds, JSON types.

(The hand-written CRM contract that lived here, with its own validator and mutator, is the chaos
benchmark's baseline now: ``examples/crm/handwritten_mock/``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

MutationKind = Literal["rename", "add_required", "change_type", "change_enum", "nest"]
MUTATION_KINDS: tuple[MutationKind, ...] = (
    "rename",
    "add_required",
    "change_type",
    "change_enum",
    "nest",
)


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value (what 422 messages say it got)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


_json_type = json_type  # the name ``validation`` imports

__all__ = ["MUTATION_KINDS", "MutationKind", "json_type"]

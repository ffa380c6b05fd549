"""Seeded mutations of any OpenAPI document's request schema, the way vendors break clients.

``DocumentMutator(seed).mutate(doc, op)`` returns a new document (the input is not changed) in
which the operation's JSON request schema (its ``components/schemas`` entry when it is a
``$ref``) has one top-level change: ``rename`` a required field, ``add_required`` a constant
field, ``change_type`` of a field with no ``x-source`` (to string, or back), ``change_enum`` to
another spelling, ``nest`` some fields in a new required object. Each change is described in
words and as a unified diff of the schema. The same seed gives the same series.
"""

from __future__ import annotations

import copy
import difflib
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .contract import MUTATION_KINDS, MutationKind
from .document import Operation, get_pointer, request_schema_pointer

_SYNONYMS: dict[str, tuple[str, ...]] = {
    # keyed by x-source when there is one (the meaning survives), else by the field's name
    "email": ("email_address", "contact_email", "primary_email"),
    "full_name": ("display_name", "contact_name"),
    "first": ("first_name", "given_name"),
    "last": ("last_name", "family_name"),
    "plan": ("tier", "plan_tier", "subscription_tier"),
    "name": ("title", "label", "display_name"),
    "status": ("state", "lifecycle_status"),
    "photoUrls": ("photo_urls", "images"),
}

_ADDITIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("seats", {"type": "integer", "default": 1, "description": "Licensed seats; send 1."}),
    (
        "marketing_opt_in",
        {"type": "boolean", "default": False, "description": "Marketing consent; send false."},
    ),
    ("locale", {"type": "string", "default": "en-US", "description": "Language; send en-US."}),
    (
        "channel",
        {
            "type": "string",
            "enum": ["nbworkflow"],
            "default": "nbworkflow",
            "description": "Integration that sent the request; send nbworkflow.",
        },
    ),
    ("region", {"type": "string", "default": "eu-west", "description": "Send eu-west."}),
)

_ENUM_STYLES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("lower-case", lambda v: v),
    ("upper-case", lambda v: v.upper()),
    ("'x_' prefix", lambda v: f"x_{v.lower()}"),
    ("'_v2' suffix", lambda v: f"{v.lower()}_v2"),
    ("capitalized", lambda v: v.lower().capitalize()),
)


def _plain(value: str) -> str:
    return re.sub(r"^x_|_v2$", "", value.lower())


_NEST_NAMES = ("contact", "profile", "details", "attributes")
_SCALARS = ("string", "integer", "number", "boolean")


@dataclass(frozen=True)
class DocumentMutation:
    kind: MutationKind
    description: str
    details: dict[str, Any] = field(default_factory=dict)
    diff: str = ""
    """Unified diff of the request schema (JSON, sorted keys)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": self.description,
            "details": self.details,
            "diff": self.diff,
        }


def _scalar_type(prop: Any) -> str | None:
    if not isinstance(prop, Mapping) or "$ref" in prop:
        return None
    kind = prop.get("type")
    return kind if isinstance(kind, str) and kind in _SCALARS else None


def _schema_text(schema: Any) -> list[str]:
    return json.dumps(schema, indent=2, sort_keys=True, default=str).splitlines(keepends=True)


class DocumentMutator:
    """Seeded request-schema changes: the same seed gives the same series of mutations."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    # -- what can change -------------------------------------------------------------------
    def _candidates(self, kind: MutationKind, schema: Mapping[str, Any]) -> list[Any]:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        if kind == "rename":
            return [n for n in props if n in required]
        if kind == "add_required":
            return [(n, s) for n, s in _ADDITIONS if n not in props]
        if kind == "change_type":
            return [
                n
                for n, p in props.items()
                if (_scalar_type(p) in ("integer", "number", "boolean") and "x-source" not in p)
                or (_scalar_type(p) == "string" and str(p.get("default", "")).isdigit())
            ]
        if kind == "change_enum":
            return [
                n
                for n, p in props.items()
                if _scalar_type(p) == "string"
                and isinstance(p.get("enum"), list)
                and p["enum"]
                and all(isinstance(v, str) for v in p["enum"])
            ]
        if kind == "nest":
            scalars = [n for n, p in props.items() if _scalar_type(p)]
            return [scalars] if len(scalars) >= 3 else []
        raise ValueError(f"unknown mutation kind {kind!r}; use one of {', '.join(MUTATION_KINDS)}")

    def applicable(self, doc: Mapping[str, Any], op: Operation) -> list[MutationKind]:
        schema = get_pointer(doc, request_schema_pointer(doc, op))
        return [k for k in MUTATION_KINDS if self._candidates(k, schema)]

    def mutate(
        self, doc: Mapping[str, Any], op: Operation, kind: MutationKind | None = None
    ) -> tuple[dict[str, Any], DocumentMutation]:
        """A changed copy of ``doc`` and what changed (``kind`` or a seeded applicable one)."""
        if kind is not None and kind not in MUTATION_KINDS:
            raise ValueError(
                f"unknown mutation kind {kind!r}; use one of {', '.join(MUTATION_KINDS)}"
            )
        new = copy.deepcopy(dict(doc))
        pointer = request_schema_pointer(new, op)
        schema = get_pointer(new, pointer)
        kinds = self.applicable(new, op)
        if kind is None:
            if not kinds:
                raise ValueError(f"no mutation applies to the request schema of '{op}'")
            chosen = self.rng.choice(kinds)
        elif kind in kinds:
            chosen = kind
        else:
            raise ValueError(
                f"mutation {kind!r} does not apply to '{op}'; applicable: "
                + (", ".join(kinds) or "none")
            )
        before = _schema_text(schema)
        text, details = getattr(self, f"_{chosen}")(schema)
        diff = "".join(
            difflib.unified_diff(
                before, _schema_text(schema), "/".join(pointer), "/".join(pointer) + " (mutated)"
            )
        )
        return new, DocumentMutation(chosen, text, details, diff)

    # -- one method per kind: mutate ``schema`` in place, return (words, details) -----------
    def _rename(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        old = self.rng.choice(self._candidates("rename", schema))
        props: dict[str, Any] = schema["properties"]
        key = str(props[old].get("x-source", old)) if isinstance(props[old], Mapping) else old
        pool = [n for n in _SYNONYMS.get(key, _SYNONYMS.get(old, ())) if n not in props]
        if not pool:
            base = re.sub(r"_v\d+$", "", old)
            n = int(m.group(1)) + 1 if (m := re.search(r"_v(\d+)$", old)) else 2
            while f"{base}_v{n}" in props:
                n += 1
            pool = [f"{base}_v{n}"]
        new = self.rng.choice(pool)
        schema["properties"] = {(new if k == old else k): v for k, v in props.items()}
        schema["required"] = [new if r == old else r for r in schema.get("required", [])]
        return f"renamed '{old}' to '{new}'", {"from": old, "to": new}

    def _add_required(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name, prop = self.rng.choice(self._candidates("add_required", schema))
        schema.setdefault("properties", {})[name] = copy.deepcopy(prop)
        schema["required"] = [*schema.get("required", []), name]
        return f"added required field '{name}' ({prop['type']})", {"field": name}

    def _change_type(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = self.rng.choice(self._candidates("change_type", schema))
        prop: dict[str, Any] = schema["properties"][name]
        was = prop["type"]
        to = "integer" if was == "string" else "string"

        def convert(value: Any) -> Any:
            if to == "integer":
                return int(value)
            return str(value).lower() if isinstance(value, bool) else str(value)

        prop["type"] = to
        prop.pop("format", None)  # int64/double mean nothing on the new type
        for key in ("default", "example"):
            if key in prop and prop[key] is not None:
                prop[key] = convert(prop[key])
        if isinstance(prop.get("enum"), list):
            prop["enum"] = [convert(v) for v in prop["enum"]]
        return f"changed '{name}' from {was} to {to}", {"field": name, "from": was, "to": to}

    def _change_enum(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = self.rng.choice(self._candidates("change_enum", schema))
        prop: dict[str, Any] = schema["properties"][name]
        values: list[str] = prop["enum"]
        # Styles apply to the plain spelling, so a series of changes re-spells ('PRO' ->
        # 'x_pro' -> 'Pro') instead of piling up ('x_x_x_pro').
        base = {v: _plain(v) for v in values}
        styles = [(s, fn) for s, fn in _ENUM_STYLES if [fn(base[v]) for v in values] != values]
        style, fn = self.rng.choice(styles)
        prop["enum"] = [fn(base[v]) for v in values]
        for key in ("default", "example"):
            if isinstance(prop.get(key), str):
                prop[key] = fn(_plain(prop[key]))
        return (
            f"changed the values of '{name}' to {style}: {prop['enum']}",
            {"field": name, "values": prop["enum"]},
        )

    def _nest(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        [scalars] = self._candidates("nest", schema)
        props: dict[str, Any] = schema["properties"]
        count = self.rng.randint(2, min(3, len(scalars) - 1))
        moved = sorted(self.rng.sample(scalars, count), key=list(props).index)
        name = self.rng.choice([n for n in _NEST_NAMES if n not in props] or ["nested_v2"])
        required = list(schema.get("required") or [])
        obj: dict[str, Any] = {
            "type": "object",
            "description": "Fields moved here by a contract change.",
            "properties": {n: props[n] for n in moved},
            "required": [n for n in moved if n in required],
        }
        if schema.get("additionalProperties") is False:
            obj["additionalProperties"] = False
        if not obj["required"]:
            del obj["required"]
        out: dict[str, Any] = {}
        for key, value in props.items():
            if key in moved:
                out.setdefault(name, obj)
            else:
                out[key] = value
        schema["properties"] = out
        schema["required"] = [r for r in required if r not in moved] + [name]
        return f"nested {moved} in an object '{name}'", {"object": name, "fields": moved}


__all__ = ["MUTATION_KINDS", "DocumentMutation", "DocumentMutator", "MutationKind"]

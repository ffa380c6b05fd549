"""The hand-written mock CRM's payload contract for ``POST /users``, its validator, its mutator.

A ``Contract`` is an immutable list of ``FieldSpec``; ``validate`` returns field-level problems
(FastAPI-like ``detail`` entries) and ``request_schema`` the JSON Schema that the OpenAPI
document and every 422 body carry. ``Mutator`` changes the contract the way vendors do (rename a
field, add a required field, change a type or an enum, nest fields in an object), reproducibly
from its seed. Pure data and functions: no I/O here. (Over 400 lines: the contract, its
validator and the mutator change together. The package's ``OpenAPIMock`` of
``examples/crm/crm_openapi.yaml`` replaced all of it; this is the chaos benchmark's baseline.)
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from nbworkflow.staging.contract import MUTATION_KINDS, MutationKind
from nbworkflow.staging.contract import json_type as _json_type

FieldType = Literal["string", "integer", "boolean", "object"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class FieldSpec:
    """One field of the payload."""

    name: str
    type: FieldType = "string"
    required: bool = True
    description: str = ""
    source: str | None = None
    """``x-source``: which attribute of the internal user the value comes from (``email``,
    ``full_name``, ``first``, ``last``, ``plan``); ``None`` for a constant (see ``default``)."""
    enum: tuple[Any, ...] | None = None
    default: Any = None
    """For constant fields: the value clients are expected to send."""
    format: str | None = None
    properties: tuple[FieldSpec, ...] = ()
    """For ``object`` fields: the nested fields."""

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.description:
            out["description"] = self.description
        if self.format:
            out["format"] = self.format
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.default is not None:
            out["default"] = self.default
        if self.source:
            out["x-source"] = self.source
        if self.type == "object":
            out.update(_object_schema(self.properties))
        return out


def _object_schema(fields: Sequence[FieldSpec]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: f.schema() for f in fields},
        "required": [f.name for f in fields if f.required],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class Contract:
    """The ``POST /users`` body the CRM accepts right now."""

    fields: tuple[FieldSpec, ...]
    version: int = 1
    history: tuple[str, ...] = ()
    """One line per mutation applied, oldest first."""

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def request_schema(self) -> dict[str, Any]:
        schema = _object_schema(self.fields)
        schema["title"] = "UserCreate"
        return schema

    def validate(self, body: Any) -> list[dict[str, Any]]:
        """Every problem with ``body``, as ``{loc, field, type, msg, expected?}`` entries."""
        if not isinstance(body, Mapping):
            return [
                {
                    "loc": ["body"],
                    "field": "",
                    "type": "type_error",
                    "msg": f"the body must be a JSON object, got {_json_type(body)}",
                }
            ]
        return _validate_object(body, self.fields, ())


def _problem(path: tuple[str, ...], kind: str, msg: str, spec: FieldSpec | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "loc": ["body", *path],
        "field": ".".join(path),
        "type": kind,
        "msg": msg,
    }
    if spec is not None:
        out["expected"] = spec.schema()
    return out


def _validate_object(
    body: Mapping[str, Any], fields: Sequence[FieldSpec], path: tuple[str, ...]
) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    known = {f.name: f for f in fields}
    for spec in fields:
        here = (*path, spec.name)
        if spec.name not in body:
            if spec.required:
                problems.append(_problem(here, "missing", "field required", spec))
            continue
        value = body[spec.name]
        got = _json_type(value)
        if got != spec.type:
            problems.append(
                _problem(here, "wrong_type", f"expected {spec.type}, got {got} {value!r}", spec)
            )
            continue
        if spec.type == "object":
            problems += _validate_object(value, spec.properties, here)
            continue
        if spec.enum is not None and value not in spec.enum:
            allowed = ", ".join(repr(v) for v in spec.enum)
            problems.append(
                _problem(
                    here, "enum", f"{value!r} is not one of the allowed values: {allowed}", spec
                )
            )
        elif spec.format == "email" and not _EMAIL_RE.match(str(value)):
            problems.append(_problem(here, "format", f"{value!r} is not an email address", spec))
    for key in body:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                _problem((*path, str(key)), "unknown_field", f"unknown field '{key}'{hint}", None)
            )
    return problems


def initial_contract() -> Contract:
    """The contract the mock CRM starts with (the seed's scenario: ``customer_tier`` required)."""
    return Contract(
        fields=(
            FieldSpec("email", format="email", source="email", description="Login email."),
            FieldSpec("full_name", source="full_name", description="First and last name."),
            FieldSpec(
                "customer_tier",
                source="plan",
                enum=("free", "pro", "enterprise"),
                description="The customer's subscription plan.",
            ),
        )
    )


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------

_RENAMES: dict[str, tuple[str, ...]] = {
    # by x-source (the meaning survives the rename), then by name for constants
    "email": ("email_address", "contact_email", "primary_email", "login_email"),
    "full_name": ("name", "display_name", "contact_name"),
    "first": ("first_name", "given_name", "forename"),
    "last": ("last_name", "family_name", "surname"),
    "plan": ("customer_tier", "tier", "plan_tier", "subscription_tier"),
    "seats": ("seat_count", "licenses"),
    "marketing_opt_in": ("newsletter", "opt_in"),
    "locale": ("language", "lang"),
    "source": ("origin", "created_by"),
}

_ADDITIONS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", source="first", description="Given name."),
    FieldSpec("last_name", source="last", description="Family name."),
    FieldSpec("seats", type="integer", default=1, description="Licensed seats; send 1."),
    FieldSpec(
        "marketing_opt_in",
        type="boolean",
        default=False,
        description="Marketing consent; send false.",
    ),
    FieldSpec("locale", default="en-US", description="UI language; send en-US."),
    FieldSpec(
        "source",
        enum=("nbworkflow",),
        default="nbworkflow",
        description="Integration that created the user; send nbworkflow.",
    ),
)

_CONVERSIONS: dict[tuple[str, str], Any] = {
    ("integer", "string"): str,
    ("boolean", "string"): lambda v: "true" if v else "false",
    ("string", "integer"): int,
}

_ENUM_STYLES: tuple[tuple[str, Any], ...] = (
    ("upper-case", lambda v: v.upper()),
    ("'plan_' prefix", lambda v: f"plan_{v.lower()}"),
    ("'_tier' suffix", lambda v: f"{v.lower()}_tier"),
    ("capitalized", lambda v: v.lower().capitalize()),
)

_NEST_NAMES = ("contact", "profile", "person")


@dataclass(frozen=True)
class Mutation:
    """One contract change: what happened, in words and as data."""

    kind: MutationKind
    description: str
    version: int
    """The contract version after the change."""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mutator:
    """Seeded contract changes: the same seed gives the same series of mutations."""

    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def applicable(self, contract: Contract) -> list[MutationKind]:
        return [k for k in MUTATION_KINDS if self._candidates(k, contract)]

    def _candidates(self, kind: MutationKind, contract: Contract) -> list[Any]:
        names = set(_all_names(contract.fields))
        if kind == "rename":
            return [f for f in contract.fields if f.type != "object"]
        if kind == "add_required":
            return [a for a in _ADDITIONS if a.name not in names]
        if kind == "change_type":
            return [f for f in contract.fields if _type_changeable(f)]
        if kind == "change_enum":
            return [f for f in contract.fields if f.enum is not None and f.source is not None]
        if kind == "nest":
            scalars = [f for f in contract.fields if f.type != "object"]
            has_object = any(f.type == "object" for f in contract.fields)
            return [] if has_object or len(scalars) < 3 else [scalars]
        raise ValueError(f"unknown mutation kind {kind!r}; use one of {MUTATION_KINDS}")

    def mutate(
        self, contract: Contract, kind: MutationKind | None = None
    ) -> tuple[Contract, Mutation]:
        """Apply one mutation (``kind`` or a seeded random applicable one)."""
        kinds = self.applicable(contract)
        if kind is not None and kind not in MUTATION_KINDS:
            raise ValueError(f"unknown mutation kind {kind!r}; use one of {MUTATION_KINDS}")
        if kind is None:
            if not kinds:
                raise ValueError("no mutation applies to this contract")
            chosen = self.rng.choice(kinds)
        elif kind in kinds:
            chosen = kind
        else:
            raise ValueError(
                f"mutation {kind!r} does not apply to contract v{contract.version}; "
                f"applicable: {', '.join(kinds) or 'none'}"
            )
        fields, text, details = getattr(self, f"_{chosen}")(contract)
        version = contract.version + 1
        new = Contract(tuple(fields), version, (*contract.history, f"v{version}: {text}"))
        return new, Mutation(chosen, text, version, details)

    # -- one method per kind: (fields, description, details) ------------------------------
    def _rename(self, c: Contract) -> tuple[list[FieldSpec], str, dict[str, Any]]:
        target = self.rng.choice(self._candidates("rename", c))
        names = set(_all_names(c.fields))
        new_name = self.rng.choice(_rename_choices(target, names))
        fields = [replace(f, name=new_name) if f is target else f for f in c.fields]
        return (
            fields,
            f"renamed '{target.name}' to '{new_name}'",
            {
                "from": target.name,
                "to": new_name,
            },
        )

    def _add_required(self, c: Contract) -> tuple[list[FieldSpec], str, dict[str, Any]]:
        added = self.rng.choice(self._candidates("add_required", c))
        return (
            [*c.fields, added],
            f"added required field '{added.name}' ({added.type})",
            {"field": added.name},
        )

    def _change_type(self, c: Contract) -> tuple[list[FieldSpec], str, dict[str, Any]]:
        target = self.rng.choice(self._candidates("change_type", c))
        to = "integer" if target.type == "string" else "string"
        new = replace(target, type=to, default=_CONVERSIONS[(target.type, to)](target.default))
        fields = [new if f is target else f for f in c.fields]
        return (
            fields,
            f"changed '{target.name}' from {target.type} to {to}",
            {
                "field": target.name,
                "from": target.type,
                "to": to,
            },
        )

    def _change_enum(self, c: Contract) -> tuple[list[FieldSpec], str, dict[str, Any]]:
        target = self.rng.choice(self._candidates("change_enum", c))
        assert target.enum is not None
        styles = [
            (name, fn)
            for name, fn in _ENUM_STYLES
            if tuple(fn(v) for v in target.enum) != target.enum
        ]
        style, fn = self.rng.choice(styles)
        values = tuple(fn(v) for v in target.enum)
        fields = [replace(f, enum=values) if f is target else f for f in c.fields]
        return (
            fields,
            f"changed the values of '{target.name}' to {style}: {list(values)}",
            {
                "field": target.name,
                "values": list(values),
            },
        )

    def _nest(self, c: Contract) -> tuple[list[FieldSpec], str, dict[str, Any]]:
        scalars = [f for f in c.fields if f.type != "object"]
        count = self.rng.randint(2, min(3, len(scalars) - 1))
        moved = self.rng.sample(scalars, count)
        moved.sort(key=lambda f: c.fields.index(f))
        name = self.rng.choice(_NEST_NAMES)
        obj = FieldSpec(
            name,
            type="object",
            properties=tuple(moved),
            description=f"Moved here in contract v{c.version + 1}.",
        )
        fields: list[FieldSpec] = []
        for f in c.fields:
            if f in moved:
                if obj not in fields:
                    fields.append(obj)
            else:
                fields.append(f)
        names = [f.name for f in moved]
        return fields, f"nested {names} in an object '{name}'", {"object": name, "fields": names}


def _rename_choices(spec: FieldSpec, taken: set[str]) -> list[str]:
    """Names a vendor might move ``spec`` to: synonyms first, else a versioned name."""
    pool = [n for n in _RENAMES.get(spec.source or spec.name, ()) if n not in taken]
    if pool:
        return pool
    base = re.sub(r"_v\d+$", "", spec.name)
    version = int(m.group(1)) if (m := re.search(r"_v(\d+)$", spec.name)) else 1
    while f"{base}_v{version + 1}" in taken:
        version += 1
    return [f"{base}_v{version + 1}"]


def _type_changeable(f: FieldSpec) -> bool:
    if f.source is not None or f.enum is not None:
        return False
    if f.type == "string":
        return _is_int_text(f.default)
    return (f.type, "string") in _CONVERSIONS


def _is_int_text(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit()


def _all_names(fields: Sequence[FieldSpec]) -> list[str]:
    out: list[str] = []
    for f in fields:
        out.append(f.name)
        out += _all_names(f.properties)
    return out


def contract_from_schema(schema: Mapping[str, Any]) -> tuple[FieldSpec, ...]:
    """Read fields back from a request schema (what a client sees in a 422 or the OpenAPI)."""
    required = set(schema.get("required", ()))
    out: list[FieldSpec] = []
    for name, prop in (schema.get("properties") or {}).items():
        ftype = prop.get("type", "string")
        out.append(
            FieldSpec(
                name=name,
                type=ftype if ftype in ("string", "integer", "boolean", "object") else "string",
                required=name in required,
                description=prop.get("description", ""),
                source=prop.get("x-source"),
                enum=tuple(prop["enum"]) if "enum" in prop else None,
                default=prop.get("default"),
                format=prop.get("format"),
                properties=contract_from_schema(prop) if ftype == "object" else (),
            )
        )
    return tuple(out)


__all__ = [
    "MUTATION_KINDS",
    "Contract",
    "FieldSpec",
    "Mutation",
    "MutationKind",
    "Mutator",
    "contract_from_schema",
    "initial_contract",
]

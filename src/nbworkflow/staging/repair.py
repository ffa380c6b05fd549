"""A deterministic repair agent: the test double that heals mappers offline from 422 answers.

``repair_responder`` plugs into ``ScriptedProvider(responders={node_id: repair_responder})``. It
reads what the adaptive node sends the model: the staging 422 body (its field-level ``detail``
and the current ``schema``, as ``OpenAPIMock`` answers for any document) and the current code,
and answers ``{rationale, code}`` with a mapper that follows the schema the 422 carries. Each
field's value comes from its ``x-source`` (which attribute of the internal user it holds) or, for
constants, its ``default``; enums are matched to the user's plan, types converted, nested objects
built. (A schema without ``x-source`` is ``chaos.heal``'s job: it edits the code instead.)

It never sees more than the (sanitized) prompt, so it also proves that the prompt carries what
a real model would need. It finds the prompt's parts through ``SECTIONS``, the section names the
adaptive node builds its prompt from (``nodes.adaptive.prompt``): one contract, written once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..nodes.adaptive.prompt import SECTIONS

_JSON_FENCE = re.compile(r"```json\s*\n(.*?)\n```", re.S)
_PY_FENCE = SECTIONS.code_block()
_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(\s*([A-Za-z_]\w*)?", re.M)
_ENTRY = SECTIONS.entrypoint_name()


class _Message(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...


class _Request(Protocol):
    """The part of ``agents.ModelRequest`` a responder reads."""

    @property
    def messages(self) -> Sequence[_Message]: ...


PLANS = ("free", "pro", "enterprise")
"""Internal plan names, in the order the CRM's tiers are usually listed."""

_SCALARS = ("string", "integer", "boolean", "object")

# What each ``x-source`` is, as an expression over the internal user (the demos' samples:
# ``{email, first, last, plan}``).
_SOURCES: dict[str, str] = {
    "email": '{u}["email"]',
    "full_name": '{u}["first"] + " " + {u}["last"]',
    "first": '{u}["first"]',
    "last": '{u}["last"]',
    "plan": '{u}["plan"]',
}


def find_staging_error(text: str) -> dict[str, Any] | None:
    """The first JSON block in ``text`` that is a contract mock's validation error (has
    ``schema``)."""
    for block in _JSON_FENCE.findall(text):
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("schema"), dict):
            return value
    return None


def _norm(value: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


def _enum_map(values: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, plan in enumerate(PLANS):
        match = next((v for v in values if plan in _norm(v)), None)
        if match is None and i < len(values):
            match = values[i]
        if match is not None:
            out[plan] = match
    return out


def _type(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type", "string")
    return kind if kind in _SCALARS else "string"


def _value_expr(prop: Mapping[str, Any], u: str, indent: str) -> str:
    kind, source, enum = _type(prop), prop.get("x-source"), prop.get("enum")
    if kind == "object":
        return _dict_literal(prop, u, indent)
    if source in _SOURCES:
        expr = _SOURCES[source].format(u=u)
        if enum is not None:
            return f"{_enum_map(enum)!r}[{expr}]"
        if kind == "integer":
            return f"int({expr})"
        if kind == "boolean":
            return f"bool({expr})"
        return expr
    if prop.get("default") is not None:
        return repr(prop["default"])
    if enum:
        return repr(enum[0])
    return {"string": '""', "integer": "0", "boolean": "False"}[kind]


def _dict_literal(schema: Mapping[str, Any], u: str, indent: str) -> str:
    inner = indent + "    "
    props = schema.get("properties") or {}
    lines = [f"{inner}{name!r}: {_value_expr(prop, u, inner)}," for name, prop in props.items()]
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def mapper_code(
    schema: Mapping[str, Any], *, entrypoint: str = "sync_to_crm", arg: str = "user"
) -> str:
    """Python source of a mapper that satisfies ``schema`` (a request body's JSON Schema)."""
    body = _dict_literal(schema, arg, "    ").replace("'", '"')
    return (
        f"def {entrypoint}({arg}):\n"
        f'    """Map an internal user to the CRM\'s UserCreate payload."""\n'
        f"    return {body}\n"
    )


def repair(prompt: str) -> dict[str, str]:
    """``{rationale, code}`` for an adaptive node's prompt (see the module docstring)."""
    current = _PY_FENCE.search(prompt)
    code = current.group(1) if current else ""
    entry = _ENTRY.search(prompt)
    first_def = _DEF.search(code)
    entrypoint = entry.group(1) if entry else (first_def.group(1) if first_def else "sync_to_crm")
    arg = "user"
    for m in _DEF.finditer(code):
        if m.group(1) == entrypoint and m.group(2):
            arg = m.group(2)
    error = find_staging_error(prompt)
    if error is None:
        return {
            "rationale": "no contract details (HTTP 422 body with a schema) in the error: left "
            "the code unchanged",
            "code": code,
        }
    problems = [
        f"{d.get('field') or 'body'}: {d.get('msg', d.get('type', '?'))}"
        for d in error.get("detail", [])
        if isinstance(d, dict)
    ]
    version = error.get("contract_version", "?")
    rationale = (
        f"Staging rejected the payload under contract v{version} ("
        + "; ".join(problems)
        + f"). Rebuilt {entrypoint} from the schema in the 422 body: every required field, "
        "sources from x-source, constants from default, enum values matched to the plan."
    )
    return {
        "rationale": rationale,
        "code": mapper_code(error["schema"], entrypoint=entrypoint, arg=arg),
    }


def repair_responder(request: _Request) -> dict[str, str]:
    """``ScriptedProvider`` responder: repair from the request's last user message."""
    prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return repair(prompt)


__all__ = ["PLANS", "find_staging_error", "mapper_code", "repair", "repair_responder"]

"""A deterministic repair agent for the mock CRM: the test double that heals mappers offline.

``repair_responder`` plugs into ``ScriptedProvider(responders={node_id: repair_responder})``. It
reads what the adaptive node sends the model: the staging 422 body (its field-level ``detail``
and the current ``schema``) and the current code, and answers ``{rationale, code}`` with a mapper
that follows the contract the 422 describes. Each field's value comes from its ``x-source``
(which attribute of the internal user it holds) or, for constants, its ``default``; enums are
matched to the user's plan, types converted, nested objects built.

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
from .contract import FieldSpec, contract_from_schema

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

_SOURCES: dict[str, str] = {
    "email": '{u}["email"]',
    "full_name": '{u}["first"] + " " + {u}["last"]',
    "first": '{u}["first"]',
    "last": '{u}["last"]',
    "plan": '{u}["plan"]',
}


def find_staging_error(text: str) -> dict[str, Any] | None:
    """The first JSON block in ``text`` that is a mock-CRM validation error (has ``schema``)."""
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


def _value_expr(spec: FieldSpec, u: str, indent: str) -> str:
    if spec.type == "object":
        return _dict_literal(spec.properties, u, indent)
    if spec.source in _SOURCES:
        expr = _SOURCES[spec.source].format(u=u)
        if spec.enum is not None:
            return f"{_enum_map(spec.enum)!r}[{expr}]"
        if spec.type == "integer":
            return f"int({expr})"
        if spec.type == "boolean":
            return f"bool({expr})"
        return expr
    if spec.default is not None:
        return repr(spec.default)
    if spec.enum:
        return repr(spec.enum[0])
    return {"string": '""', "integer": "0", "boolean": "False"}.get(spec.type, "None")


def _dict_literal(fields: Sequence[FieldSpec], u: str, indent: str) -> str:
    inner = indent + "    "
    lines = [f"{inner}{f.name!r}: {_value_expr(f, u, inner)}," for f in fields]
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def mapper_code(
    schema: Mapping[str, Any], *, entrypoint: str = "sync_to_crm", arg: str = "user"
) -> str:
    """Python source of a mapper that satisfies ``schema`` (a UserCreate JSON Schema)."""
    fields = contract_from_schema(schema)
    body = _dict_literal(fields, arg, "    ").replace("'", '"')
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

"""An OpenAPI 3.0/3.1 document as the contract mock sees it: load, pick an operation, resolve.

Pure data: the document is a plain ``dict`` (YAML or JSON), an operation is ``"POST /users"``;
``request_schema`` returns the operation's JSON request schema with every local ``$ref``
inlined (what a 422 body shows the client), and ``request_schema_pointer`` where the schema the
mutator should change lives (a ``components/schemas`` entry when the body is a ``$ref``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..spec.located import MAX_DEPTH, Refused, load_yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DOCUMENT_BYTES = 4 << 20
_JSON = "application/json"


class DocumentError(ValueError):
    """The OpenAPI document cannot be used (unreadable, not 3.x, no such operation...)."""


@dataclass(frozen=True)
class Operation:
    method: str
    """Upper case, e.g. ``POST``."""
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def load_document(path: str | Path) -> dict[str, Any]:
    """Read an OpenAPI 3.0/3.1 document (YAML or JSON) from ``path``."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"{p}: larger than {MAX_DOCUMENT_BYTES >> 20} MiB")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(f"{p}: cannot read the OpenAPI document ({exc.strerror})") from exc
    deep = DocumentError(f"{p}: refused: nesting deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text) if p.suffix == ".json" else load_yaml(text)
    except Refused as exc:
        raise DocumentError(f"{exc.where(p)}: refused: {exc.reason}") from None
    except RecursionError:  # deeper than the JSON decoder goes
        raise deep from None
    except (ValueError, yaml.YAMLError) as exc:
        raise DocumentError(f"{p}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from exc
    if _too_deep(data):
        raise deep
    return check_document(data, where=str(p))


def _too_deep(data: Any) -> bool:
    """Deeper than the YAML reader allows (JSON is read by ``json``, which stops only at the
    interpreter's recursion limit, and a deep copy or a schema walk later would not)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def check_document(data: Any, *, where: str = "the document") -> dict[str, Any]:
    if not isinstance(data, dict) or not str(data.get("openapi", "")).startswith("3."):
        raise DocumentError(f"{where}: not an OpenAPI 3.x document (needs 'openapi: 3.0.x/3.1.x')")
    if not isinstance(data.get("paths"), dict) or not data["paths"]:
        raise DocumentError(f"{where}: the document has no 'paths'")
    return data


def operations(doc: Mapping[str, Any]) -> list[Operation]:
    out: list[Operation] = []
    for path, item in (doc.get("paths") or {}).items():
        if isinstance(item, Mapping):
            out += [Operation(m.upper(), str(path)) for m in METHODS if m in item]
    return out


def json_body_operations(doc: Mapping[str, Any]) -> list[Operation]:
    """Operations whose request body has an ``application/json`` schema."""
    return [op for op in operations(doc) if _json_media(doc, op) is not None]


def parse_operation(doc: Mapping[str, Any], text: str | None) -> Operation:
    """``"POST /users"`` (or ``None``: the only operation with a JSON request body)."""
    candidates = json_body_operations(doc)
    if text is None:
        if len(candidates) == 1:
            return candidates[0]
        names = ", ".join(f"'{op}'" for op in candidates) or "none"
        raise DocumentError(
            f"pick the operation to stage with --operation (operations with a JSON body: {names})"
        )
    method, _, path = text.strip().partition(" ")
    op = Operation(method.upper(), path.strip())
    if op not in operations(doc):
        names = ", ".join(f"'{o}'" for o in operations(doc))
        raise DocumentError(f"no operation '{op}' in the document; it has: {names}")
    return op


def operation_object(doc: Mapping[str, Any], op: Operation) -> dict[str, Any]:
    item = doc["paths"][op.path]
    value = item[op.method.lower()]
    if not isinstance(value, dict):
        raise DocumentError(f"'{op}' is not an operation object")
    return value


def _json_media(doc: Mapping[str, Any], op: Operation) -> dict[str, Any] | None:
    body = operation_object(doc, op).get("requestBody")
    if isinstance(body, Mapping) and "$ref" in body:
        body = resolve_ref(doc, str(body["$ref"]))
    content = body.get("content") if isinstance(body, Mapping) else None
    media = content.get(_JSON) if isinstance(content, Mapping) else None
    return media if isinstance(media, dict) and isinstance(media.get("schema"), dict) else None


def resolve_ref(doc: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise DocumentError(f"only local $refs are supported, not {ref!r}")
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise DocumentError(f"$ref {ref!r} points nowhere")
        node = node[part]
    return node


def request_schema_pointer(doc: Mapping[str, Any], op: Operation) -> list[str]:
    """Where the operation's JSON request schema lives in ``doc`` (follows one ``$ref``)."""
    media = _json_media(doc, op)
    if media is None:
        raise DocumentError(f"'{op}' has no application/json request body schema")
    schema = media["schema"]
    if "$ref" in schema:
        ref = str(schema["$ref"])
        resolve_ref(doc, ref)
        return [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]
    body = operation_object(doc, op)["requestBody"]
    if "$ref" in body:
        raise DocumentError(f"'{op}': inline schema under a $ref'd requestBody is not supported")
    return ["paths", op.path, op.method.lower(), "requestBody", "content", _JSON, "schema"]


def get_pointer(doc: Mapping[str, Any], pointer: list[str]) -> Any:
    node: Any = doc
    for part in pointer:
        node = node[part]
    return node


def inline(doc: Mapping[str, Any], schema: Any, depth: int = 0) -> Any:
    """``schema`` with local ``$ref``s replaced by copies of their targets (cycles cut at 20)."""
    if depth > 20:
        return {}
    if isinstance(schema, Mapping):
        if "$ref" in schema:
            return inline(doc, resolve_ref(doc, str(schema["$ref"])), depth + 1)
        return {k: inline(doc, v, depth) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inline(doc, v, depth) for v in schema]
    return copy.deepcopy(schema)


def request_schema(doc: Mapping[str, Any], op: Operation) -> dict[str, Any]:
    """The operation's JSON request schema, ``$ref``s inlined."""
    out = inline(doc, get_pointer(doc, request_schema_pointer(doc, op)))
    return out if isinstance(out, dict) else {}


def success_response(doc: Mapping[str, Any], op: Operation) -> tuple[int, dict[str, Any] | None]:
    """(status, inlined JSON schema or ``None``) of the operation's first 2xx response."""
    responses = operation_object(doc, op).get("responses") or {}
    codes = sorted(str(c) for c in responses if str(c)[:1] == "2" and str(c).isdigit())
    if not codes:
        return (201 if op.method == "POST" else 200), None
    response = responses[codes[0]]
    if isinstance(response, Mapping) and "$ref" in response:
        response = resolve_ref(doc, str(response["$ref"]))
    content = response.get("content") if isinstance(response, Mapping) else None
    media = content.get(_JSON) if isinstance(content, Mapping) else None
    schema = media.get("schema") if isinstance(media, Mapping) else None
    return int(codes[0]), (inline(doc, schema) if isinstance(schema, Mapping) else None)


__all__ = [
    "DocumentError",
    "Operation",
    "check_document",
    "get_pointer",
    "inline",
    "json_body_operations",
    "load_document",
    "operations",
    "parse_operation",
    "request_schema",
    "request_schema_pointer",
    "resolve_ref",
    "success_response",
]

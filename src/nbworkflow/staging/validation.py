"""Request validation by ``openapi-core``, translated into the mock's field-level 422 ``detail``.

The adaptive node and the repair agents read one shape (the one the hand-written CRM mock has
always answered): ``{loc: ["body", ...], field: "a.b", type, msg, expected?}`` with ``type`` one
of ``missing``, ``wrong_type``, ``enum``, ``format``, ``unknown_field``, ``type_error`` (or the
JSON Schema keyword for anything rarer). ``openapi-core`` decides what is wrong; this module only
renames its ``jsonschema`` errors. Foreign exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from typing import Any

from .contract import _json_type
from .document import DocumentError, Operation, request_schema


class _Request:
    """The ``openapi_core.protocols.Request`` of one staged call (body only: auth is ours)."""

    def __init__(self, path: str, method: str, body: bytes) -> None:
        from openapi_core.datatypes import RequestParameters

        self.host_url = "http://127.0.0.1"
        self.path = path
        self.method = method
        self.body: bytes | None = body
        self.content_type = "application/json"
        self.parameters = RequestParameters()


class RequestChecker:
    """Validates JSON bodies of one document's operations (built once per document version)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        from openapi_core import Config, OpenAPI
        from openapi_core.validation.request import validators

        # Paths are served at the root: the document's own ``servers`` (e.g. Petstore's /v3)
        # would make every path miss.
        spec = copy.deepcopy(dict(doc))
        spec.pop("servers", None)
        v31 = str(spec.get("openapi", "")).startswith("3.1")
        cls = validators.V31RequestBodyValidator if v31 else validators.V30RequestBodyValidator
        try:
            self._api = OpenAPI.from_dict(spec, config=Config(request_validator_cls=cls))
        except Exception as exc:  # openapi-core raises many kinds for a broken document
            raise DocumentError(f"openapi-core refuses the document: {exc}") from exc
        self.doc = doc

    def problems(self, op: Operation, concrete_path: str, body: Any) -> list[dict[str, Any]]:
        """Field-level problems with ``body`` for ``op`` (``[]``: valid)."""
        from openapi_core.validation.request.exceptions import (
            InvalidRequestBody,
            MissingRequestBody,
        )
        from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

        request = _Request(concrete_path, op.method.lower(), json.dumps(body).encode())
        try:
            self._api.validate_request(request)
        except InvalidRequestBody as exc:
            cause = exc.__cause__
            errors = (
                list(getattr(cause, "schema_errors", []))
                if isinstance(cause, InvalidSchemaValue)
                else []
            )
            if not errors:
                return [_entry([], "invalid", str(exc), None)]
            schema = request_schema(self.doc, op)
            out: dict[tuple[str, str], dict[str, Any]] = {}
            for err in errors:  # 3.0's nullable reports a null twice: one entry per field/kind
                for p in _translate(err, schema):
                    out.setdefault((p["field"], p["type"]), p)
            return [out[k] for k in sorted(out)]
        except MissingRequestBody:
            return [_entry([], "missing", "the request needs a JSON body", None)]
        except Exception as exc:  # unknown path or method, broken media type...
            return [_entry([], "invalid", str(exc).splitlines()[0][:300], None)]
        return []


def _at(schema: Any, path: list[str]) -> Any:
    """The subschema of an inlined schema at a property path (``None`` if unknown)."""
    node = schema
    for part in path:
        if not isinstance(node, Mapping):
            return None
        if isinstance(node.get("properties"), Mapping) and part in node["properties"]:
            node = node["properties"][part]
        elif isinstance(node.get("items"), Mapping) and part.isdigit():
            node = node["items"]
        else:
            return None
    return node


def _entry(path: list[str], kind: str, msg: str, expected: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "loc": ["body", *path],
        "field": ".".join(path),
        "type": kind,
        "msg": msg,
    }
    if isinstance(expected, Mapping):
        out["expected"] = dict(expected)
    return out


def _translate(err: Any, schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    path = [str(p) for p in err.absolute_path]
    keyword = str(err.validator)
    instance = err.instance
    if keyword == "required":
        present = set(instance) if isinstance(instance, Mapping) else set()
        missing = [str(n) for n in err.validator_value if n not in present]
        return [
            _entry([*path, n], "missing", "field required", _at(schema, [*path, n]))
            for n in missing
        ]
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        known = list((_at(schema, path) or {}).get("properties") or {})
        out = []
        for key in instance:
            if str(key) not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                out.append(
                    _entry([*path, str(key)], "unknown_field", f"unknown field '{key}'{hint}", None)
                )
        return out
    expected = _at(schema, path)
    if keyword == "type":
        if not path:
            got = _json_type(instance)
            return [_entry([], "type_error", f"the body must be a JSON object, got {got}", None)]
        want = err.validator_value
        msg = f"expected {want}, got {_json_type(instance)} {instance!r}"
        return [_entry(path, "wrong_type", msg, expected)]
    if keyword == "enum":
        allowed = ", ".join(repr(v) for v in err.validator_value)
        msg = f"{instance!r} is not one of the allowed values: {allowed}"
        return [_entry(path, "enum", msg, expected)]
    if keyword == "format":
        what = (
            "an email address"
            if err.validator_value == "email"
            else f"a valid {err.validator_value}"
        )
        return [_entry(path, "format", f"{instance!r} is not {what}", expected)]
    return [_entry(path, keyword, str(err.message)[:300], expected)]


__all__ = ["RequestChecker"]

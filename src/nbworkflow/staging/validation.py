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
import hashlib
import json
import pickle
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..text import clip
from .contract import _json_type
from .document import DocumentError, Operation, request_schema, success_response

_JSON = "application/json"
SHOWN_CHARS = 120
"""Characters of a rejected value quoted in a 422 message (its repr, clipped)."""
_BUILT_MAX = 32
_BUILT: OrderedDict[bytes, RequestChecker] = OrderedDict()
_BUILT_LOCK = threading.Lock()


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


class _BodyCheck:
    """openapi-core's schema validator of one operation's JSON request body, built once.

    ``OpenAPI.validate_request`` spends ~0.5 ms per call finding the path again, walking the
    document through ``jsonschema-path`` accessors and building a new ``jsonschema`` validator
    (with a deep copy of the format checker) for the same schema, twice; the validation itself
    is ~25 us. This keeps what it builds, from the request validator's own factory and settings,
    so the verdict and the errors are still openapi-core's.
    """

    def __init__(self, validator: Any, media: Any) -> None:
        self._validator = validator.schema_validators_factory.create(
            validator.spec,
            media / "schema",
            format_validators=validator.format_validators,
            extra_format_validators=validator.extra_format_validators,
            forbid_unspecified_additional_properties=(
                validator.forbid_unspecified_additional_properties
            ),
            enforce_properties_required=validator.enforce_properties_required,
        ).validator

    def errors(self, body: Any) -> list[Any]:
        """The ``jsonschema`` errors of ``body`` (``[]``: valid); other exceptions propagate.

        What ``SchemaValidator.validate`` collects before raising ``InvalidSchemaValue``; that
        exception's message (the schema's type, read through ``jsonschema-path``, ~10 us) is
        never shown, so the errors are taken straight from its ``jsonschema`` validator.
        """
        return list(self._validator.iter_errors(body))


class RequestChecker:
    """Validates JSON bodies of one document's operations (built once per document version).

    Read-only once built (handler threads and mocks of the same document share it): it keeps
    its own copy of the document, and what it memoizes per operation depends on that alone.
    """

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> RequestChecker:
        """The checker of ``doc``: reused while an identical document was checked recently.

        Building one costs 15-40 ms (openapi-core validates the whole document); a test suite
        starts a mock of the same document over and over, and a chaos run's reset returns to
        the document of version 1. The key is the document's pickle (types, values and key
        order: openapi-core reads some of them in order), hashed.
        """
        try:
            key = hashlib.blake2b(pickle.dumps(doc, protocol=5), digest_size=20).digest()
        except Exception:  # a value that does not pickle: build without the memo
            return cls(doc)
        with _BUILT_LOCK:
            found = _BUILT.get(key)
            if found is not None:
                _BUILT.move_to_end(key)
                return found
        checker = cls(doc)
        with _BUILT_LOCK:
            _BUILT[key] = checker
            while len(_BUILT) > _BUILT_MAX:
                _BUILT.popitem(last=False)
        return checker

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
        self.doc: Mapping[str, Any] = copy.deepcopy(dict(doc))
        self._lock = threading.Lock()
        self._bodies: dict[Operation, _BodyCheck | None] = {}
        self._schemas: dict[Operation, dict[str, Any]] = {}
        self._responses: dict[Operation, tuple[int, dict[str, Any] | None]] = {}

    def request_schema(self, op: Operation) -> dict[str, Any]:
        """``document.request_schema`` of ``op``, inlined once; shared, so never change it."""
        schema = self._schemas.get(op)
        if schema is None:
            schema = self._schemas.setdefault(op, request_schema(self.doc, op))
        return schema

    def success_response(self, op: Operation) -> tuple[int, dict[str, Any] | None]:
        """``document.success_response`` of ``op`` (the 2xx the mock answers), inlined once;
        shared, so never change it."""
        found = self._responses.get(op)
        if found is None:
            found = self._responses.setdefault(op, success_response(self.doc, op))
        return found

    def problems(self, op: Operation, concrete_path: str, body: Any) -> list[dict[str, Any]]:
        """Field-level problems with ``body`` for ``op`` (``[]``: valid).

        ``op`` is what the mock routed ``concrete_path`` to, so the body is checked against its
        schema directly; an operation without a JSON body schema, or a body the schema validator
        cannot judge (it raised something else), takes ``OpenAPI.validate_request``, whose
        answer is the reference this one must equal (``tests/test_staging_validation.py``).
        """
        check = self._body_check(op)
        if check is not None:
            try:
                errors = check.errors(body)
            except Exception:  # rare and unexpected: let the full path decide and word it
                return self.reference_problems(op, concrete_path, body)
            return self._report(op, errors) if errors else []
        return self.reference_problems(op, concrete_path, body)

    def reference_problems(
        self, op: Operation, concrete_path: str, body: Any
    ) -> list[dict[str, Any]]:
        """``problems`` through plain ``OpenAPI.validate_request`` (slow: ~0.5 ms per call)."""
        from openapi_core.validation.request.exceptions import (
            InvalidRequestBody,
            MissingRequestBody,
        )
        from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

        # The mock serves ``/users/`` as ``/users``; openapi-core's path finder would not.
        path = concrete_path
        if len(path) > 1 and path.endswith("/") and not op.path.endswith("/"):
            path = path[:-1]
        request = _Request(path, op.method.lower(), json.dumps(body).encode())
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
            return self._report(op, errors)
        except MissingRequestBody:
            return [_entry([], "missing", "the request needs a JSON body", None)]
        except Exception as exc:  # unknown path or method, broken media type...
            return [_entry([], "invalid", str(exc).splitlines()[0][:300], None)]
        return []

    def _body_check(self, op: Operation) -> _BodyCheck | None:
        if op in self._bodies:
            return self._bodies[op]
        with self._lock:
            if op not in self._bodies:
                self._bodies[op] = self._build_body_check(op)
            return self._bodies[op]

    def _build_body_check(self, op: Operation) -> _BodyCheck | None:
        """``None`` unless the body is exactly what ``validate_request`` would check as JSON.

        The mock always sends the reference path a non-empty JSON body with content type
        ``application/json``; openapi-core then picks the ``application/json`` media type by
        exact key before any range, and validates against its ``schema``. Anything else
        (no request body, no JSON media type, no schema, a path it does not know) stays on
        the reference path, where openapi-core's own answer is used as it is.
        """
        validator: Any = self._api.request_validator  # the concrete V3xRequestBodyValidator
        try:
            operation = validator.spec / "paths" / op.path / op.method.lower()
            if "requestBody" not in operation:
                return None
            content = operation / "requestBody" / "content"
            if _JSON not in content or "schema" not in content / _JSON:
                return None
            return _BodyCheck(validator, content / _JSON)
        except Exception:  # a document openapi-core accepted but cannot walk this way
            return None

    def _report(self, op: Operation, errors: list[Any]) -> list[dict[str, Any]]:
        schema = self.request_schema(op)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for err in errors:  # 3.0's nullable reports a null twice: one entry per field/kind
            for p in _translate(err, schema):
                out.setdefault((p["field"], p["type"]), p)
        return [out[k] for k in sorted(out)]


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
        msg = f"expected {want}, got {_json_type(instance)} {_shown(instance)}"
        return [_entry(path, "wrong_type", msg, expected)]
    if keyword == "enum":
        allowed = ", ".join(repr(v) for v in err.validator_value)
        msg = f"{_shown(instance)} is not one of the allowed values: {clip(allowed, 400)}"
        return [_entry(path, "enum", msg, expected)]
    if keyword == "format":
        what = (
            "an email address"
            if err.validator_value == "email"
            else f"a valid {err.validator_value}"
        )
        return [_entry(path, "format", f"{_shown(instance)} is not {what}", expected)]
    return [_entry(path, keyword, str(err.message)[:300], expected)]


def _shown(value: Any) -> str:
    """A rejected value as the 422 quotes it: a client may send a megabyte in one field."""
    return clip(repr(value), SHOWN_CHARS)


__all__ = ["RequestChecker"]

"""The contract mock's fast request check answers exactly what ``OpenAPI.validate_request`` does.

``RequestChecker.problems`` validates a body with openapi-core's schema validator built once per
operation; ``reference_problems`` goes through plain ``OpenAPI.validate_request`` every time.
Seeded valid and invalid bodies (CRM and Petstore documents, 3.0 and 3.1, mutated documents
too, and a document using the rarer keywords) must get the same verdict and the same 422
``detail`` from both, and the verdict must also match a separate ``OpenAPI`` object built here.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request import validators

from nbworkflow.staging import validation
from nbworkflow.staging.document import (
    Operation,
    json_body_operations,
    load_document,
    operations,
    parse_operation,
    request_schema,
)
from nbworkflow.staging.example import example_value
from nbworkflow.staging.mock import OpenAPIMock
from nbworkflow.staging.mutate import DocumentMutator
from nbworkflow.staging.validation import RequestChecker

ROOT = Path(__file__).resolve().parents[1]
CRM_DOC = ROOT / "examples" / "crm" / "crm_openapi.yaml"
PET_DOC = ROOT / "examples" / "petstore" / "openapi.yaml"
TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

_SCALARS: tuple[Any, ...] = (
    None,
    0,
    -3,
    7,
    2**40,
    1.5,
    True,
    False,
    "",
    "x",
    "not-an-email",
    "dev@example.com",
    "2026-01-01",
    "pro",
    "PRO",
    "available",
)


def _kitchen_sink(version: str) -> dict[str, Any]:
    """A document with the keywords the examples lack: nullable/type lists, oneOf, bounds, refs."""
    v30 = version.startswith("3.0")
    nullable_note: dict[str, Any] = (
        {"type": "string", "nullable": True} if v30 else {"type": ["string", "null"]}
    )
    return {
        "openapi": version,
        "info": {"title": "sink", "version": "1"},
        "paths": {
            "/orders/{orderId}/lines": {
                "post": {
                    "parameters": [
                        {
                            "name": "orderId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Line"}}
                        },
                    },
                    "responses": {"201": {"description": "ok"}},
                }
            }
        },
        "components": {
            "schemas": {
                "Money": {
                    "type": "object",
                    "required": ["amount", "currency"],
                    "properties": {
                        "amount": {"type": "number", "minimum": 0, "maximum": 1e6},
                        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    },
                    "additionalProperties": False,
                },
                "Line": {
                    "type": "object",
                    "required": ["sku", "quantity", "price"],
                    "properties": {
                        "id": {"type": "integer", "readOnly": True},
                        "sku": {"type": "string", "minLength": 3, "maxLength": 12},
                        "quantity": {"type": "integer", "format": "int32", "minimum": 1},
                        "price": {"$ref": "#/components/schemas/Money"},
                        "note": nullable_note,
                        "tags": {
                            "type": "array",
                            "items": {"type": "string", "enum": ["gift", "rush", "fragile"]},
                            "maxItems": 3,
                            "uniqueItems": True,
                        },
                        "delivery": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["pickup"],
                                    "properties": {"pickup": {"type": "boolean"}},
                                    "additionalProperties": False,
                                },
                                {
                                    "type": "object",
                                    "required": ["address"],
                                    "properties": {"address": {"type": "string"}},
                                    "additionalProperties": False,
                                },
                            ]
                        },
                        "placed": {"type": "string", "format": "date-time"},
                        "contact": {"type": "string", "format": "email"},
                    },
                },
            }
        },
    }


def _documents() -> list[tuple[str, dict[str, Any], Operation]]:
    """(name, document, staged operation): both examples in both versions, mutated, and the sink."""
    crm = load_document(CRM_DOC)
    pet = load_document(PET_DOC)
    base = [
        ("crm-3.1", crm),
        ("crm-3.0", {**copy.deepcopy(crm), "openapi": "3.0.3"}),
        ("petstore-3.0", pet),
        ("petstore-3.1", {**copy.deepcopy(pet), "openapi": "3.1.0"}),
        ("sink-3.0", _kitchen_sink("3.0.3")),
        ("sink-3.1", _kitchen_sink("3.1.0")),
    ]
    out: list[tuple[str, dict[str, Any], Operation]] = []
    for name, doc in base:
        op = json_body_operations(doc)[0]
        out.append((name, doc, op))
        if name.startswith("sink"):
            continue
        for seed in (1, 5):
            mutator, mutated = DocumentMutator(seed), doc
            for step in range(1, 4):
                mutated, _ = mutator.mutate(mutated, op)
                out.append((f"{name}-seed{seed}-m{step}", mutated, op))
    return out


def _valid_body(schema: dict[str, Any]) -> Any:
    body = example_value(schema)
    if isinstance(body, dict) and "sku" in body:  # the sink's bounds beyond what examples know
        body.update(sku="ABC-1", price={"amount": 9.5, "currency": "EUR"}, contact="a@b.co")
    return body


def _perturb(rng: random.Random, value: Any, schema: Any, depth: int = 0) -> Any:
    """One seeded change somewhere in ``value`` (what a stale client or a typo would send)."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(value, dict) and value and depth < 3 and rng.random() < 0.8:
        out = dict(value)
        key = rng.choice(sorted(out))
        move = rng.choice(("drop", "retype", "typo", "descend", "extra"))
        if move == "drop":
            del out[key]
        elif move == "retype":
            out[key] = rng.choice((*_SCALARS, [], {}, [1, "a"], {"k": 1}))
        elif move == "typo" and len(key) > 2:
            out[key[:-2] + key[-1] + key[-2]] = out.pop(key)
        elif move == "extra":  # a property the schema has but the body lacked, or a stranger
            names = [*sorted(props or {}), "extra", "customer_teir", "nickname"]
            out[rng.choice(names)] = rng.choice(_SCALARS)
        else:
            sub = props.get(key) if isinstance(props, dict) else None
            out[key] = _perturb(rng, out[key], sub, depth + 1)
        return out
    if isinstance(value, list) and depth < 3 and rng.random() < 0.7:
        return [*value, rng.choice((*_SCALARS, {"id": "x"}))]
    return rng.choice((*_SCALARS, [], ["not", "an", "object"], {"x": {"y": [None]}}))


def _bodies(schema: dict[str, Any], seed: int, count: int) -> Iterator[Any]:
    rng = random.Random(seed)
    valid = _valid_body(schema)
    yield valid
    yield None
    for _ in range(count):
        body = copy.deepcopy(valid)
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            body = _perturb(rng, body, schema)
        yield body


class _Request:
    """A request of our own for the separately built ``OpenAPI`` object."""

    def __init__(self, path: str, method: str, body: Any) -> None:
        self.host_url = "http://127.0.0.1"
        self.path, self.method = path, method
        self.body: bytes | None = json.dumps(body).encode()
        self.content_type = "application/json"
        self.parameters = RequestParameters()


def _concrete(path: str) -> str:
    return path.replace("{orderId}", "42")


def _recording(checker: RequestChecker, seen: list[Any]) -> Any:
    reference = checker.reference_problems

    def record(op: Operation, path: str, body: Any) -> list[dict[str, Any]]:
        seen.append(body)
        return reference(op, path, body)

    return record


def test_fast_check_equals_validate_request(monkeypatch: pytest.MonkeyPatch) -> None:
    verdicts = {"valid": 0, "invalid": 0}
    kinds: set[str] = set()
    for index, (name, doc, op) in enumerate(_documents()):
        checker = RequestChecker(doc)
        spec = {k: v for k, v in doc.items() if k != "servers"}
        body_only = (  # the bearer token is the mock's own, not the document's security
            validators.V31RequestBodyValidator
            if doc["openapi"].startswith("3.1")
            else validators.V30RequestBodyValidator
        )
        independent = OpenAPI.from_dict(spec, config=Config(request_validator_cls=body_only))
        path = _concrete(op.path)
        schema = request_schema(doc, op)
        fast: list[tuple[Any, list[dict[str, Any]]]] = []
        fallbacks: list[Any] = []
        with monkeypatch.context() as m:
            m.setattr(checker, "reference_problems", _recording(checker, fallbacks))
            for body in _bodies(schema, seed=index, count=40):
                fast.append((body, checker.problems(op, path, body)))
        assert fallbacks == [], f"{name}: the fast check handed bodies to the reference path"
        for body, got in fast:
            want = checker.reference_problems(op, path, body)
            assert got == want, f"{name}: {body!r}"
            try:
                independent.validate_request(_Request(path, op.method.lower(), body))
                valid = True
            except Exception:
                valid = False
            assert valid == (got == []), f"{name}: {body!r} -> {got}"
            verdicts["valid" if valid else "invalid"] += 1
            kinds.update(p["type"] for p in got)
    # the seeds reach both verdicts and every kind of problem the adaptive node reads
    assert verdicts["valid"] >= 40 and verdicts["invalid"] >= 300, verdicts
    assert {"missing", "wrong_type", "enum", "format", "unknown_field", "type_error"} <= kinds


def test_operations_without_a_json_body_schema_take_the_reference_path() -> None:
    doc = _kitchen_sink("3.1.0")
    doc["paths"]["/ping"] = {"post": {"responses": {"200": {"description": "ok"}}}}
    doc["paths"]["/form"] = {
        "post": {
            "requestBody": {
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
            },
            "responses": {"200": {"description": "ok"}},
        }
    }
    checker = RequestChecker(doc)
    for op, body in ((Operation("POST", "/ping"), {"a": 1}), (Operation("POST", "/form"), [1])):
        assert checker.problems(op, op.path, body) == checker.reference_problems(op, op.path, body)
    assert checker.problems(Operation("POST", "/ping"), "/ping", {"a": 1}) == []
    (problem,) = checker.problems(Operation("POST", "/form"), "/form", [1])
    assert problem["type"] == "invalid" and "application/json" in problem["msg"]


# -- served over HTTP --------------------------------------------------------------------------


@pytest.fixture
def crm() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(CRM_DOC, token=TOKEN) as mock:
        yield mock


def test_trailing_slash_is_the_same_operation(crm: OpenAPIMock) -> None:
    """The router serves /users/ as /users; openapi-core used to answer 'Path not found' (422)."""
    body = {"email": "dev@example.com", "full_name": "Ada Lovelace", "customer_tier": "pro"}
    r = httpx.post(f"{crm.url}/users/", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    bad = httpx.post(f"{crm.url}/users/", json={**body, "customer_tier": "gold"}, headers=AUTH)
    assert [d["field"] for d in bad.json()["detail"]] == ["customer_tier"]
    checker, op = RequestChecker.of(crm.document), crm.operation
    for payload in (body, {**body, "customer_tier": "gold"}):
        assert checker.reference_problems(op, "/users/", payload) == checker.problems(
            op, "/users/", payload
        )


def test_concrete_paths_are_routed_before_templated_ones() -> None:
    doc = _kitchen_sink("3.1.0")
    lines = doc["paths"].pop("/orders/{orderId}/lines")
    search = {
        "type": "object",
        "required": ["query"],
        "properties": {"query": {"type": "string"}},
        "additionalProperties": False,
    }
    doc["paths"]["/orders/{orderId}"] = lines  # templated first, in document order
    doc["paths"]["/orders/search"] = {
        "post": {
            "requestBody": {"content": {"application/json": {"schema": search}}},
            "responses": {"200": {"description": "ok"}},
        }
    }
    with OpenAPIMock(doc, "POST /orders/{orderId}", token=TOKEN) as mock:
        r = httpx.post(f"{mock.url}/orders/search", json={"query": "rush"}, headers=AUTH)
        assert r.status_code == 200, r.text
        r = httpx.post(f"{mock.url}/orders/7", json={"query": "rush"}, headers=AUTH)
        assert r.status_code == 422 and "sku" in r.text


def test_mutation_and_reset_switch_the_checked_schema(crm: OpenAPIMock) -> None:
    """The per-version memo is dropped whole: v2 checks v2's schema, a reset checks v1's again."""
    body = {"email": "dev@example.com", "full_name": "Ada Lovelace", "customer_tier": "pro"}
    assert httpx.post(f"{crm.url}/users", json=body, headers=AUTH).status_code == 201
    crm.mutate("add_required")
    r = httpx.post(f"{crm.url}/users", json=body, headers=AUTH)
    assert r.status_code == 422 and r.json()["contract_version"] == 2
    assert r.json()["detail"][0]["type"] == "missing"
    crm.reset_contract()
    assert httpx.post(f"{crm.url}/users", json=body, headers=AUTH).status_code == 201


def test_handed_out_values_do_not_share_the_memoized_schema() -> None:
    """A 2xx body built from a document ``example`` is a copy: changing it changes no later one."""
    doc = _kitchen_sink("3.1.0")
    meta = {"type": "object", "example": {"tags": ["gift"]}}
    response = {"type": "object", "required": ["meta"], "properties": {"meta": meta}}
    doc["paths"]["/orders/{orderId}/lines"]["post"]["responses"] = {
        "201": {"description": "ok", "content": {"application/json": {"schema": response}}}
    }
    with OpenAPIMock(doc, token=TOKEN) as mock:
        good = _valid_body(request_schema(doc, mock.operation))
        status, first = mock.answer(mock.operation, "/orders/1/lines", good)
        assert status == 201 and first["meta"] == {"tags": ["gift"]}
        mock.created[-1]["meta"]["tags"].append("changed")
        assert mock.answer(mock.operation, "/orders/1/lines", good)[1]["meta"] == {"tags": ["gift"]}


def test_concurrent_requests_share_one_checker(crm: OpenAPIMock) -> None:
    """Handler threads use the memoized validator at once; every answer is still right."""
    good = {"email": "dev@example.com", "full_name": "Ada Lovelace", "customer_tier": "pro"}
    bad = {**good, "email": "nope", "full_name": 4}
    wrong = ["email", "full_name"]
    errors: list[str] = []

    def client(body: dict[str, Any], want: int) -> None:
        with httpx.Client(base_url=crm.url, headers=AUTH) as c:
            for _ in range(25):
                r = c.post("/users", json=body)
                fields = [d["field"] for d in r.json().get("detail", [])]
                if r.status_code != want or fields != (wrong if want == 422 else []):
                    errors.append(r.text)

    threads = [
        threading.Thread(target=client, args=(b, w)) for b, w in [(good, 201), (bad, 422)] * 3
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- one checker per document content -----------------------------------------------------------


def test_checkers_are_reused_for_an_identical_document_only() -> None:
    doc = _kitchen_sink("3.1.0")
    first = RequestChecker.of(doc)
    assert RequestChecker.of(copy.deepcopy(doc)) is first
    reordered = {k: doc[k] for k in reversed(list(doc))}  # same dict, other key order
    assert RequestChecker.of(reordered) is not first
    changed = copy.deepcopy(doc)
    changed["components"]["schemas"]["Line"]["required"].remove("price")
    assert RequestChecker.of(changed) is not first
    # the checker keeps its own copy: changing the caller's document later changes nothing
    op = json_body_operations(doc)[0]
    doc["components"]["schemas"]["Money"]["title"] = "changed after the checker was built"
    (problem,) = first.problems(op, "/orders/1/lines", {"sku": "ABC-1", "quantity": 1})
    assert problem["field"] == "price" and "title" not in problem["expected"]


def test_the_checker_memo_is_bounded() -> None:
    docs = []
    for n in range(validation._BUILT_MAX + 1):
        doc = _kitchen_sink("3.1.0")
        doc["info"]["version"] = f"bounded-{n}"
        docs.append(doc)
    first = RequestChecker.of(docs[0])
    for doc in docs[1:]:
        RequestChecker.of(doc)
    assert len(validation._BUILT) == validation._BUILT_MAX
    assert RequestChecker.of(docs[0]) is not first  # the oldest went first


def test_a_reset_mock_checks_version_one_again_with_its_checker(crm: OpenAPIMock) -> None:
    v1 = RequestChecker.of(crm.document)
    crm.mutate("rename")
    assert RequestChecker.of(crm.document) is not v1
    crm.reset_contract()
    assert crm._checker is v1
    with OpenAPIMock(CRM_DOC, token=TOKEN) as other:
        assert other._checker is v1


def test_a_body_nested_too_deeply_gets_a_400_and_the_mock_keeps_serving(crm: OpenAPIMock) -> None:
    """The JSON decoder's recursion limit used to kill the handler: no answer, a traceback."""
    headers = {**AUTH, "Content-Type": "application/json"}
    deep = '{"email": ' + "[" * 100_000 + "]" * 100_000 + "}"
    r = httpx.post(f"{crm.url}/users", content=deep, headers=headers)
    assert r.status_code == 400 and "too deeply" in r.json()["message"]
    good = {"email": "dev@example.com", "full_name": "Ada Lovelace", "customer_tier": "pro"}
    assert httpx.post(f"{crm.url}/users", json=good, headers=AUTH).status_code == 201


# -- routing ---------------------------------------------------------------------------------------


def _scan(ops: list[Operation], method: str, path: str) -> Operation | None:
    """The router's rule as one regex per operation, tried in order (what it replaced)."""
    for op in sorted(ops, key=lambda o: o.path.count("{")):
        parts = re.split(r"(\{[^}/]+\})", op.path)
        body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if op.method == method and re.match("^" + body + "/?$", path):
            return op
    return None


def test_routing_follows_the_one_regex_per_operation_rule() -> None:
    rng = random.Random(7)
    ok = {"200": {"description": "ok"}}
    paths: dict[str, Any] = {}
    for i in range(300):
        base = f"/v{i % 3}/res{i % 50}"
        shape = rng.choice(("", "/{id}", "/{id}/lines", "/search", "/{id}.{ext}", "/{a}/{b}", "/"))
        item = paths.setdefault(base + shape, {})
        item[rng.choice(("get", "post", "put", "delete"))] = {"responses": ok}
        item["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{([^}/]+)\}", shape)
        ]
    doc = {"openapi": "3.1.0", "info": {"title": "big", "version": "1"}, "paths": paths}
    ops = operations(doc)
    with OpenAPIMock(doc, str(ops[0]), token=TOKEN) as mock:
        probes = [
            op.path.replace("{id}", "42").replace("{ext}", "json").replace("{a}", "x") for op in ops
        ]
        probes += [p.replace("{b}", "search") + rng.choice(("", "/", "//", "x")) for p in probes]
        probes += ["/", "", "/v0", "/v9/res1", "/v1/res1/42/lines/extra", "/v0/res0/.json"]
        for path in probes:
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
                assert mock.route(method, path) == _scan(ops, method, path), (method, path)


def test_a_rejected_value_is_quoted_clipped_in_the_422() -> None:
    """The message quoted the whole value: a megabyte in one field came back (and reached the
    model's prompt) as a megabyte of 422 message."""
    doc = load_document(CRM_DOC)
    op = parse_operation(doc, "POST /users")
    checker = RequestChecker(doc)
    huge = ["x" * 1000] * 1000
    body = {"email": huge, "full_name": "A B", "customer_tier": "x" * 100_000}
    problems = checker.problems(op, "/users", body)
    assert {p["field"] for p in problems} >= {"email", "customer_tier"}
    for p in problems:
        assert len(p["msg"]) < 1000, p["field"]
        assert "…" in p["msg"]

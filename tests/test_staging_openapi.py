"""The contract mock of any OpenAPI document and the seeded document mutator (real HTTP on loopback)."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from nbworkflow.staging.document import DocumentError, load_document, parse_operation
from nbworkflow.staging.mock import OpenAPIMock
from nbworkflow.staging.mutate import MUTATION_KINDS, DocumentMutator

ROOT = Path(__file__).resolve().parents[1]
CRM_DOC = ROOT / "examples" / "crm" / "crm_openapi.yaml"
PET_DOC = ROOT / "examples" / "petstore" / "openapi.yaml"
TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REX = {"id": 7, "name": "Rex", "photoUrls": ["https://example.com/rex.jpg"], "status": "sold"}
SEED_PAYLOAD = {"email": "dev@example.com", "full_name": "Ada Lovelace"}


@pytest.fixture
def pet() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(PET_DOC, "POST /pet", token=TOKEN, seed=3) as mock:
        yield mock


@pytest.fixture
def crm() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(CRM_DOC, token=TOKEN) as mock:
        yield mock


# -- the CRM (the hand-written mock's answers, compared: test_crm_handwritten.py) -------------


def test_crm_valid_payload_is_created(crm: OpenAPIMock) -> None:
    body = {**SEED_PAYLOAD, "customer_tier": "pro"}
    r = httpx.post(f"{crm.url}/users", json=body, headers=AUTH)
    assert r.status_code == 201
    assert r.json()["email"] == "dev@example.com" and isinstance(r.json()["id"], str)


# -- Petstore: a document nobody here wrote ----------------------------------------------------


def test_petstore_2xx_body_is_built_from_the_response_schema(pet: OpenAPIMock) -> None:
    r = httpx.post(f"{pet.url}/pet", json=REX, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == REX
    minimal = {"name": "Tom", "photoUrls": []}
    assert httpx.post(f"{pet.url}/pet", json=minimal, headers=AUTH).json()["id"] == 10


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"status": "gone"}, "status", "enum"),
        ({"id": "seven"}, "id", "wrong_type"),
        ({"name": None}, "name", "wrong_type"),
        ({"category": {"id": "x"}}, "category.id", "wrong_type"),
    ],
)
def test_petstore_field_level_422(
    pet: OpenAPIMock, change: dict[str, Any], field: str, kind: str
) -> None:
    r = httpx.post(f"{pet.url}/pet", json={**REX, **change}, headers=AUTH)
    assert r.status_code == 422
    body = r.json()
    assert [(d["field"], d["type"]) for d in body["detail"]] == [(field, kind)]
    assert body["schema"]["required"] == ["name", "photoUrls"]
    assert "$ref" not in str(body["schema"])  # inlined for the client


def test_petstore_missing_required_field(pet: OpenAPIMock) -> None:
    r = httpx.post(f"{pet.url}/pet", json={"name": "Rex"}, headers=AUTH)
    [d] = r.json()["detail"]
    assert (d["loc"], d["type"], d["expected"]["type"]) == (
        ["body", "photoUrls"],
        "missing",
        "array",
    )


def test_token_faults_and_routes(pet: OpenAPIMock) -> None:
    assert httpx.post(f"{pet.url}/pet", json=REX).status_code == 401
    assert (
        httpx.post(f"{pet.url}/pet", json=REX, headers={"Authorization": "Bearer no"}).status_code
        == 401
    )
    assert (
        httpx.get(f"{pet.url}/openapi.json").json()["info"]["title"].startswith("Swagger Petstore")
    )
    assert httpx.post(f"{pet.url}/nowhere", json={}, headers=AUTH).status_code == 404
    assert httpx.post(f"{pet.url}/pet", content=b"{", headers=AUTH).status_code == 400
    pet.fail_next(2, "503")
    statuses = [httpx.post(f"{pet.url}/pet", json=REX, headers=AUTH).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    pet.fail_next(1, "reset")
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{pet.url}/pet", json=REX, headers=AUTH)
    assert pet.faults.injected == {"503": 2, "reset": 1}


def test_seeded_fault_rates_are_reproducible() -> None:
    def statuses(seed: int) -> list[int]:
        with OpenAPIMock(PET_DOC, token=TOKEN, seed=seed, fault_rates={"503": 0.5}) as mock:
            return [
                httpx.post(f"{mock.url}/pet", json=REX, headers=AUTH).status_code for _ in range(12)
            ]

    first = statuses(4)
    assert first == statuses(4) and {200, 503} == set(first)


def test_chaos_routes_mutate_the_served_contract(pet: OpenAPIMock) -> None:
    r = httpx.post(f"{pet.url}/_chaos/mutate", json={"kind": "add_required"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["kind"] == "add_required"
    added = r.json()["details"]["field"]
    assert f'+    "{added}"' in r.json()["diff"]
    rejected = httpx.post(f"{pet.url}/pet", json=REX, headers=AUTH).json()
    assert [(d["field"], d["type"]) for d in rejected["detail"]] == [(added, "missing")]
    assert rejected["contract_version"] == 2
    served = httpx.get(f"{pet.url}/openapi.json").json()
    assert added in served["components"]["schemas"]["Pet"]["required"]
    httpx.post(f"{pet.url}/_chaos/reset", headers=AUTH)
    assert httpx.post(f"{pet.url}/pet", json=REX, headers=AUTH).status_code == 200


def test_document_errors_name_the_fix(tmp_path: Path) -> None:
    doc = load_document(PET_DOC)
    with pytest.raises(DocumentError, match=r"no operation 'POST /pets'.*'POST /pet'"):
        parse_operation(doc, "POST /pets")
    bad = tmp_path / "x.yaml"
    bad.write_text("swagger: '2.0'\n")
    with pytest.raises(DocumentError, match=r"not an OpenAPI 3\.x document"):
        load_document(bad)
    with pytest.raises(DocumentError, match="cannot read"):
        load_document(tmp_path / "missing.yaml")


# -- the mutator ---------------------------------------------------------------------------


def _series(doc: dict[str, Any], op: str, seed: int, steps: int) -> list[tuple[str, str]]:
    mutator, operation, out = DocumentMutator(seed), parse_operation(doc, op), []
    for _ in range(steps):
        doc, m = mutator.mutate(doc, operation)
        out.append((m.description, m.diff))
    return out


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([(CRM_DOC, "POST /users"), (PET_DOC, "POST /pet")]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=8),
)
def test_every_mutation_of_a_valid_document_is_valid(
    source: tuple[Path, str], seed: int, steps: int
) -> None:
    path, op = source
    doc = load_document(path)
    original = copy.deepcopy(doc)
    mutator, operation = DocumentMutator(seed), parse_operation(doc, op)
    for _ in range(steps):
        new, mutation = mutator.mutate(doc, operation)
        validate(new)  # openapi-spec-validator raises on an invalid document
        assert mutation.kind in MUTATION_KINDS and mutation.description and mutation.diff
        assert new != doc
        doc = new
    assert load_document(path) == original  # the input was not changed in place


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_same_seed_same_sequence(seed: int) -> None:
    doc = load_document(PET_DOC)
    assert _series(doc, "POST /pet", seed, 6) == _series(doc, "POST /pet", seed, 6)


def test_different_seeds_differ_and_kinds_are_refused_when_inapplicable() -> None:
    doc = load_document(PET_DOC)
    assert _series(doc, "POST /pet", 1, 6) != _series(doc, "POST /pet", 2, 6)
    crm = load_document(CRM_DOC)
    with pytest.raises(ValueError, match="does not apply"):
        DocumentMutator(0).mutate(crm, parse_operation(crm, None), "change_type")
    with pytest.raises(ValueError, match="unknown mutation kind"):
        DocumentMutator(0).mutate(crm, parse_operation(crm, None), "explode")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", MUTATION_KINDS)
def test_each_kind_breaks_a_payload_that_fit_before(kind: str) -> None:
    with OpenAPIMock(PET_DOC, token=TOKEN, seed=1) as mock:
        assert httpx.post(f"{mock.url}/pet", json=REX, headers=AUTH).status_code == 200
        mutation = mock.mutate(kind)  # type: ignore[arg-type]
        assert mutation.kind == kind
        r = httpx.post(f"{mock.url}/pet", json=REX, headers=AUTH)
        assert r.status_code == 422, (mutation.description, r.text)


# -- the command ---------------------------------------------------------------------------


def test_staging_serve_as_a_subprocess() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nbworkflow.staging",
            "staging",
            "serve",
            "--openapi",
            str(PET_DOC),
            "--port",
            "0",
            "--token",
            TOKEN,
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert httpx.post(f"{url}/pet", json=REX, headers=AUTH).status_code == 200
        assert httpx.post(f"{url}/pet", json={}, headers=AUTH).status_code == 422
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_staging_serve_refuses_an_unknown_operation(capsys: pytest.CaptureFixture[str]) -> None:
    from nbworkflow.staging.command import main

    code = main(["staging", "serve", "--openapi", str(PET_DOC), "--operation", "PUT /nope"])
    assert code == 2
    assert "no operation 'PUT /nope'" in capsys.readouterr().err


def test_existing_staging_entry_point_serves_a_document(capsys: pytest.CaptureFixture[str]) -> None:
    """``nbworkflow staging serve --openapi`` works through today's CLI (staging.main)."""
    from nbworkflow.staging import main as staging_main

    code = staging_main(["serve", "--openapi", str(PET_DOC), "--operation", "PUT /nope"])
    assert code == 2
    assert "no operation 'PUT /nope'" in capsys.readouterr().err


# -- hostile documents ----------------------------------------------------------------------


def _laughs(levels: int, width: int) -> str:
    lines = ["openapi: 3.0.3", "info: {title: t, version: '1'}", "x-a0: &a0 [lol]"]
    for i in range(1, levels):
        lines.append(f"x-a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines.append("paths: {/u: {post: {responses: {'201': {description: ok}}}}}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    """A 9x9 "billion laughs" document took 48 s to load (and again at every /openapi.json)."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_laughs(9, 9))
    with pytest.raises(DocumentError, match=r"bomb\.yaml:\d+:\d+: refused: aliases .*expand"):
        load_document(bomb)
    loop = tmp_path / "loop.yaml"
    loop.write_text("openapi: 3.0.3\nx-a: &a [*a]\npaths: {/u: {get: {}}}\n")
    with pytest.raises(
        DocumentError, match=r"loop\.yaml:2:6: refused: an alias \(\*name\) refers to"
    ):
        load_document(loop)
    # a few small aliases, as real documents use them, still load
    fine = tmp_path / "fine.yaml"
    fine.write_text(_laughs(3, 3))
    assert load_document(fine)["x-a2"] == [[["lol"]] * 3] * 3


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_deeply_nested_document_is_refused_cleanly(tmp_path: Path, suffix: str) -> None:
    for depth in (150, 100_000):  # past our bound; past the JSON decoder's recursion
        deep = tmp_path / f"deep{depth}{suffix}"
        nested = "[" * depth + "]" * depth
        deep.write_text(f'{{"openapi": "3.0.3", "paths": {{"/u": {{}}}}, "x": {nested}}}')
        # (libyaml itself stops a flow this deep: its own words, still one clean line)
        refusal = "refused: nesting deeper than 100 levels|while increasing flow level"
        with pytest.raises(DocumentError, match=refusal):
            load_document(deep)

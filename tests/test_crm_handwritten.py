"""The hand-written mock CRM in ``examples/crm/handwritten_mock``: the chaos benchmark's baseline.

The package serves the CRM as ``OpenAPIMock`` of ``examples/crm/crm_openapi.yaml``; these tests
keep the baseline honest: its Python contract is the document (no drift), it answers the same
422s as the contract mock, its mutator is seeded, and the package's repair agent heals it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nbworkflow.staging import OpenAPIMock, bundled_document, mapper_code, repair

from .support.crm import ADA, GOOD_PAYLOAD, SEED_PAYLOAD, USERS, run_mapper
from .support.handwritten import handwritten_mock

hw = handwritten_mock()
TOKEN = "t0k-staging"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# -- the contract is the document ------------------------------------------------------------


def test_the_bundled_document_is_the_hand_written_contract() -> None:
    """examples/crm/crm_openapi.yaml is what the hand-written mock describes (no drift)."""
    shipped = yaml.safe_load(bundled_document("crm").read_text())
    assert shipped == hw.openapi_document(hw.initial_contract())
    assert shipped["components"]["schemas"]["UserCreate"]["required"] == [
        "email",
        "full_name",
        "customer_tier",
    ]


@pytest.mark.parametrize(
    "payload",
    [
        SEED_PAYLOAD,
        {**SEED_PAYLOAD, "customer_tier": "gold"},
        {**SEED_PAYLOAD, "customer_tier": "pro", "full_name": 42},
        {**SEED_PAYLOAD, "customer_tier": "pro", "email": "not-an-email"},
        {**SEED_PAYLOAD, "customer_tier": "pro", "customer_teir": "pro"},
        ["not", "an", "object"],
    ],
    ids=["missing", "enum", "wrong_type", "format", "unknown_field", "not_an_object"],
)
def test_both_mocks_answer_the_same_422(payload: Any) -> None:
    with (
        hw.MockCRM(token=TOKEN) as old,
        OpenAPIMock(bundled_document("crm"), token=TOKEN) as new,
    ):
        want = httpx.post(f"{old.url}/users", json=payload, headers=AUTH)
        got = httpx.post(f"{new.url}/users", json=payload, headers=AUTH)
    assert got.status_code == want.status_code == 422
    g, w = got.json(), want.json()
    assert g.keys() == w.keys()
    assert g["schema"]["properties"] == w["schema"]["properties"]
    pick = ("loc", "field", "type", "expected")
    assert [{k: d.get(k) for k in pick} for d in g["detail"]] == [
        {k: d.get(k) for k in pick} for d in w["detail"]
    ]
    if "teir" in str(payload):
        assert "did you mean 'customer_tier'" in g["detail"][0]["msg"]
        assert "did you mean 'customer_tier'" in w["detail"][0]["msg"]


# -- the Python contract and its mutator -----------------------------------------------------


def with_added(kind: str) -> Any:
    """The initial contract plus one added required constant field of type ``kind``."""
    for seed in range(100):
        contract, _ = hw.Mutator(seed).mutate(hw.initial_contract(), "add_required")
        if contract.fields[-1].type == kind and contract.fields[-1].source is None:
            return contract
    raise AssertionError(f"no seed adds a constant {kind} field")


def test_booleans_are_not_integers() -> None:
    contract = with_added("integer")
    payload = {**GOOD_PAYLOAD, contract.fields[-1].name: True}
    assert [p["type"] for p in contract.validate(payload)] == ["wrong_type"]


def test_schema_round_trips() -> None:
    contract = hw.initial_contract()
    for _ in range(5):
        contract, _ = hw.Mutator(3).mutate(contract)
    back = hw.Contract(hw.contract_from_schema(contract.request_schema()))
    assert back.request_schema() == contract.request_schema()


def mutation_series(seed: int, count: int) -> list[str]:
    mutator, contract, out = hw.Mutator(seed), hw.initial_contract(), []
    for _ in range(count):
        contract, mutation = mutator.mutate(contract)
        out.append(mutation.description)
    return out


def test_same_seed_same_mutations() -> None:
    assert mutation_series(11, 8) == mutation_series(11, 8)
    assert mutation_series(11, 8) != mutation_series(12, 8)


@pytest.mark.parametrize("kind", hw.MUTATION_KINDS)
def test_each_mutation_kind_breaks_the_previous_payload(kind: str) -> None:
    before = hw.initial_contract()
    if kind == "change_type":  # needs a constant field first
        before = with_added("integer")
    after, mutation = hw.Mutator(5).mutate(before, kind)
    assert mutation.kind == kind and after.version == before.version + 1
    assert mutation.description in after.history[-1]
    payload = run_mapper(mapper_code(before.request_schema()), ADA)
    assert before.validate(payload) == []
    assert after.validate(payload), f"{kind} did not break {payload}"


def test_inapplicable_or_unknown_mutation_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        hw.Mutator(0).mutate(hw.initial_contract(), "change_type")
    with pytest.raises(ValueError, match="unknown mutation kind"):
        hw.Mutator(0).mutate(hw.initial_contract(), "explode")


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=8))
def test_the_package_repair_agent_heals_every_hand_written_mutation(seed: int, steps: int) -> None:
    mutator, contract = hw.Mutator(seed), hw.initial_contract()
    code = mapper_code(contract.request_schema())
    for _ in range(steps):
        contract, _ = mutator.mutate(contract)
        problems = contract.validate(run_mapper(code, ADA))
        assert problems  # every mutation is a regression for the code that fit before
        body = {"detail": problems, "schema": contract.request_schema(), "contract_version": 2}
        prompt = (
            f"Entrypoint: `sync_to_crm`\n\n```json\n{json.dumps(body)}\n```\n\n"
            f"# Current code\n```python\n{code}\n```\n"
        )
        code = repair(prompt)["code"]
        for user in USERS:
            assert contract.validate(run_mapper(code, user)) == []


# -- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def crm() -> Iterator[Any]:
    with hw.MockCRM(token=TOKEN, seed=3) as server:
        yield server


@pytest.mark.integration
def test_serves_the_current_contract(crm: Any) -> None:
    with httpx.Client(timeout=5, trust_env=False) as c:
        assert c.get(f"{crm.url}/openapi.json").json()["info"]["version"] == "contract-v1"
        assert c.post(f"{crm.url}/users", json=GOOD_PAYLOAD).status_code == 401
        r = c.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH)
        assert r.status_code == 201 and r.json()["id"] == "usr_0001"
        assert c.get(f"{crm.url}/users", headers=AUTH).json()["users"][0]["email"] == ADA["email"]
        assert c.post(f"{crm.url}/users", content=b"{nope", headers=AUTH).status_code == 400
        assert c.put(f"{crm.url}/users", json={}, headers=AUTH).status_code == 405
        crm.mutate("rename")
        doc = c.get(f"{crm.url}/openapi.json").json()
        assert doc["info"]["version"] == "contract-v2"
        assert doc["components"]["schemas"]["UserCreate"] == crm.contract.request_schema()
        assert c.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code == 422


@pytest.mark.integration
def test_mutate_every_n_requests() -> None:
    with (
        hw.MockCRM(token=TOKEN, seed=9, mutate_every=2) as crm,
        httpx.Client(timeout=5, trust_env=False) as c,
    ):
        statuses = [
            c.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 422]
        assert crm.contract.version == 2 and len(crm.mutations) == 1

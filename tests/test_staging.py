"""The mock CRM: contract validation, seeded mutations, faults, the HTTP server, the repair agent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nbworkflow.staging import (
    MUTATION_KINDS,
    FaultPlan,
    MockCRM,
    Mutator,
    initial_contract,
    mapper_code,
    openapi_document,
    repair,
)
from nbworkflow.staging.contract import Contract, contract_from_schema
from nbworkflow.staging.repair import find_staging_error

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "crm"
ADA = {"email": "dev@example.com", "first": "Ada", "last": "Lovelace", "plan": "pro"}
USERS = [
    ADA,
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "plan": "free"},
    {"email": "ken@example.com", "first": "Ken", "last": "Thompson", "plan": "enterprise"},
]
SEED_PAYLOAD = {"email": "dev@example.com", "full_name": "Ada Lovelace"}
GOOD_PAYLOAD = {**SEED_PAYLOAD, "customer_tier": "pro"}


def run_mapper(code: str, user: dict[str, Any]) -> Any:
    """Evaluate generated mapper code (our own deterministic generator, not model output)."""
    namespace: dict[str, Any] = {}
    exec(compile(code, "<mapper>", "exec"), namespace)
    return namespace["sync_to_crm"](user)


# -- contract --------------------------------------------------------------------------------


def test_seed_payload_misses_customer_tier() -> None:
    [problem] = initial_contract().validate(SEED_PAYLOAD)
    assert problem["field"] == "customer_tier" and problem["type"] == "missing"
    assert problem["loc"] == ["body", "customer_tier"]
    assert problem["expected"]["enum"] == ["free", "pro", "enterprise"]
    assert initial_contract().validate(GOOD_PAYLOAD) == []


@pytest.mark.parametrize(
    ("payload", "field", "kind"),
    [
        ({**GOOD_PAYLOAD, "customer_tier": "gold"}, "customer_tier", "enum"),
        ({**GOOD_PAYLOAD, "full_name": 42}, "full_name", "wrong_type"),
        ({**GOOD_PAYLOAD, "email": "not-an-email"}, "email", "format"),
        ({**GOOD_PAYLOAD, "fullname": "x"}, "fullname", "unknown_field"),
    ],
)
def test_field_level_problems(payload: dict[str, Any], field: str, kind: str) -> None:
    problems = initial_contract().validate(payload)
    assert [(p["field"], p["type"]) for p in problems] == [(field, kind)]


def test_unknown_field_suggests_a_close_name() -> None:
    problems = initial_contract().validate({**GOOD_PAYLOAD, "customer_teir": "pro"})
    assert "did you mean 'customer_tier'" in problems[0]["msg"]


def test_body_must_be_an_object() -> None:
    [problem] = initial_contract().validate(["not", "an", "object"])
    assert problem["type"] == "type_error" and "array" in problem["msg"]


def with_added(kind: str) -> Contract:
    """The initial contract plus one added required field of type ``kind``."""
    for seed in range(100):
        contract, _ = Mutator(seed).mutate(initial_contract(), "add_required")
        if contract.fields[-1].type == kind and contract.fields[-1].source is None:
            return contract
    raise AssertionError(f"no seed adds a constant {kind} field")


def test_booleans_are_not_integers() -> None:
    contract = with_added("integer")
    payload = {**GOOD_PAYLOAD, contract.fields[-1].name: True}
    assert [p["type"] for p in contract.validate(payload)] == ["wrong_type"]


def test_schema_round_trips() -> None:
    contract = initial_contract()
    for _ in range(5):
        contract, _ = Mutator(3).mutate(contract)
    back = Contract(contract_from_schema(contract.request_schema()))
    assert back.request_schema() == {
        k: v for k, v in contract.request_schema().items() if k != "title"
    } | {"title": "UserCreate"}


# -- mutator ---------------------------------------------------------------------------------


def mutation_series(seed: int, count: int) -> list[str]:
    mutator, contract, out = Mutator(seed), initial_contract(), []
    for _ in range(count):
        contract, mutation = mutator.mutate(contract)
        out.append(mutation.description)
    return out


def test_same_seed_same_mutations() -> None:
    assert mutation_series(11, 8) == mutation_series(11, 8)
    assert mutation_series(11, 8) != mutation_series(12, 8)


@pytest.mark.parametrize("kind", MUTATION_KINDS)
def test_each_mutation_kind_breaks_the_previous_payload(kind: str) -> None:
    before = initial_contract()
    if kind == "change_type":  # needs a constant field first
        before = with_added("integer")
    after, mutation = Mutator(5).mutate(before, kind)  # type: ignore[arg-type]
    assert mutation.kind == kind and after.version == before.version + 1
    assert mutation.description in after.history[-1]
    payload = run_mapper(mapper_code(before.request_schema()), ADA)
    assert before.validate(payload) == []
    assert after.validate(payload), f"{kind} did not break {payload}"


def test_inapplicable_or_unknown_mutation_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        Mutator(0).mutate(initial_contract(), "change_type")
    with pytest.raises(ValueError, match="unknown mutation kind"):
        Mutator(0).mutate(initial_contract(), "explode")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=8))
def test_repair_agent_heals_every_seeded_mutation(seed: int, steps: int) -> None:
    """Each regression is detected (422 details) and the repair answers valid code."""
    mutator, contract = Mutator(seed), initial_contract()
    code = mapper_code(contract.request_schema())
    for _ in range(steps):
        contract, _ = mutator.mutate(contract)
        payload = run_mapper(code, ADA)
        problems = contract.validate(payload)
        assert problems  # every mutation is a regression for the code that fit before
        body = {"detail": problems, "schema": contract.request_schema(), "contract_version": 2}
        prompt = (
            "Entrypoint: `sync_to_crm`\n\n## Staging response\n```json\n"
            f"{__import__('json').dumps(body, indent=2)}\n```\n\n# Current code\n```python\n"
            f"{code}\n```\n"
        )
        answer = repair(prompt)
        code = answer["code"]
        for user in USERS:
            assert contract.validate(run_mapper(code, user)) == []


def test_repair_without_contract_details_keeps_the_code() -> None:
    prompt = "Entrypoint: `sync_to_crm`\n\n# Current code\n```python\ndef sync_to_crm(u):\n    return {}\n```\n"
    answer = repair(prompt)
    assert answer["code"] == "def sync_to_crm(u):\n    return {}"
    assert "no contract details" in answer["rationale"]
    assert find_staging_error('```json\n{"not": "it"}\n```') is None


# -- faults ----------------------------------------------------------------------------------


def test_fault_schedule_is_exact() -> None:
    plan = FaultPlan()
    plan.fail_next(3, "503")
    plan.schedule([None, "reset"])
    assert [plan.next_fault() for _ in range(7)] == ["503", "503", "503", None, "reset", None, None]
    assert plan.injected == {"503": 3, "reset": 1}


def test_fault_rates_are_seeded() -> None:
    def roll(seed: int) -> list[str | None]:
        plan = FaultPlan(seed=seed, rates={"503": 0.3, "reset": 0.1, "slow": 0.1})
        return [plan.next_fault() for _ in range(200)]

    first = roll(4)
    assert first == roll(4) and first != roll(5)
    assert 40 <= first.count("503") <= 80 and first.count("reset") > 5


def test_bad_fault_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan().fail_next(1, "404")
    with pytest.raises(ValueError, match="more than 1"):
        FaultPlan(rates={"503": 0.7, "reset": 0.7})


# -- OpenAPI ---------------------------------------------------------------------------------


def test_example_openapi_is_the_initial_document() -> None:
    shipped = yaml.safe_load((EXAMPLES / "crm_openapi.yaml").read_text())
    assert shipped == openapi_document(initial_contract())
    schema = shipped["components"]["schemas"]["UserCreate"]
    assert schema["required"] == ["email", "full_name", "customer_tier"]


# -- the server over HTTP --------------------------------------------------------------------

TOKEN = "t0k-staging"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def crm() -> Iterator[MockCRM]:
    with MockCRM(token=TOKEN, seed=3, slow_seconds=2.0) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, trust_env=False) as c:
        yield c


@pytest.mark.integration
def test_serves_its_openapi_without_auth(crm: MockCRM, client: httpx.Client) -> None:
    doc = client.get(f"{crm.url}/openapi.json").json()
    assert doc["info"]["version"] == "contract-v1"
    crm.mutate("rename")
    doc = client.get(f"{crm.url}/openapi.json").json()
    assert doc["info"]["version"] == "contract-v2"
    assert doc["components"]["schemas"]["UserCreate"] == crm.contract.request_schema()


@pytest.mark.integration
def test_requires_the_bearer_token(crm: MockCRM, client: httpx.Client) -> None:
    assert client.post(f"{crm.url}/users", json=GOOD_PAYLOAD).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=wrong).status_code == 401
    assert client.get(f"{crm.url}/users").status_code == 401
    assert client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code == 201


@pytest.mark.integration
def test_post_users_validates_against_the_current_contract(
    crm: MockCRM, client: httpx.Client
) -> None:
    r = client.post(f"{crm.url}/users", json=SEED_PAYLOAD, headers=AUTH)
    assert r.status_code == 422
    body = r.json()
    assert [(d["field"], d["type"]) for d in body["detail"]] == [("customer_tier", "missing")]
    assert body["schema"] == crm.contract.request_schema() and body["contract_version"] == 1
    r = client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH)
    assert r.status_code == 201 and r.json()["id"] == "usr_0001"
    assert client.get(f"{crm.url}/users", headers=AUTH).json()["users"][0]["email"] == ADA["email"]
    r = client.post(f"{crm.url}/users", content=b"{nope", headers=AUTH)
    assert r.status_code == 400
    assert client.get(f"{crm.url}/nowhere").status_code == 404
    assert client.put(f"{crm.url}/users", json={}, headers=AUTH).status_code == 405


@pytest.mark.integration
def test_mutate_every_n_requests(client: httpx.Client) -> None:
    with MockCRM(token=TOKEN, seed=9, mutate_every=2) as crm:
        statuses = [
            client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 422]
        assert crm.contract.version == 2 and len(crm.mutations) == 1


@pytest.mark.integration
def test_scheduled_faults(crm: MockCRM, client: httpx.Client) -> None:
    crm.fail_next(3, "503")
    statuses = [
        client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code
        for _ in range(4)
    ]
    assert statuses == [503, 503, 503, 201]
    crm.faults.schedule(["reset"])
    with pytest.raises(httpx.TransportError):
        client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH)
    crm.faults.schedule(["slow"])
    with pytest.raises(httpx.TimeoutException):
        client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH, timeout=0.2)
    assert crm.state()["faults_injected"] == {"503": 3, "reset": 1, "slow": 1}
    # Faults hit POST /users only: the documentation stays reachable.
    crm.fail_next(1, "503")
    assert client.get(f"{crm.url}/openapi.json").status_code == 200


@pytest.mark.integration
def test_chaos_admin_endpoints(crm: MockCRM, client: httpx.Client) -> None:
    assert client.post(f"{crm.url}/_chaos/mutate", json={}).status_code == 401
    r = client.post(f"{crm.url}/_chaos/mutate", json={"kind": "nest"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["kind"] == "nest" and r.json()["version"] == 2
    r = client.post(f"{crm.url}/_chaos/mutate", json={"kind": "nest"}, headers=AUTH)
    assert r.status_code == 400 and "does not apply" in r.json()["message"]
    r = client.post(f"{crm.url}/_chaos/faults", json={"next": ["429"]}, headers=AUTH)
    assert r.json()["faults_pending"] == 1
    assert client.post(f"{crm.url}/users", json={}, headers=AUTH).status_code == 429
    r = client.post(f"{crm.url}/_chaos/reset", json={}, headers=AUTH)
    assert r.json()["contract_version"] == 1
    assert client.get(f"{crm.url}/_chaos/state", headers=AUTH).json()["history"] == []


@pytest.mark.integration
def test_cli_main_serves_until_interrupted(tmp_path: Path) -> None:
    code = "import sys; from nbworkflow.staging import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "STAGING_TOKEN": "cli-token"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", "0", "--seed", "2", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        with httpx.Client(timeout=5, trust_env=False) as c:
            assert c.get(f"{url}/openapi.json").status_code == 200
            r = c.post(
                f"{url}/users", json=GOOD_PAYLOAD, headers={"Authorization": "Bearer cli-token"}
            )
            assert r.status_code == 201
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

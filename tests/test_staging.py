"""The bundled CRM as the contract mock of its document: faults, token, chaos routes, 422 shape,
mutations over HTTP, the repair agent, and the document shipped in the wheel.

(The hand-written mock CRM these tests used to cover is ``examples/crm/handwritten_mock``, the
chaos benchmark's baseline: ``test_crm_handwritten.py``.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbworkflow.staging import (
    DocumentMutator,
    FaultPlan,
    OpenAPIMock,
    bundled_document,
    bundled_example,
    load_document,
    mapper_code,
    repair,
)
from nbworkflow.staging.document import parse_operation, request_schema
from nbworkflow.staging.repair import find_staging_error
from nbworkflow.staging.validation import RequestChecker

from .support.crm import ADA, GOOD_PAYLOAD, SEED_PAYLOAD, USERS, run_mapper

ROOT = Path(__file__).resolve().parents[1]


# -- the bundled document --------------------------------------------------------------------


def test_bundled_document_is_the_examples_copy_in_a_checkout() -> None:
    assert bundled_document("crm") == ROOT / "examples" / "crm" / "crm_openapi.yaml"
    assert (bundled_example("crm") / "workflow.yaml").is_file()
    with pytest.raises(ValueError, match="no bundled example 'billing'; there is: crm"):
        bundled_example("billing")


@pytest.mark.integration
def test_the_wheel_carries_the_crm_example_and_finds_it(tmp_path: Path) -> None:
    """A non-editable install has no examples/ folder: the wheel's copy is what the demo runs."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("nbworkflow-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    for name in ("crm_openapi.yaml", "workflow.yaml", "workflow.cassette.jsonl", "script.yaml"):
        assert f"nbworkflow/_examples/crm/{name}" in names
    assert not [n for n in names if "handwritten" in n or n.startswith("examples/")]
    # The installed copy finds its own files (not this checkout's), and the demo runs from
    # them in a folder with no examples/ (the recorded cassette: offline, no API key).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from nbworkflow.staging import bundled_document; print(bundled_document()); "
        "from nbworkflow.cli import main; "
        "sys.exit(main(['demo', '--runs-dir', 'runs', '-q']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    demo = subprocess.run(
        [sys.executable, "-c", script, str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    shipped = site / "nbworkflow" / "_examples" / "crm" / "crm_openapi.yaml"
    assert Path(demo.stdout.splitlines()[0]) == shipped
    assert shipped.read_bytes() == (ROOT / "examples" / "crm" / "crm_openapi.yaml").read_bytes()
    assert "contract mock of crm_openapi.yaml" in demo.stderr
    assert "attempt 2 [success]" in demo.stdout  # healed: 422 -> rewrite -> 201


# -- the repair agent ------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=6))
def test_repair_agent_heals_every_seeded_mutation_of_the_document(seed: int, steps: int) -> None:
    """Each regression is detected (openapi-core's 422 details) and the repair answers code
    that every sample user passes with."""
    doc = load_document(bundled_document("crm"))
    op = parse_operation(doc, None)
    mutator = DocumentMutator(seed)
    code = mapper_code(request_schema(doc, op))
    for version in range(2, steps + 2):
        doc, _ = mutator.mutate(doc, op)
        checker = RequestChecker(doc)
        problems = checker.problems(op, "/users", run_mapper(code, ADA))
        assert problems  # every mutation is a regression for the code that fit before
        body = {"detail": problems, "schema": request_schema(doc, op), "contract_version": version}
        prompt = (
            f"Entrypoint: `sync_to_crm`\n\n## Staging response\n```json\n{json.dumps(body)}\n```"
            f"\n\n# Current code\n```python\n{code}\n```\n"
        )
        code = repair(prompt)["code"]
        for user in USERS:
            assert checker.problems(op, "/users", run_mapper(code, user)) == []


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


# -- the server over HTTP --------------------------------------------------------------------

TOKEN = "t0k-staging"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def crm() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(bundled_document("crm"), token=TOKEN, seed=3, slow_seconds=2.0) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, trust_env=False) as c:
        yield c


@pytest.mark.integration
def test_serves_its_current_document_without_auth(crm: OpenAPIMock, client: httpx.Client) -> None:
    doc = client.get(f"{crm.url}/openapi.json").json()
    assert doc["info"]["version"] == "contract-v1"
    assert doc["components"]["schemas"]["UserCreate"] == crm.request_schema()
    crm.mutate("rename")
    doc = client.get(f"{crm.url}/openapi.json").json()
    assert doc["components"]["schemas"]["UserCreate"] == crm.request_schema()
    assert crm.state()["contract_version"] == 2


@pytest.mark.integration
def test_requires_the_bearer_token(crm: OpenAPIMock, client: httpx.Client) -> None:
    assert client.post(f"{crm.url}/users", json=GOOD_PAYLOAD).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=wrong).status_code == 401
    assert client.get(f"{crm.url}/users").status_code == 401
    assert client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code == 201


@pytest.mark.integration
def test_post_users_validates_against_the_current_document(
    crm: OpenAPIMock, client: httpx.Client
) -> None:
    r = client.post(f"{crm.url}/users", json=SEED_PAYLOAD, headers=AUTH)
    assert r.status_code == 422
    body = r.json()
    assert [(d["field"], d["type"]) for d in body["detail"]] == [("customer_tier", "missing")]
    assert body["detail"][0]["expected"]["enum"] == ["free", "pro", "enterprise"]
    assert body["schema"] == crm.request_schema() and body["contract_version"] == 1
    assert find_staging_error(f"```json\n{r.text}\n```") == body
    r = client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH)
    assert r.status_code == 201 and r.json()["email"] == ADA["email"]
    assert crm.created == [r.json()]
    assert client.post(f"{crm.url}/users", content=b"{nope", headers=AUTH).status_code == 400
    assert client.get(f"{crm.url}/nowhere").status_code == 404
    assert client.put(f"{crm.url}/users", json={}, headers=AUTH).status_code == 404


@pytest.mark.integration
def test_mutate_every_n_requests(client: httpx.Client) -> None:
    with OpenAPIMock(bundled_document("crm"), token=TOKEN, seed=9, mutate_every=2) as crm:
        statuses = [
            client.post(f"{crm.url}/users", json=GOOD_PAYLOAD, headers=AUTH).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 422]
        assert crm.state()["contract_version"] == 2 and len(crm.mutations) == 1
    with pytest.raises(ValueError, match="at least 1"):
        OpenAPIMock(bundled_document("crm"), mutate_every=0)


@pytest.mark.integration
def test_scheduled_faults(crm: OpenAPIMock, client: httpx.Client) -> None:
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
    # Faults hit the staged operation only: the documentation and the other routes stay up.
    crm.fail_next(1, "503")
    assert client.get(f"{crm.url}/openapi.json").status_code == 200
    assert client.get(f"{crm.url}/users", headers=AUTH).status_code == 200


@pytest.mark.integration
def test_chaos_admin_endpoints(crm: OpenAPIMock, client: httpx.Client) -> None:
    assert client.post(f"{crm.url}/_chaos/mutate", json={}).status_code == 401
    r = client.post(f"{crm.url}/_chaos/mutate", json={"kind": "nest"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["kind"] == "nest" and r.json()["version"] == 2
    assert r.json()["diff"].startswith("---")
    r = client.post(f"{crm.url}/_chaos/mutate", json={"kind": "explode"}, headers=AUTH)
    assert r.status_code == 400 and "unknown mutation kind" in r.json()["message"]
    r = client.post(f"{crm.url}/_chaos/faults", json={"next": ["429"]}, headers=AUTH)
    assert r.json()["faults_pending"] == 1
    assert client.post(f"{crm.url}/users", json={}, headers=AUTH).status_code == 429
    r = client.post(f"{crm.url}/_chaos/reset", json={}, headers=AUTH)
    assert r.json()["contract_version"] == 1
    assert client.get(f"{crm.url}/_chaos/state", headers=AUTH).json()["history"] == []


def test_chaos_routes_answer_400_to_a_body_nested_too_deeply(
    crm: OpenAPIMock, client: httpx.Client
) -> None:
    """The decoder's RecursionError killed the handler thread: no answer, a traceback."""
    deep = b"[" * 5000 + b"]" * 5000
    for route in ("mutate", "faults", "reset"):
        r = client.post(f"{crm.url}/_chaos/{route}", content=deep, headers=AUTH)
        assert r.status_code == 400 and "nested deeper than" in r.json()["message"]
    assert client.get(f"{crm.url}/_chaos/state", headers=AUTH).status_code == 200


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

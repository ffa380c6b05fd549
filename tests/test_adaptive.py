"""The adaptive node: gate, infra retries, rewrites, decision log, secrets.

Unit tests drive the loop with a subprocess test double for the sandbox (``FakeSandbox``: the
code still never runs in this process) and an ``httpx.MockTransport`` for staging. Integration
tests run the same loop against the CRM's contract mock over loopback HTTP, and the seed's whole CRM
workflow with the real sandbox.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nbworkflow.agents.base import ModelRequest
from nbworkflow.agents.scripted import ScriptedProvider
from nbworkflow.config import RunOptions
from nbworkflow.engine import RunResult, arun_workflow
from nbworkflow.events import Decision, NodeFailed, RunEvent, event_to_json
from nbworkflow.nodes.adaptive import LOG_KEYS, SandboxPort, decision_log
from nbworkflow.spec import WorkflowSpec, load_workflow
from nbworkflow.staging import OpenAPIMock, bundled_document, repair_responder

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "crm"

BROKEN = textwrap.dedent(
    """\
    def sync_to_crm(internal_user):
        return {
            "email": internal_user["email"],
            "full_name": f"{internal_user['first']} {internal_user['last']}",
        }
    """
)
GOOD = BROKEN.replace("    }\n", '        "customer_tier": internal_user["plan"],\n    }\n')
TESTS = textwrap.dedent(
    """\
    ADA = {"email": "dev@example.com", "first": "Ada", "last": "Lovelace", "plan": "pro"}

    def test_email_is_copied():
        assert sync_to_crm(ADA)["email"] == "dev@example.com"

    def test_has_a_tier():
        assert "customer_tier" in sync_to_crm(ADA)
    """
)
SAMPLES = [
    {"email": "dev@example.com", "first": "Ada", "last": "Lovelace", "plan": "pro"},
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "plan": "free"},
]


# ---------------------------------------------------------------------------------------------
# A sandbox test double: a fresh interpreter per call, results as JSON on stdout
# ---------------------------------------------------------------------------------------------

_HARNESS = r"""
import json, sys, traceback
req = json.load(sys.stdin)
ns = {"__name__": "solution"}
def fail(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    line = next((f.lineno for f in reversed(tb) if f.filename == "<solution>"), None)
    return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)), "lineno": line}}
try:
    exec(compile(req["code"], "<solution>", "exec"), ns)
    if req["mode"] == "run":
        out = {"ok": True, "value": ns[req["entrypoint"]](*req["args"])}
        json.dumps(out)
    else:
        exec(compile(req["tests"], "<tests>", "exec"), ns)
        passed, failed = [], []
        for name, fn in list(ns.items()):
            if name.startswith("test_") and callable(fn):
                try:
                    fn()
                    passed.append(name)
                except Exception as exc:
                    failed.append({"name": name, "error": f"{type(exc).__name__}: {exc}",
                                   "lineno": None})
        out = {"ok": not failed, "value": {"passed": passed, "failed": failed}}
except Exception as exc:
    out = fail(exc)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class FakeError:
    type: str
    message: str
    traceback: str
    lineno: int | None


@dataclass(frozen=True)
class FakeResult:
    ok: bool
    value: Any
    stderr: str
    error: FakeError | None
    duration_s: float
    stopped: str | None
    backend: str = "fake-subprocess"


class FakeSandbox:
    """Runs each call in a fresh ``python -I`` child; counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def _run(self, request: dict[str, Any]) -> FakeResult:
        self.calls += 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            _HARNESS,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), 30)
        data = json.loads(out.decode().strip().splitlines()[-1])
        error = FakeError(**data["error"]) if data.get("error") else None
        return FakeResult(data["ok"], data.get("value"), err.decode(), error, 0.01, None)

    async def run_sample(self, code: str, entrypoint: str, sample: Any) -> FakeResult:
        return await self._run(
            {"mode": "run", "code": code, "entrypoint": entrypoint, "args": [sample]}
        )

    async def run_tests(self, code: str, tests: str) -> FakeResult:
        return await self._run({"mode": "tests", "code": code, "tests": tests})

    def port(self) -> SandboxPort:
        return SandboxPort(self.run_sample, self.run_tests)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def spec_text(
    url: str,
    *,
    max_retries: int = 3,
    infra_retries: int = 3,
    timeout: float = 2.0,
    tests: bool = False,
    secrets: tuple[str, ...] = (),
) -> str:
    secret_line = f"secrets: [{', '.join(secrets)}]\n" if secrets else ""
    tests_node = (
        "  - id: write_tests\n    depends_on: [generate_mapper]\n    output: code\n"
        "    action: Write tests.\n"
        if tests
        else ""
    )
    tests_ref = "    tests_from: write_tests\n" if tests else ""
    return (
        f"name: crm_test\n{secret_line}nodes:\n"
        "  - id: generate_mapper\n    output: code\n    action: Write sync_to_crm.\n"
        f"{tests_node}"
        "  - id: heal\n    type: adaptive\n    agent: Integration Engineer\n"
        "    action: Execute sync_to_crm against staging. If it fails, adapt the code.\n"
        f"    max_retries: {max_retries}\n    code_from: generate_mapper\n{tests_ref}"
        "    entrypoint: sync_to_crm\n"
        f"    samples: {json.dumps(SAMPLES)}\n"
        "    staging:\n"
        f"      url: {url}/users\n"
        f"      timeout: {timeout}\n"
        f"      infra_retries: {infra_retries}\n"
        "      headers:\n"
        '        Authorization: "Bearer ${STAGING_TOKEN}"\n'
    )


@dataclass
class Run:
    result: RunResult
    events: list[RunEvent]
    provider: ScriptedProvider

    def decisions(self, verdict: str | None = None) -> list[Decision]:
        return [
            e
            for e in self.events
            if isinstance(e, Decision) and e.node_id == "heal" and verdict in (None, e.verdict)
        ]

    def log(self) -> list[dict[str, Any]]:
        return decision_log(self.events, "heal")

    def adapt_requests(self) -> list[ModelRequest]:
        return [r for r in self.provider.requests if r.purpose == "adapt"]


def run_heal(
    spec: WorkflowSpec,
    tmp_path: Path,
    *,
    code: str = BROKEN,
    responder: Callable[[ModelRequest], Any] = repair_responder,
    sandbox: FakeSandbox | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Run:
    provider = ScriptedProvider(
        {
            "generate_mapper": {"rationale": "first draft", "code": code},
            "write_tests": {"rationale": "tests", "code": TESTS},
        },
        responders={"heal": responder},
    )
    events: list[RunEvent] = []
    options = RunOptions(
        sandbox_port=(sandbox or FakeSandbox()).port(),
        infra_backoff_s=0.001,
        infra_backoff_max_s=0.005,
        staging_transport=transport,
    )
    result = asyncio.run(
        arun_workflow(
            spec,
            provider=provider,
            runs_dir=tmp_path / "runs",
            subscribers=[events.append],
            options=options,
        )
    )
    return Run(result, events, provider)


def load(text: str, token: str = "t0k-test-token") -> WorkflowSpec:
    return load_workflow(text=text, variables={"STAGING_TOKEN": token}, use_env=False)


class Staging:
    """A scripted staging target behind ``httpx.MockTransport``: answers in order."""

    def __init__(self, *answers: int | type[Exception] | tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, type):
            raise answer("injected", request=request)  # type: ignore[call-arg]
        if isinstance(answer, tuple):
            return httpx.Response(answer[0], json=answer[1])
        return httpx.Response(answer, json={"status": answer})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


# ---------------------------------------------------------------------------------------------
# Unit: MockTransport staging, subprocess sandbox double
# ---------------------------------------------------------------------------------------------

URL = "http://staging.invalid"


def test_success_first_try_sends_every_sample(tmp_path: Path) -> None:
    staging = Staging(201)
    run = run_heal(load(spec_text(URL)), tmp_path, code=GOOD, transport=staging.transport())
    assert run.result.ok
    assert run.result.output("heal").content == GOOD
    assert [json.loads(r.content) for r in staging.requests] == [
        {"email": s["email"], "full_name": f"{s['first']} {s['last']}", "customer_tier": s["plan"]}
        for s in SAMPLES
    ]
    assert staging.requests[0].headers["Authorization"] == "Bearer t0k-test-token"
    assert run.adapt_requests() == []
    [entry] = run.log()
    assert set(LOG_KEYS) <= set(entry)
    assert entry["gate"] == "success" and entry["http_status"] == 201 and entry["attempt"] == 1


def test_exception_in_generated_code_adapts_with_its_traceback(tmp_path: Path) -> None:
    crashing = "def sync_to_crm(user):\n    return {'email': user['mail']}\n"
    staging = Staging(201)
    answers = iter([{"rationale": "use the right key", "code": GOOD}])
    run = run_heal(
        load(spec_text(URL)),
        tmp_path,
        code=crashing,
        responder=lambda req: next(answers),
        transport=staging.transport(),
    )
    assert run.result.ok
    first, second = run.log()
    assert first["gate"] == "adapt" and first["http_status"] is None
    assert first["sandbox"][0]["error_type"] == "KeyError"
    assert staging.requests[: len(SAMPLES)] and len(staging.requests) == len(SAMPLES)
    [req] = run.adapt_requests()
    prompt = req.messages[-1].content
    assert "KeyError" in prompt and "'mail'" in prompt and crashing.strip() in prompt
    assert second["gate"] == "success" and second["rationale"] == "use the right key"


def test_failing_tests_adapt_even_when_staging_accepts(tmp_path: Path) -> None:
    staging = Staging(201)
    answers = iter([{"rationale": "add the tier", "code": GOOD}])
    run = run_heal(
        load(spec_text(URL, tests=True)),
        tmp_path,
        code=BROKEN,
        responder=lambda req: next(answers),
        transport=staging.transport(),
    )
    assert run.result.ok
    first, second = run.log()
    assert first["gate"] == "adapt" and first["http_status"] == 201
    assert [f["name"] for f in first["tests"]["failed"]] == ["test_has_a_tier"]
    assert "test_has_a_tier" in run.adapt_requests()[0].messages[-1].content
    assert second["tests"]["failed"] == [] and len(second["tests"]["passed"]) == 2


@pytest.mark.parametrize(
    "faults",
    [
        (503, 503, 201),
        (httpx.ReadTimeout, 502, 201),
        (httpx.ConnectError, httpx.RemoteProtocolError, 429, 201),
    ],
)
def test_infra_faults_are_retried_without_rewrite(tmp_path: Path, faults: tuple[Any, ...]) -> None:
    staging = Staging(*faults)
    run = run_heal(load(spec_text(URL)), tmp_path, code=GOOD, transport=staging.transport())
    assert run.result.ok
    assert run.adapt_requests() == []
    retries = run.decisions("retry-infra")
    assert len(retries) == len(faults) - 1
    assert all(d.attempt == 1 for d in retries)
    assert run.log()[0]["infra_retries"] == len(faults) - 1


def test_backoff_grows_and_is_bounded(tmp_path: Path) -> None:
    staging = Staging(503, 503, 503, 503, 201)
    run = run_heal(
        load(spec_text(URL, infra_retries=5)), tmp_path, code=GOOD, transport=staging.transport()
    )
    delays = [d.data["delay_s"] for d in run.decisions("retry-infra")]
    assert len(delays) == 4
    assert all(0 < d <= 0.005 for d in delays)
    assert delays[0] <= delays[-1]


def test_staging_that_stays_down_is_not_called_a_code_bug(tmp_path: Path) -> None:
    staging = Staging(503)
    run = run_heal(
        load(spec_text(URL, infra_retries=2)), tmp_path, code=BROKEN, transport=staging.transport()
    )
    assert not run.result.ok
    assert run.adapt_requests() == []
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert failed.error_type == "StagingError"
    assert "staging unavailable" in failed.message and "not rewritten" in failed.message
    assert len(staging.requests) == 3  # the first try + 2 retries, then stop
    assert run.log()[-1]["gate"] == "infra"


@pytest.mark.parametrize(("status", "hint"), [(401, "Authorization"), (404, "staging.url")])
def test_configuration_errors_stop_without_rewrite(tmp_path: Path, status: int, hint: str) -> None:
    staging = Staging(status)
    run = run_heal(load(spec_text(URL)), tmp_path, code=BROKEN, transport=staging.transport())
    assert not run.result.ok
    assert run.adapt_requests() == []
    assert len(staging.requests) == 1
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert failed.error_type == "StagingError" and hint in failed.message
    assert [d.verdict for d in run.decisions()] == ["config"]


def test_code_from_defaults_to_the_upstream_code_node(tmp_path: Path) -> None:
    text = spec_text(URL, tests=True).replace(
        "    code_from: generate_mapper\n", "    depends_on: [generate_mapper]\n"
    )
    assert "code_from" not in text
    run = run_heal(load(text), tmp_path, code=GOOD, transport=Staging(201).transport())
    assert run.result.ok and run.result.output("heal").content == GOOD


# ---------------------------------------------------------------------------------------------
# Integration: the CRM's contract mock over loopback HTTP
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def crm() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(
        bundled_document("crm"), token="t0k-test-token", seed=7, slow_seconds=3.0
    ) as server:
        yield server


@pytest.mark.integration
def test_real_crm_success_first_try(crm: OpenAPIMock, tmp_path: Path) -> None:
    run = run_heal(load(spec_text(crm.url)), tmp_path, code=GOOD)
    assert run.result.ok
    assert [e["attempt"] for e in run.log()] == [1]
    assert crm.counts["201"] == len(SAMPLES) and run.adapt_requests() == []


@pytest.mark.integration
def test_real_crm_seed_scenario_heals_in_two_attempts(crm: OpenAPIMock, tmp_path: Path) -> None:
    run = run_heal(load(spec_text(crm.url)), tmp_path, code=BROKEN)
    assert run.result.ok, run.events[-3:]
    first, second = run.log()
    assert (first["gate"], first["http_status"]) == ("adapt", 422)
    assert "customer_tier" in first["error"] and "field required" in first["error"]
    assert second["gate"] == "success" and second["http_status"] == 201
    assert first["code_sha256"] != second["code_sha256"] and first["diff"] == ""
    assert '+        "customer_tier"' in second["diff"]
    assert "customer_tier: field required" in second["rationale"]
    assert second["tokens"]["input"] > 0 and second["tokens"]["output"] > 0
    # The model was sent the 422 JSON body and the current code.
    [req] = run.adapt_requests()
    prompt = req.messages[-1].content
    assert '"contract_version": 1' in prompt and BROKEN.strip() in prompt
    # Every attempt is an artifact; the final code is the node's output.
    folder = run.result.run_dir
    names = sorted(p.name for p in folder.rglob("heal*"))
    assert any("attempt1" in n for n in names) and any("attempt2" in n for n in names)
    assert "customer_tier" in run.result.output("heal").content
    [retrying] = [e for e in run.events if e.kind == "node_retrying" and e.node_id == "heal"]
    assert retrying.attempt == 2


@pytest.mark.integration
def test_real_crm_retries_exhausted_surface_to_a_human(crm: OpenAPIMock, tmp_path: Path) -> None:
    def stubborn(req: ModelRequest) -> dict[str, str]:
        return {"rationale": "I think it is fine", "code": BROKEN}

    run = run_heal(load(spec_text(crm.url, max_retries=2)), tmp_path, responder=stubborn)
    assert not run.result.ok
    assert len(run.adapt_requests()) == 2
    [surfaced] = run.decisions("surfaced")
    assert surfaced.attempt == 3 and len(surfaced.data["log"]) == 3
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert "surfaced to a human after 3 attempts" in failed.message
    # The whole decision log, one line per attempt.
    assert failed.message.count("adapt: sample 0: HTTP 422 the payload does not match") == 3


@pytest.mark.integration
def test_real_crm_503_storm_recovers_without_rewrite(crm: OpenAPIMock, tmp_path: Path) -> None:
    crm.fail_next(5, "503")
    run = run_heal(load(spec_text(crm.url, infra_retries=6)), tmp_path, code=BROKEN)
    assert run.result.ok
    assert crm.faults.injected["503"] == 5
    assert len(run.decisions("retry-infra")) == 5
    # One rewrite, for the 422 that came after the storm, none for the 503s.
    assert len(run.adapt_requests()) == 1
    assert [e["gate"] for e in run.log()] == ["adapt", "success"]


@pytest.mark.integration
def test_real_crm_resets_and_slow_answers_are_infra(crm: OpenAPIMock, tmp_path: Path) -> None:
    crm.faults.schedule(["reset", "slow", "503"])
    run = run_heal(load(spec_text(crm.url, infra_retries=4, timeout=0.3)), tmp_path, code=GOOD)
    assert run.result.ok
    kinds = [(d.data["error_kind"], d.data["http_status"]) for d in run.decisions("retry-infra")]
    assert kinds == [("reset", None), ("timeout", None), (None, 503)]
    assert run.adapt_requests() == []


@pytest.mark.integration
def test_real_staging_down_fails_as_unavailable(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_heal(load(spec_text(f"http://127.0.0.1:{port}", infra_retries=2)), tmp_path)
    assert not run.result.ok
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert "staging unavailable" in failed.message and "refused" in failed.message
    assert run.adapt_requests() == []
    assert [d.data["error_kind"] for d in run.decisions("retry-infra")] == ["connect", "connect"]


@pytest.mark.integration
def test_real_crm_wrong_token_is_401_config(crm: OpenAPIMock, tmp_path: Path) -> None:
    run = run_heal(load(spec_text(crm.url), token="wrong-token-value"), tmp_path)
    assert not run.result.ok
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert "HTTP 401" in failed.message and "Authorization" in failed.message
    assert run.adapt_requests() == [] and crm.counts["401"] == 1


def test_a_base_url_without_the_endpoint_path_says_so(crm: OpenAPIMock, tmp_path: Path) -> None:
    """The usual slip: the service's base URL where the endpoint's full URL belongs."""
    text = spec_text(crm.url).replace(f"{crm.url}/users", crm.url)
    assert crm.url + "/users" not in text
    run = run_heal(load(text), tmp_path)
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert "HTTP 404" in failed.message and "The URL has no path" in failed.message
    assert run.adapt_requests() == []
    # a wrong path is a different slip: no such hint
    run = run_heal(load(spec_text(crm.url).replace("/users", "/user")), tmp_path / "b")
    [failed] = [e for e in run.events if isinstance(e, NodeFailed)]
    assert "HTTP 404" in failed.message and "no path" not in failed.message


@pytest.mark.integration
def test_secrets_never_reach_model_log_or_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_secret = "hunter2-db-pa55word-7f3a"
    token = "tok-s3cret-9d8c7b6a5f4e"
    monkeypatch.setenv("CRM_DB_PASSWORD", db_secret)
    leaky = OpenAPIMock(
        bundled_document("crm"),
        token=token,
        error_debug=f"upstream db=postgres://admin:{db_secret}@10.0.0.5/crm",
        echo_auth_in_errors=True,
    )
    # The first draft crashes with the environment's secret in its message; the rewrite then
    # gets a 422 whose body echoes both secrets; the repair heals it.
    crashing = (
        "import os\n"
        "def sync_to_crm(user):\n"
        "    raise RuntimeError('cannot connect: ' + os.environ.get('CRM_DB_PASSWORD', '?'))\n"
    )
    answers = iter([{"rationale": "no db access", "code": BROKEN}])

    def responder(req: ModelRequest) -> Any:
        return next(answers, None) or repair_responder(req)

    with leaky:
        spec = load(spec_text(leaky.url, secrets=("CRM_DB_PASSWORD",)), token=token)
        run = run_heal(spec, tmp_path, code=crashing, responder=responder)
    assert run.result.ok
    assert [e["gate"] for e in run.log()] == ["adapt", "adapt", "success"]
    sent = "\n".join(m.content for r in run.provider.requests for m in r.messages)
    assert "Bearer" in sent and "REDACTED" in sent  # the leak was there, and was redacted
    files = "\n".join(
        p.read_text(errors="replace") for p in run.result.run_dir.rglob("*") if p.is_file()
    )
    out = capsys.readouterr()
    for secret in (db_secret, token):
        assert secret not in sent
        assert secret not in files
        assert secret not in out.out + out.err
        assert all(secret not in event_to_json(e) for e in run.events)


@pytest.mark.integration
def test_seeded_mutation_series_is_healed_and_faults_never_cause_rewrites(tmp_path: Path) -> None:
    """The chaos proof: each contract change is detected (422) and patched by the repair agent;
    503s, resets and timeouts injected on the way are retried and never rewrite the code."""
    schedules = [["503", "503"], ["reset"], ["slow", "503"], [], ["503", "reset", "503"], ["slow"]]
    seen_kinds: set[str] = set()
    with OpenAPIMock(
        bundled_document("crm"), token="t0k-test-token", seed=2024, slow_seconds=2.0
    ) as crm:
        code = GOOD
        for i, faults in enumerate(schedules):
            mutation = crm.mutate()
            seen_kinds.add(mutation.kind)
            crm.faults.schedule(faults)
            before = sum(crm.faults.injected.values())
            spec = load(spec_text(crm.url, infra_retries=5, timeout=0.3))
            run = run_heal(spec, tmp_path / str(i), code=code)
            assert run.result.ok, mutation.description
            log = run.log()
            assert log[0]["http_status"] == 422, f"{mutation.description} not detected"
            assert [e["gate"] for e in log] == ["adapt", "success"]
            assert sum(crm.faults.injected.values()) - before == len(faults)
            assert len(run.decisions("retry-infra")) == len(faults)
            assert len(run.adapt_requests()) == 1  # one rewrite, for the 422 only
            code = run.result.output("heal").content
    assert len(seen_kinds) >= 4, seen_kinds


# ---------------------------------------------------------------------------------------------
# The seed's CRM workflow end to end: scripted provider, real sandbox, the CRM's contract mock
# ---------------------------------------------------------------------------------------------


def _real_sandbox_available() -> bool:
    try:
        from nbworkflow.sandbox import arun_code  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.integration
@pytest.mark.skipif(not _real_sandbox_available(), reason="nbworkflow.sandbox not available")
def test_seed_crm_workflow_runs_end_to_end(tmp_path: Path) -> None:
    with OpenAPIMock(bundled_document("crm"), token="staging-demo-token") as crm:
        events: list[RunEvent] = []
        result = asyncio.run(
            arun_workflow(
                EXAMPLES / "workflow.yaml",
                provider="scripted",
                provider_options={"script": str(EXAMPLES / "script.yaml")},
                variables={"STAGING_URL": crm.url, "STAGING_TOKEN": "staging-demo-token"},
                runs_dir=tmp_path / "runs",
                subscribers=[events.append],
                options=RunOptions(infra_backoff_s=0.01),
            )
        )
    assert result.ok, [e for e in events if e.kind == "node_failed"]
    log = decision_log(events, "adaptive_test_loop")
    assert [(e["gate"], e["http_status"]) for e in log] == [("adapt", 422), ("success", 201)]
    assert log[0]["tests"]["failed"] == [] and len(log[0]["tests"]["passed"]) == 4
    assert log[0]["sandbox"][0]["backend"] != "fake-subprocess"
    assert "customer_tier" in result.output("adaptive_test_loop").content

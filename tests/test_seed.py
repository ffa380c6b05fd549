"""The article's YAML, byte for byte, validates (with warnings) and runs: what it leaves out is
inferred before the first attempt and said in the decision log; what cannot be inferred fails
the run naming the field and the fix.

The runs are real: the CLI, the sandbox, and the contract mock of the CRM's OpenAPI document on
loopback (``--staging openapi:FILE``); only the model is scripted (``examples/seed/script.yaml``).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from nbworkflow.agents.scripted import ScriptedProvider
from nbworkflow.cli import main
from nbworkflow.config import RunOptions, StagingTarget
from nbworkflow.engine import run_workflow
from nbworkflow.events import Decision, NodeFailed, RunEvent
from nbworkflow.exceptions import WorkflowError
from nbworkflow.nodes.adaptive import infer
from nbworkflow.spec import load_workflow
from nbworkflow.staging import OpenAPIMock

from .test_spec import SEED_YAML

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "seed" / "seed.yaml"
SCRIPT = ROOT / "examples" / "seed" / "script.yaml"
CRM_DOC = ROOT / "examples" / "crm" / "crm_openapi.yaml"
TOKEN = "seed-test-token-9f3b2c7d1e8a4f60"

BROKEN = textwrap.dedent(
    """\
    def sync_to_crm(internal_user):
        return {
            "email": internal_user["email"],
            "full_name": f"{internal_user['first']} {internal_user['last']}"
        }
    """
)


def test_the_example_is_the_articles_yaml_byte_for_byte() -> None:
    assert SEED.read_bytes() == SEED_YAML.encode()
    spec = load_workflow(SEED)
    loop = spec.node("adaptive_test_loop")
    assert (loop.type, loop.max_retries, loop.depends_on) == ("adaptive", 3, ("generate_mapper",))
    assert loop.entrypoint is None and loop.staging is None and not loop.samples


def test_validate_warns_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SEED)]) == 0
    out, err = capsys.readouterr()
    assert "ok, workflow 'CRM_Integration_Builder' with 3 nodes" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, err
    assert all(f"{SEED}:17:5: node 'adaptive_test_loop'" in w for w in warnings)
    assert "no 'entrypoint'" in warnings[0] and "--staging" in warnings[1]


def _events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_article_yaml_runs_and_heals_against_the_crm_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGING_URL", raising=False)
    monkeypatch.setattr("secrets.token_urlsafe", lambda n=None: TOKEN)
    runs = tmp_path / "runs"
    code = main(
        [
            "run",
            str(SEED),
            "--staging",
            f"openapi:{CRM_DOC}",
            "--provider",
            "scripted",
            "--script",
            str(SCRIPT),
            "--runs-dir",
            str(runs),
            "--no-cache",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    decisions = [e for e in _events(run_dir) if e["kind"] == "decision"]
    inferred = {d["data"]["field"]: d for d in decisions if d["verdict"] == "inferred"}
    assert inferred["code_from"]["data"]["value"] == "generate_mapper"
    assert inferred["entrypoint"]["data"] == {
        "field": "entrypoint",
        "value": "sync_to_crm",
        "source": "the code's one public function",
    }
    assert inferred["staging"]["data"]["value"].startswith("POST http://127.0.0.1:")
    assert inferred["staging"]["data"]["value"].endswith("/users")
    # The samples follow the code's keys: the draft reads email/first/last, the fix adds plan.
    samples = [d for d in decisions if d["data"].get("field") == "samples"]
    assert [(d["attempt"], list(d["data"]["value"][0])) for d in samples] == [
        (1, ["email", "first", "last"]),
        (2, ["email", "first", "last", "plan"]),
    ]
    gates = [
        (d["attempt"], d["verdict"])
        for d in decisions
        if d["node_id"] == "adaptive_test_loop" and d["verdict"] != "inferred"
    ]
    assert gates == [(1, "adapt"), (2, "success")]
    first = next(d for d in decisions if d["verdict"] == "adapt")["data"]
    assert first["http_status"] == 422 and "customer_tier" in first["error"]
    healed = (run_dir / "artifacts" / "adaptive_test_loop.py").read_text()
    assert '"customer_tier": internal_user["plan"]' in healed
    # The mock's token is a secret of the run: sent, never written down.
    assert not any(TOKEN in p.read_text() for p in run_dir.rglob("*") if p.is_file())
    capsys.readouterr()
    assert main(["log", run_dir.name, "--runs-dir", str(runs)]) == 0
    log = capsys.readouterr().out
    assert "adaptive_test_loop: attempt 1 [inferred] entrypoint = sync_to_crm" in log
    assert "[inferred] samples" in log and "[inferred] staging = POST http://127.0.0.1:" in log


# -- each inference rule ---------------------------------------------------------------------


def test_entrypoint_from_the_one_public_def() -> None:
    code = "import json\n\ndef _helper(x):\n    return x\n\ndef to_payload(u):\n    return u\n"
    found = infer.entrypoint(code, [("the node's action", "Run it against staging.")])
    assert found == infer.Inferred("entrypoint", "to_payload", "the code's one public function")


def test_entrypoint_from_the_nodes_action_then_the_upstreams() -> None:
    code = "def sync_to_crm(u):\n    return u\n\ndef sync_to_erp(u):\n    return u\n"
    actions = [
        ("node 'loop''s action", "Execute sync_to_crm against staging."),
        ("'gen''s action", "Write 'sync_to_erp(user)'."),
    ]
    assert infer.entrypoint(code, actions) == infer.Inferred(
        "entrypoint", "sync_to_crm", "'sync_to_crm' in node 'loop''s action"
    )
    actions[0] = ("node 'loop''s action", "Execute it against staging.")
    assert infer.entrypoint(code, actions) == infer.Inferred(
        "entrypoint", "sync_to_erp", "'sync_to_erp(' in 'gen''s action"
    )
    assert infer.entrypoint(code, [("x", "Run the mapper.")]) is None


def test_samples_from_the_keys_the_code_reads() -> None:
    code = textwrap.dedent(
        """\
        def sync(user, other=None):
            tier = user.get("plan", "free")
            return {"email": user["email"], "n": other["ignored"], "id": user["user_id"],
                    "who": user["first"] + user["nickname"], "tier": tier}
        """
    )
    keys = infer.keys_read(code, "sync")
    assert keys == ["plan", "email", "user_id", "first", "nickname"]
    sample = infer.sample_from_keys(keys)
    assert sample == {
        "plan": "pro",
        "email": "dev@example.com",
        "user_id": 1,
        "first": "Ada",
        "nickname": "example nickname",
    }
    # A later rewrite keeps the values given and adds what it reads anew.
    assert infer.sample_from_keys(["email", "age"], {"email": "x@y.z"}) == {
        "email": "x@y.z",
        "age": 36,
    }


def test_code_found_in_text_only_when_it_is_one_function() -> None:
    fenced = "Here:\n\n```python\n" + BROKEN + "```\nDone."
    assert infer._python(fenced) == BROKEN
    assert infer._python("Intro line\n" + BROKEN + "\nThat is all.") == BROKEN
    assert infer._python("no code here") is None
    assert infer._python(fenced + "\n```python\ndef other():\n    pass\n```") is None


# -- inference inside a run, and the named errors ------------------------------------------------

ARTICLE_NODES = """\
name: t
nodes:
  - id: generate_mapper
    action: "Write a Python function 'sync_to_crm(user_dict)'."
  - id: adaptive_test_loop
    type: adaptive
    depends_on: [generate_mapper]
    max_retries: 1
    action: "Execute sync_to_crm against staging. If it fails, adapt the code."
"""


def _run(
    tmp_path: Path, script: dict[str, Any], staging: Any, text: str = ARTICLE_NODES
) -> tuple[Any, list[RunEvent]]:
    events: list[RunEvent] = []
    result = run_workflow(
        load_workflow(text=text),
        provider=ScriptedProvider(script),
        runs_dir=tmp_path,
        cache=False,
        subscribers=[events.append],
        options=RunOptions(staging=staging),
    )
    return result, events


def _failures(events: list[RunEvent]) -> list[str]:
    return [e.message for e in events if isinstance(e, NodeFailed)]


def _inferred(events: list[RunEvent]) -> dict[str, Any]:
    return {
        e.data["field"]: e.data
        for e in events
        if isinstance(e, Decision) and e.verdict == "inferred"
    }


def test_samples_asked_of_the_model_once_recorded_and_replayed(tmp_path: Path) -> None:
    from nbworkflow.agents.replay import RecordingProvider, ReplayProvider, load_cassette

    code = "def sync_to_crm(user):\n    return dict(user, customer_tier='pro', full_name='A B')\n"
    script = {
        "generate_mapper": f"```python\n{code}```",
        "adaptive_test_loop": {"rationale": "one user", "data": [{"email": "dev@example.com"}]},
    }
    cassette = tmp_path / "seed.cassette.jsonl"

    def run(provider: Any) -> dict[str, Any]:
        with OpenAPIMock(CRM_DOC, "POST /users", token=TOKEN) as mock:
            target = StagingTarget(
                url=mock.url + "/users", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            events: list[RunEvent] = []
            result = run_workflow(
                load_workflow(text=ARTICLE_NODES),
                provider=provider,
                runs_dir=tmp_path / "runs",
                cache=False,
                subscribers=[events.append],
                options=RunOptions(staging=target),
            )
        assert result.ok, _failures(events)
        return _inferred(events)

    recorded = run(RecordingProvider(ScriptedProvider(script), cassette))
    assert recorded["samples"] == {
        "field": "samples",
        "value": [{"email": "dev@example.com"}],
        "source": "the model, asked once",
    }
    assert recorded["staging"]["source"] == "--staging"
    purposes = [(e.node_id, e.purpose) for e in load_cassette(cassette)]
    assert purposes == [("generate_mapper", "answer"), ("adaptive_test_loop", "samples")]
    # Offline again from the cassette: the same samples, no model.
    assert run(ReplayProvider(cassette))["samples"] == recorded["samples"]


def test_missing_staging_is_a_run_error_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGING_URL", raising=False)
    _, events = _run(tmp_path, {"generate_mapper": BROKEN}, None)
    (message,) = _failures(events)
    assert "adaptive node 'adaptive_test_loop'" in message
    assert "'staging:'" in message and "--staging URL|openapi:FILE" in message


def test_uninferable_entrypoint_is_a_run_error_naming_the_field(tmp_path: Path) -> None:
    two = "def to_crm(u):\n    return u\n\ndef to_erp(u):\n    return u\n"
    text = ARTICLE_NODES.replace("'sync_to_crm(user_dict)'", "a mapper").replace(
        "Execute sync_to_crm", "Execute the mapper"
    )
    _, events = _run(tmp_path, {"generate_mapper": two}, "http://127.0.0.1:9/users", text=text)
    (message,) = _failures(events)
    assert "cannot infer 'entrypoint'" in message and "entrypoint: sync_to_crm" in message
    assert "public functions in the code of 'generate_mapper': to_crm, to_erp" in message


def test_uninferable_samples_is_a_run_error_naming_samples(tmp_path: Path) -> None:
    code = "def sync_to_crm(user):\n    return dict(user)\n"
    script = {"generate_mapper": code, "adaptive_test_loop": {"data": "not a list"}}
    _, events = _run(tmp_path, script, "http://127.0.0.1:9/users")
    (message,) = _failures(events)
    assert "cannot infer 'samples'" in message and "samples: [{email:" in message


def test_no_code_upstream_is_a_run_error_naming_code_from(tmp_path: Path) -> None:
    _, events = _run(tmp_path, {"generate_mapper": "I cannot."}, "http://127.0.0.1:9/u")
    (message,) = _failures(events)
    assert "cannot infer 'code_from'" in message and "output: code" in message


def test_staging_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import ExitStack

    from nbworkflow.staging.target import resolve_staging

    with ExitStack() as stack:
        env = {"STAGING_URL": "http://127.0.0.1:8765/users"}
        staged = resolve_staging(RunOptions(), stack, env)
        assert staged.options.staging == StagingTarget(
            url="http://127.0.0.1:8765/users", source="STAGING_URL"
        )
        given = resolve_staging(RunOptions(staging="http://h/u"), stack, env)
        assert given.options.staging == StagingTarget(url="http://h/u", source="--staging")
        with pytest.raises(WorkflowError, match="give the endpoint's http"):
            resolve_staging(RunOptions(staging="ftp://x"), stack, env)
        with pytest.raises(WorkflowError, match=r"no operation 'GET /nope'.*to pick one"):
            resolve_staging(RunOptions(staging=f"openapi:{CRM_DOC}#GET /nope"), stack, env)
        # a document that cannot be read gets no advice about picking an operation
        with pytest.raises(WorkflowError, match="cannot read") as refused:
            resolve_staging(RunOptions(staging="openapi:/no/such/file.yaml"), stack, env)
        assert "pick one" not in str(refused.value)


def test_chaos_runs_the_articles_yaml_through_mutations(tmp_path: Path) -> None:
    from nbworkflow.chaos.command import main as chaos_main

    report = tmp_path / "chaos.json"
    argv = ["chaos", str(SEED), "--openapi", str(CRM_DOC), "--script", str(SCRIPT)]
    argv += ["--mutations", "3", "--seed", "42", "--json", str(report), "-q"]
    assert chaos_main(argv) == 0
    data = json.loads(report.read_text())
    assert data["summary"]["regressions"] == data["summary"]["detected"] == 3
    assert data["summary"]["healed"] == 3
    # Each round's first attempt is a 422 on the mutated contract (not an "inferred" entry).
    assert [r["attempts"] for r in data["rounds"]] == [2, 2, 2, 2]


def test_staging_url_and_token_from_the_environment_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = BROKEN.replace('"\n    }', '",\n        "customer_tier": "pro",\n    }')
    assert '"customer_tier": "pro"' in code
    with OpenAPIMock(CRM_DOC, "POST /users", token=TOKEN) as mock:
        monkeypatch.setenv("STAGING_URL", mock.url + "/users")
        monkeypatch.setenv("STAGING_TOKEN", TOKEN)
        result, events = _run(tmp_path, {"generate_mapper": code}, None)
        assert result.ok, _failures(events)
        assert mock.counts, "the mock was never called"
    assert _inferred(events)["staging"]["source"] == "STAGING_URL"
    run_files = [p for p in Path(result.run_dir).rglob("*") if p.is_file()]
    assert run_files and not any(TOKEN in p.read_text() for p in run_files)

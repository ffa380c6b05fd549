"""One configuration: settings merged field by field, options from every surface landing where
they act (the model request, the sandbox job, the staging request, the cache key)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from nbworkflow.cli import main as cli_main
from nbworkflow.config import RunOptions, build_settings
from nbworkflow.engine import arun_workflow
from nbworkflow.exceptions import WorkflowError
from nbworkflow.nodes.adaptive import decision_log
from nbworkflow.runlog import read_events
from nbworkflow.spec import load_workflow
from nbworkflow.testing import MessagesServer
from tests.test_magics import ip, run_cell, shell  # noqa: F401  (fixtures)

# -- merging ----------------------------------------------------------------------------------

ADAPTIVE = """\
name: merge
{workflow_sandbox}
nodes:
  - id: write
    output: code
    action: Write sync.
  - id: heal
    type: adaptive
    action: Check sync.
    code_from: write
    entrypoint: sync
    samples: [{{"a": 1}}]
    staging: {{url: "{url}", timeout: 3, infra_retries: 1}}
{node_sandbox}
"""


def spec_of(workflow_sandbox: str = "", node_sandbox: str = "", url: str = "http://x.invalid/u"):  # type: ignore[no-untyped-def]
    text = ADAPTIVE.format(workflow_sandbox=workflow_sandbox, node_sandbox=node_sandbox, url=url)
    return load_workflow(text=text)


def test_a_node_sandbox_block_merges_field_by_field() -> None:
    spec = spec_of(
        "sandbox: {isolation: strict, memory_mb: 512, backend: bwrap}",
        "    sandbox: {timeout: 5}",
    )
    sb = build_settings(spec).node("heal").sandbox
    assert (sb.isolation, sb.memory_mb, sb.backend, sb.timeout) == ("strict", 512, "bwrap", 5.0)


def test_strict_isolation_is_never_weakened() -> None:
    spec = spec_of("sandbox: {isolation: strict}", "    sandbox: {isolation: best, timeout: 2}")
    settings = build_settings(spec, RunOptions(sandbox_backend="process"))
    assert settings.node("heal").sandbox.isolation == "strict"
    assert settings.sandbox.isolation == "strict"


def test_the_workflow_memory_is_a_ceiling_for_its_nodes() -> None:
    lower = spec_of("sandbox: {memory_mb: 512}", "    sandbox: {memory_mb: 128}")
    assert build_settings(lower).node("heal").sandbox.memory_mb == 128
    higher = spec_of("sandbox: {memory_mb: 512}", "    sandbox: {memory_mb: 4096}")
    with pytest.raises(WorkflowError, match=r"ceiling.*raise the workflow's or lower the node's"):
        build_settings(higher)


def test_options_are_typed_a_typo_fails() -> None:
    with pytest.raises(TypeError):
        RunOptions(infra_backof_s=0.1)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):  # frozen: nothing re-resolves a setting later
        RunOptions().model = "x"  # type: ignore[misc]


def test_option_model_beats_node_and_workflow_models() -> None:
    text = "name: m\nmodel: wf-model\nnodes:\n  - id: a\n    action: x\n    model: node-model\n"
    spec = load_workflow(text=text)
    assert build_settings(spec).node("a").model == "node-model"
    settings = build_settings(spec, RunOptions(model="option-model"))
    assert settings.node("a").model == settings.model == "option-model"


# -- surfaces ---------------------------------------------------------------------------------

ROUTINE = "name: surfaces\nmodel: claude-sonnet-5\nnodes:\n  - id: a\n    action: say hi\n"
MODEL = "claude-override-xyz"


def _answer(_request: Any) -> Any:
    return json.dumps({"rationale": "r", "content": "hi"})


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    with MessagesServer(responder=_answer) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def _run_python(spec_file: Path, runs: Path, option: dict[str, Any], **kw: Any) -> None:
    asyncio.run(arun_workflow(spec_file, runs_dir=runs, options=RunOptions(**option), **kw))


def _run_cli(
    spec_file: Path, runs: Path, flags: list[str], *provider: str, ok: bool = True
) -> None:
    code = cli_main(["run", str(spec_file), "--runs-dir", str(runs), "--quiet", *provider, *flags])
    assert code == (0 if ok else 1)


SURFACES = ("cli", "magic", "python")


def _run(
    surface: str,
    shell_: InteractiveShell,
    tmp_path: Path,
    spec_text: str,
    flags: list[str],
    option: dict[str, Any],
    provider: tuple[str, ...],
    python_kw: dict[str, Any],
    *,
    ok: bool = True,
) -> Path:
    runs = tmp_path / "runs"
    spec_file = tmp_path / "wf.yaml"
    spec_file.write_text(spec_text)
    if surface == "cli":
        _run_cli(spec_file, runs, flags, *provider, ok=ok)
    elif surface == "magic":
        line = " ".join([*provider, *flags, "--runs-dir", str(runs), "--quiet"])
        if ok:
            out = run_cell(shell_, line, spec_text)
            assert "failed" not in out.stdout, out.stdout
        else:
            with pytest.raises(UsageError, match="failed"):
                run_cell(shell_, line, spec_text)
    else:
        _run_python(spec_file, runs, option, **python_kw)
    return runs


@pytest.mark.parametrize("surface", SURFACES)
def test_model_option_lands_in_the_request_and_the_cache_key(
    surface: str,
    ip: InteractiveShell,  # noqa: F811
    tmp_path: Path,
    messages: MessagesServer,
) -> None:
    provider = ("--provider", "anthropic")
    args = (surface, ip, tmp_path, ROUTINE)
    _run(*args, ["--model", MODEL], {"model": MODEL}, provider, {"provider": "anthropic"})
    assert [r.model for r in messages.requests] == [MODEL]
    # The cache key: the same run again is served from the cache; another model is not.
    _run(*args, ["--model", MODEL], {"model": MODEL}, provider, {"provider": "anthropic"})
    assert len(messages.requests) == 1
    _run(*args, [], {}, provider, {"provider": "anthropic"})
    assert [r.model for r in messages.requests] == [MODEL, "claude-sonnet-5"]


def _run_json(runs: Path) -> list[dict[str, Any]]:
    found = [p / "run.json" for p in sorted(runs.iterdir()) if not p.name.startswith(".")]
    return [json.loads(p.read_text()) for p in found]


@pytest.mark.parametrize("surface", SURFACES)
def test_cost_budget_option_beats_the_workflow_and_refuses_calls(
    surface: str,
    ip: InteractiveShell,  # noqa: F811
    tmp_path: Path,
    messages: MessagesServer,
) -> None:
    provider = ("--provider", "anthropic")
    (tmp_path / "beats").mkdir()
    (tmp_path / "alone").mkdir()
    # The workflow's budget is too small for even this node's prompt; the option raises it.
    tiny = ROUTINE.replace("nodes:", "cost_budget: 0.000001\nnodes:")
    args = (surface, ip, tmp_path / "beats")
    _run(
        *args,
        tiny,
        ["--cost-budget", "5"],
        {"cost_budget": 5.0},
        provider,
        {"provider": "anthropic"},
    )
    assert len(messages.requests) == 1  # sent: the option's $5 decided, not the workflow's
    [record] = _run_json(tmp_path / "beats" / "runs")
    assert record["cost_budget"] == 5.0 and record["status"] == "succeeded"
    # The option alone, too small: the call is refused before it is sent.
    args = (surface, ip, tmp_path / "alone")
    _run(
        *args, ROUTINE, ["--cost-budget", "0.000001"], {"cost_budget": 0.000001}, provider,
        {"provider": "anthropic"}, ok=False,
    )  # fmt: skip
    assert len(messages.requests) == 1
    [record] = _run_json(tmp_path / "alone" / "runs")
    assert record["cost_budget"] == 0.000001 and record["status"] == "failed"
    assert "the call was not sent" in record["nodes"]["a"]["message"]


@dataclass(frozen=True)
class _Result:
    ok: bool = True
    value: Any = None
    stderr: str = ""
    error: Any = None
    duration_s: float = 0.01
    stopped: str | None = None
    backend: str = "captured"


class _Staging:
    """A loopback staging target that accepts everything and records what it got."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", 0))
                owner.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/users"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def staging() -> Iterator[_Staging]:
    target = _Staging()
    yield target
    target.close()


@pytest.fixture
def sandbox_jobs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every job handed to the real sandbox API (captured there, not run)."""
    from nbworkflow import sandbox

    jobs: list[dict[str, Any]] = []

    async def arun_code(code: str, entrypoint: str | None = None, **kw: Any) -> _Result:
        jobs.append(kw)
        return _Result(value={"mapped": kw["args"][0]})

    monkeypatch.setattr(sandbox, "arun_code", arun_code)
    return jobs


CODE_ANSWER = {"write": {"rationale": "r", "code": "def sync(x):\n    return x\n"}}


@pytest.mark.parametrize("surface", SURFACES)
def test_sandbox_option_and_merged_settings_land_in_the_sandbox_job(
    surface: str,
    ip: InteractiveShell,  # noqa: F811
    tmp_path: Path,
    sandbox_jobs: list[dict[str, Any]],
    staging: _Staging,
) -> None:
    text = ADAPTIVE.format(
        workflow_sandbox="sandbox: {isolation: strict, memory_mb: 300}",
        node_sandbox="    sandbox: {timeout: 5}",
        url=staging.url,
    )
    script = tmp_path / "script.json"
    script.write_text(json.dumps(CODE_ANSWER))
    ip.user_ns["answers"] = CODE_ANSWER
    provider = (
        ("--script", "answers")
        if surface == "magic"
        else ("--provider", "scripted", "--script", str(script))
    )
    runs = _run(
        surface,
        ip,
        tmp_path,
        text,
        ["--sandbox", "docker"],
        {"sandbox_backend": "docker"},
        provider,
        {"provider": "scripted", "provider_options": {"script": str(script)}},
    )
    [job] = sandbox_jobs
    assert (job["backend"], job["isolation"], job["timeout"], job["limits"].memory_mb) == (
        "docker",
        "strict",
        5.0,
        300,
    )
    assert staging.bodies == [{"mapped": {"a": 1}}]  # the staging request went out
    [run_dir] = [p for p in runs.iterdir() if not p.name.startswith(".")]
    [entry] = decision_log(list(read_events(run_dir)), "heal")
    limits = entry["settings"].pop("limits")
    assert entry["settings"] == {
        "backend": "docker",
        "isolation": "strict",
        "timeout": 5.0,
        "memory_mb": 300,
    }
    # The limits the sandbox derives from them are logged too: CPU follows the timeout.
    assert (limits["cpu_seconds"], limits["memory_mb"]) == (5.0, 300)


def test_staging_settings_reach_the_staging_client() -> None:
    spec = spec_of(url="http://x.invalid/u")
    staging = build_settings(spec, RunOptions(infra_backoff_s=0.25)).node("heal").staging
    assert staging is not None
    assert (staging.timeout, staging.infra_retries, staging.backoff_s) == (3.0, 1, 0.25)


def test_a_resumed_run_keeps_the_model_option_for_every_node(tmp_path: Path) -> None:
    """``--model`` beats the nodes' own models; the run that continues a waiting run does too."""
    from nbworkflow.agents.scripted import ScriptedProvider
    from nbworkflow.approval import HumanDecision
    from nbworkflow.resume import aresume_workflow

    text = (
        "name: resumed\nmodel: wf-model\nnodes:\n"
        "  - id: a\n    action: x\n    model: node-a\n"
        "  - id: review\n    type: approval\n    depends_on: [a]\n"
        "  - id: b\n    action: y\n    model: node-b\n    depends_on: [review]\n"
    )
    answers = {"a": {"rationale": "", "content": "A"}, "b": {"rationale": "", "content": "B"}}
    first = ScriptedProvider(answers)
    runs = tmp_path / "runs"
    spec = load_workflow(text=text)
    result = asyncio.run(
        arun_workflow(spec, provider=first, runs_dir=runs, options=RunOptions(model=MODEL))
    )
    assert result.status.value == "waiting"
    second = ScriptedProvider(answers)
    resumed = asyncio.run(
        aresume_workflow(
            result.run_id,
            runs_dir=runs,
            provider=second,
            decisions={"review": HumanDecision("approve", who="ada")},
        )
    )
    assert resumed.ok
    assert [(r.node_id, r.model) for r in first.requests + second.requests] == [
        ("a", MODEL),
        ("b", MODEL),
    ]


def test_validate_reports_a_node_above_the_memory_ceiling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "wf.yaml"
    spec_file.write_text(
        ADAPTIVE.format(
            workflow_sandbox="sandbox: {memory_mb: 512}",
            node_sandbox="    sandbox: {memory_mb: 4096}",
            url="http://x.invalid/u",
        )
    )
    assert cli_main(["validate", str(spec_file)]) == 2
    assert "ceiling" in capsys.readouterr().err

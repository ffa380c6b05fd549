"""Node cache and resume: pay only for what changed, continue what did not finish."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbworkflow import events as ev
from nbworkflow.agents import ModelRequest, ScriptedProvider
from nbworkflow.cache import NodeCache, node_key
from nbworkflow.cli import main as cli
from nbworkflow.engine import run_workflow
from nbworkflow.events import NodeStatus
from nbworkflow.resume import resume_workflow
from nbworkflow.runlog import read_events
from nbworkflow.spec import load_workflow
from nbworkflow.state import RunState

SPEC = """\
name: cache test
model: model-a
nodes:
  - id: a
    agent: Analyst
    action: read the notes
    inputs: [notes.md]
  - id: b
    agent: Writer
    action: write it up
    depends_on: [a]
  - id: c
    agent: Other
    action: unrelated
"""
SCRIPT = {"a": {"content": "A"}, "b": {"content": "B"}, "c": {"content": "C"}}


def echo(request: ModelRequest) -> dict[str, str]:
    """Like a real model: the answer depends on the prompt."""
    prompt = request.system + "".join(m.content for m in request.messages)
    return {"content": f"{request.node_id}:{hashlib.sha256(prompt.encode()).hexdigest()[:8]}"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "wf.yaml").write_text(SPEC)
    (tmp_path / "notes.md").write_text("some notes")
    return tmp_path


def run(
    folder: Path, text: str = SPEC, script: dict[str, Any] | None = None, **kw: Any
) -> tuple[Any, ScriptedProvider]:
    (folder / "wf.yaml").write_text(text)
    provider = ScriptedProvider(
        script or {}, responders=None if script else dict.fromkeys("abc", echo)
    )
    result = run_workflow(folder / "wf.yaml", provider=provider, runs_dir=folder / "runs", **kw)
    return result, provider


def called(provider: ScriptedProvider) -> set[str]:
    return {r.node_id for r in provider.requests}


def test_second_run_is_fully_cached_and_free(folder: Path) -> None:
    first, p1 = run(folder)
    assert called(p1) == {"a", "b", "c"}
    second, p2 = run(folder)
    assert called(p2) == set()
    assert second.ok and second.output("b").content == first.output("b").content
    assert all(n.cached for n in second.state.nodes.values())
    assert second.state.input_tokens == 0 and second.state.output_tokens == 0
    decisions = [e for e in read_events(second.run_dir) if isinstance(e, ev.Decision)]
    assert {d.verdict for d in decisions} == {"cached"}
    assert all(first.run_id in d.reason for d in decisions)  # says where it came from


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda t: t.replace("read the notes", "read the notes twice"), {"a", "b"}),
        (lambda t: t.replace("agent: Writer", "agent: Editor"), {"b"}),
        (lambda t: t.replace("model: model-a", "model: model-b"), {"a", "b", "c"}),
        (lambda t: t.replace("action: unrelated", "action: unrelated!"), {"c"}),
        (lambda t: t.replace("name: cache test", "name: renamed\nmax_concurrency: 2"), set()),
    ],
    ids=["action", "persona", "model", "other-branch", "no-output-field"],
)
def test_only_changed_nodes_and_downstream_rerun(
    folder: Path, change: Any, expect: set[str]
) -> None:
    run(folder)
    _, provider = run(folder, change(SPEC))
    assert called(provider) == expect


def test_input_file_change_invalidates(folder: Path) -> None:
    run(folder)
    (folder / "notes.md").write_text("other notes")
    _, provider = run(folder)
    assert called(provider) == {"a", "b"}


def test_upstream_output_change_invalidates_downstream(folder: Path) -> None:
    run(folder)
    _, provider = run(folder, script={**SCRIPT, "a": {"content": "A2"}}, rerun=["a"])
    assert called(provider) == {"a", "b"}  # b's key saw a new upstream output
    _, again = run(folder, script={**SCRIPT, "a": {"content": "A2"}})
    assert called(again) == set()


def test_rerun_and_no_cache(folder: Path) -> None:
    run(folder)
    _, p = run(folder, rerun=["a"])
    assert called(p) == {"a", "b"}
    _, p = run(folder, cache=False)
    assert called(p) == {"a", "b", "c"}
    with pytest.raises(Exception, match="no such node"):
        run(folder, rerun=["zz"])


def test_node_can_opt_out(folder: Path) -> None:
    text = SPEC.replace("    action: unrelated\n", "    action: unrelated\n    cache: false\n")
    run(folder, text)
    _, p = run(folder, text)
    assert called(p) == {"c"}


def test_key_is_deterministic_across_processes(folder: Path) -> None:
    spec = load_workflow(folder / "wf.yaml")
    key = node_key(spec, spec.node("a"), "scripted", {})
    code = (
        "import sys; from nbworkflow.spec import load_workflow; from nbworkflow.cache import node_key; "
        f"s = load_workflow({str(folder / 'wf.yaml')!r}); print(node_key(s, s.node('a'), 'scripted', {{}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert out.stdout.strip() == key


def test_corrupt_entries_are_ignored_and_rebuilt(folder: Path) -> None:
    run(folder)
    entries = list((folder / "runs" / ".cache").glob("*/*.json"))
    assert len(entries) == 3
    entries[0].write_text(entries[0].read_text()[:40])  # half-written
    body = json.loads(entries[1].read_text())
    body["body"]["output"]["content"] = "tampered"
    entries[1].write_text(json.dumps(body))
    _, p = run(folder)
    assert len(called(p)) == 2  # the two broken entries were recomputed, not trusted
    _, p = run(folder)
    assert called(p) == set()  # and rebuilt


def test_cache_is_size_bounded(tmp_path: Path) -> None:
    from nbworkflow.outputs import NodeOutput

    cache = NodeCache(tmp_path, max_bytes=3000)
    for i in range(10):
        cache.put(f"{i:02d}" + "0" * 62, f"n{i}", NodeOutput("text", "x" * 500), "r")
    info = cache.info()
    assert info.bytes <= 3000 and 0 < info.entries < 10
    assert cache.get("09" + "0" * 62) is not None  # the newest survive


def test_cache_cli(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(folder)
    runs = str(folder / "runs")
    assert cli(["cache", "info", "--runs-dir", runs]) == 0
    assert "3 entries" in capsys.readouterr().out
    assert cli(["cache", "clear", "--runs-dir", runs]) == 0
    assert "removed 3 entries" in capsys.readouterr().out


def test_resume_after_kill_9_runs_only_what_did_not_finish(folder: Path) -> None:
    (folder / "script.yaml").write_text(
        "_options: {latency: 0.3}\na: {content: A}\nb: {content: B}\n"
    )
    (folder / "wf.yaml").write_text(
        SPEC.replace("  - id: c\n    agent: Other\n    action: unrelated\n", "")
    )
    runs = folder / "runs"
    base = [sys.executable, "-m", "nbworkflow.cli"]
    common = [
        "--provider",
        "scripted",
        "--script",
        str(folder / "script.yaml"),
        "--runs-dir",
        str(runs),
        "--no-cache",
    ]
    proc = subprocess.Popen(
        [*base, "run", str(folder / "wf.yaml"), *common], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "▶ b started" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    (killed,) = list(p for p in runs.iterdir() if not p.name.startswith("."))
    out = subprocess.run(
        [*base, "resume", killed.name, *common], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    (resumed,) = [p for p in runs.iterdir() if p.name[0] != "." and p != killed]
    events = read_events(resumed)
    start = events[0]
    assert isinstance(start, ev.RunStarted) and start.resumed_from == killed.name
    model_calls = [e.node_id for e in events if isinstance(e, ev.ModelCalled)]
    assert model_calls == ["b"]  # a finished before the kill: restored, not run twice
    (restored,) = [e for e in events if isinstance(e, ev.NodeFinished) and e.node_id == "a"]
    assert restored.restored_from == killed.name and not restored.cached
    state = RunState.from_events(events)
    assert state.nodes["a"].message == f"restored from run {killed.name}"
    assert state.nodes["b"].restored_from is None
    # Same final outputs as an uninterrupted run.
    fresh, _ = run(folder, (folder / "wf.yaml").read_text(), script=SCRIPT, cache=False)
    for node in ("a", "b"):
        assert (resumed / "artifacts" / f"{node}.md").read_text() == fresh.output(node).content
    assert {n.status for n in fresh.state.nodes.values()} == {NodeStatus.SUCCEEDED}


def test_resume_of_a_succeeded_run_says_so(folder: Path) -> None:
    first, _ = run(folder)
    with pytest.raises(Exception, match="nothing to resume"):
        resume_workflow(first.run_id, runs_dir=folder / "runs", provider=ScriptedProvider(SCRIPT))


def test_resume_restores_failed_runs_successes(folder: Path) -> None:
    failed, _ = run(folder, script={"a": {"content": "A"}, "c": {"content": "C"}})
    assert failed.state.nodes["b"].status is NodeStatus.FAILED
    provider = ScriptedProvider(SCRIPT)
    result = resume_workflow(
        failed.run_id, runs_dir=folder / "runs", provider=provider, cache=False
    )
    assert result.ok and called(provider) == {"b"}
    assert result.output("b").content == "B"


def test_resume_keeps_the_model_the_run_used(folder: Path) -> None:
    # A notebook's --model (or a spec copied in Python) is not in workflow.yaml: it must
    # survive a resume, or an approval click would continue on another model.
    spec = load_workflow(folder / "wf.yaml").model_copy(update={"model": "model-b"})
    failed = run_workflow(
        spec,
        provider=ScriptedProvider({"a": {"content": "A"}, "c": {"content": "C"}}),
        runs_dir=folder / "runs",
    )
    assert failed.state.nodes["b"].status is NodeStatus.FAILED
    provider = ScriptedProvider(SCRIPT)
    result = resume_workflow(failed.run_id, runs_dir=folder / "runs", provider=provider)
    assert result.ok
    assert [r.model for r in provider.requests] == ["model-b"]
    started = read_events(result.run_dir)[0]
    assert isinstance(started, ev.RunStarted) and started.model == "model-b"


def test_identical_upstream_output_keeps_downstream_cached(folder: Path) -> None:
    """Content addressing: a re-run upstream node that answers the same does not cost b."""
    run(folder, script=SCRIPT)
    _, provider = run(folder, SPEC.replace("read the notes", "read the notes again"), script=SCRIPT)
    assert called(provider) == {"a"}

"""The run folder: append-only flushed events.jsonl, artifacts, summary, crash tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbworkflow import events as ev
from nbworkflow.agents import ScriptedProvider
from nbworkflow.engine import run_workflow
from nbworkflow.events import NodeStatus, RunStatus
from nbworkflow.exceptions import WorkflowError
from nbworkflow.runlog import RunWriter, find_run, list_runs, read_events, summary_json
from nbworkflow.spec import load_workflow
from nbworkflow.state import RunState

SPEC = "name: Log Test\nnodes:\n  - id: a\n    action: x\n  - id: b\n    action: y\n    depends_on: [a]\n    output: code\n"


def make_run(tmp_path: Path) -> Path:
    provider = ScriptedProvider(
        {"a": {"content": "hello"}, "b": {"code": "x = 1\n", "rationale": "r"}}
    )
    result = run_workflow(load_workflow(text=SPEC), provider=provider, runs_dir=tmp_path)
    return result.run_dir


def test_every_event_round_trips(tmp_path: Path) -> None:
    samples: list[ev.RunEvent] = [
        ev.RunStarted(
            run_id="r", workflow="w", nodes=(ev.NodeInfo(id="a", type="routine"),), provider="p"
        ),
        ev.NodeStarted(run_id="r", node_id="a"),
        ev.NodeRetrying(run_id="r", node_id="a", attempt=2, reason="x"),
        ev.ModelCalled(run_id="r", node_id="a", model="m", input_tokens=3, output_tokens=4),
        ev.Decision(
            run_id="r", node_id="a", attempt=1, verdict="adapt", reason="422", data={"status": 422}
        ),
        ev.NodeFinished(run_id="r", node_id="a", artifact="artifacts/a.md"),
        ev.NodeFailed(run_id="r", node_id="a", error_type="E", message="m"),
        ev.NodeSkipped(run_id="r", node_id="a", reason="x", blocked_by="b"),
        ev.NodeCancelled(run_id="r", node_id="a"),
        ev.RunFinished(run_id="r", status=RunStatus.FAILED, duration_s=1.0, counts={"failed": 1}),
    ]
    kinds = {s.kind for s in samples}
    assert len(kinds) == len(samples)  # one sample of every kind
    writer = RunWriter(tmp_path / "run")
    for event in samples:
        writer.append(event)
    # Flushed as it happens: readable before close.
    assert read_events(tmp_path / "run") == samples
    writer.close()


def test_run_summary_is_json_with_one_line_per_node() -> None:
    summary = {
        "run_id": "r1",
        "message": 'a "quoted" message\nwith a newline',
        "counts": {"succeeded": 2},
        "nodes": {"b": {"status": "succeeded", "artifact": None}, "a": {"status": "failed"}},
        "empty": {},
    }
    text = summary_json(summary)
    assert json.loads(text) == summary
    assert '    "b": {"artifact": null, "status": "succeeded"},\n' in text  # run order kept
    assert json.loads(summary_json({})) == {}


def test_run_folder_layout(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    assert (run_dir / "workflow.yaml").read_text() == SPEC
    assert (run_dir / "artifacts" / "a.md").read_text() == "hello"
    assert (run_dir / "artifacts" / "b.py").read_text() == "x = 1\n"
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["status"] == "succeeded"
    assert summary["nodes"]["b"]["artifact"] == "artifacts/b.py"
    events = read_events(run_dir)
    assert isinstance(events[0], ev.RunStarted) and isinstance(events[-1], ev.RunFinished)
    state = RunState.from_events(events)
    assert {n.status for n in state.nodes.values()} == {NodeStatus.SUCCEEDED}


def test_truncated_last_line_is_tolerated(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    path = run_dir / "events.jsonl"
    full = read_events(run_dir)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # cut the last line mid-way, as a crash would
    events = read_events(run_dir)
    assert events == full[:-1]


def test_corruption_before_the_last_line_is_reported(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    path = run_dir / "events.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(WorkflowError, match=r"events.jsonl:2: corrupt event line"):
        read_events(run_dir)


def test_writer_appends_never_truncates(tmp_path: Path) -> None:
    run = tmp_path / "r"
    first = RunWriter(run)
    first.append(ev.NodeStarted(run_id="r", node_id="a"))
    first.close()
    second = RunWriter(run)
    second.append(ev.NodeStarted(run_id="r", node_id="b"))
    second.close()
    assert [e.node_id for e in read_events(run)] == ["a", "b"]  # type: ignore[union-attr]


def test_list_and_find_runs(tmp_path: Path) -> None:
    first = make_run(tmp_path)
    second = make_run(tmp_path)
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == sorted([first, second])
    assert runs[0].workflow == "Log Test" and runs[0].status == "succeeded" and runs[0].nodes == 2
    assert find_run("last", tmp_path) == runs[-1].path
    assert find_run(second.name, tmp_path) == second
    assert find_run(second.name[-4:], tmp_path) == second
    assert find_run(str(first), tmp_path) == first
    with pytest.raises(WorkflowError, match="no run 'nope'"):
        find_run("nope", tmp_path)


def test_incomplete_run_is_listed(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "20260101-000000-x-0000")
    writer.append(
        ev.RunStarted(
            run_id="x", workflow="w", nodes=(ev.NodeInfo(id="a", type="routine"),), provider="p"
        )
    )
    writer.close()
    (run,) = list_runs(tmp_path)
    assert run.status == "incomplete" and run.workflow == "w"

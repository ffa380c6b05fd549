"""One run across approvals: the segments a resume starts are listed, logged and shown as one run.

A run that waits is answered (``aresume_workflow(..., decisions=...)``, or a click in the
notebook), which starts a new run folder linked by ``resumed_from``. ``nbworkflow runs`` and
``%workflow runs`` list it as one row under a header; ``nbworkflow log`` and ``%workflow log``
show every segment, from any segment's id; damaged links are reported, never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nbworkflow.approval import HumanDecision
from nbworkflow.cli import main as cli
from nbworkflow.events import NodeInfo, RunFinished, RunStarted, RunStatus
from nbworkflow.exceptions import WorkflowError
from nbworkflow.report import RUNS_HEADER, run_log_lines, runs_table
from nbworkflow.runlog import RunWriter, list_runs, read_events
from nbworkflow.segments import find_logical_run, list_logical_runs, read_segments
from nbworkflow.staging import OpenAPIMock
from tests.test_adaptive import BROKEN, GOOD
from tests.test_approval import crm, resume, run
from tests.test_approval_widget import LINE as CELL_LINE
from tests.test_approval_widget import (
    WIDGET,
    answers,
    click,
    ip,
    run_cell,
    shell,
    waiting_cell,
)

__all__ = ["crm", "ip", "shell"]  # fixtures, used by name (``ip`` sets up staging from ``crm``)

WAITING_LINE = re.compile(r"WAITING for a human")
CODE_LINE = "def sync_to_crm(internal_user):"


def cli_out(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    capsys.readouterr()
    assert cli(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def magic_out(ip: InteractiveShell, line: str) -> list[str]:
    with capture_output() as cap:
        ip.run_line_magic("workflow", line)
    return cap.stdout.splitlines()


def approved_run(crm: OpenAPIMock, tmp_path: Path) -> tuple[str, str]:
    """A run that waits at 'heal', then is approved by ada and succeeds: (first id, second id)."""
    first = run(crm, tmp_path, code=GOOD)
    assert first.result.status is RunStatus.WAITING
    second = resume(first.result.run_id, tmp_path, {"heal": HumanDecision("approve", who="ada")})
    assert second.result.ok
    return first.result.run_id, second.result.run_id


def test_waiting_then_approved_run_is_one_row_and_one_log(
    crm: OpenAPIMock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    shell: InteractiveShell,
) -> None:
    first, second = approved_run(crm, tmp_path)
    root = str(tmp_path / "runs")
    assert len(list_runs(root)) == 2  # two folders: the first segment is never rewritten
    (logical,) = list_logical_runs(root)
    assert logical.run_id == first and logical.segment_ids == (first, second)
    assert logical.status == "succeeded" and not logical.problems
    # The link is in run.json too: listing needs no event of a finished segment.
    summary = json.loads((logical.last.path / "run.json").read_text())
    assert summary["resumed_from"] == first
    events = logical.last.path / "events.jsonl"
    kept = events.read_bytes()
    events.write_text("")
    assert list_logical_runs(root)[0].segment_ids == (first, second)
    events.write_bytes(kept)

    rows = cli_out(capsys, "runs", "--runs-dir", root)
    assert rows[0].split() == list(RUNS_HEADER)
    assert len(rows) == 2, rows
    assert rows[1].split()[:2] == [first, "succeeded"] and rows[1].split()[4] == "2"
    assert second not in "\n".join(rows)

    # Any segment's id names the whole run; the waiting question and its code appear once.
    log = cli_out(capsys, "log", second, "--runs-dir", root)
    assert cli_out(capsys, "log", first[-4:], "--runs-dir", root) == log
    separators = [line for line in log if line.startswith("── segment")]
    assert separators == [
        f"── segment 1/2: run {first}, started",
        f"── segment 2/2: run {second}, resumed after approve on heal by ada",
    ]
    assert log.index(separators[0]) < log.index(separators[1])
    assert sum(bool(WAITING_LINE.search(line)) for line in log) == 1
    assert sum(CODE_LINE in line for line in log) == 1
    assert "run succeeded (121/6 tokens" in log[-1]  # the last segment ends the log

    # --node spans the segments: the question in the first, the answer and success in the next.
    heal = cli_out(capsys, "log", "last", "--node", "heal", "--runs-dir", root)
    text = "\n".join(heal)
    assert "WAITING for a human" in text and "[human-approve] approve by ada" in text
    assert text.index("WAITING") < text.index("[human-approve]") < text.index("heal: succeeded")
    assert "generate_mapper" not in text

    # The magic prints the same lines from the same functions.
    ip = shell
    assert magic_out(ip, f"runs --runs-dir {root}") == rows
    magic_log = magic_out(ip, f"log {second} --runs-dir {root}")
    assert magic_log[0].startswith(f"run {first} (") and "2 segments" in magic_log[0]
    assert magic_log[1:] == log
    assert magic_out(ip, f"log --node heal --runs-dir {root}")[1:] == heal
    with pytest.raises(Exception, match="did you mean 'heal'"):
        ip.run_line_magic("workflow", f"log --node heel --runs-dir {root}")


def test_resume_by_the_runs_id_continues_its_last_segment(
    crm: OpenAPIMock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nbworkflow runs`` shows the first segment's id: resuming with it continues the last
    segment (no fork that would redo what a later segment did)."""
    first = run(crm, tmp_path, code=BROKEN)
    reject = HumanDecision("reject", "map customer_tier from plan", who="bob")
    second = resume(first.result.run_id, tmp_path, {"heal": reject}, rewrites=[GOOD])
    assert second.result.status is RunStatus.WAITING  # the rewrite waits for approval
    third = resume(first.result.run_id, tmp_path, {"heal": HumanDecision("approve", who="ada")})
    assert third.result.ok
    started = read_events(third.result.run_dir)[0]
    assert isinstance(started, RunStarted)
    assert started.resumed_from == second.result.run_id
    root = tmp_path / "runs"
    (logical,) = list_logical_runs(root)
    assert len(logical.segments) == 3 and not logical.problems
    log = cli_out(capsys, "log", "last", "--runs-dir", str(root))
    assert [line for line in log if line.startswith("── ")] == [
        f"── segment 1/3: run {first.result.run_id}, started",
        f"── segment 2/3: run {second.result.run_id}, resumed after reject on heal by bob",
        f"── segment 3/3: run {third.result.run_id}, resumed after approve on heal by ada",
    ]
    # Two questions were asked (the first code, then the rewrite): each is in the log once.
    assert sum(bool(WAITING_LINE.search(line)) for line in log) == 2
    with pytest.raises(WorkflowError, match="succeeded: nothing to resume"):
        resume(first.result.run_id, tmp_path, {})


def test_a_click_in_the_notebook_keeps_one_run(ip: InteractiveShell, crm: OpenAPIMock) -> None:
    """The notebook path: the cell waits, a click approves, ``%workflow runs`` shows one row,
    and the question and its code are shown once in the cell's outputs (not in the panel and
    again in the static rendering's banner and table)."""
    ip.user_ns["answers"] = answers(GOOD)
    cap = run_cell(ip, f"--script answers {CELL_LINE}")
    first = ip.user_ns["res"]
    run_id, cell = waiting_cell()
    reason = first.waiting["heal"].reason
    static = cap.outputs[-2].data["text/html"]
    panel = cell.panels["heal"]
    # The static rendering (what a shared notebook shows) holds the question once, in the
    # node's details next to its code; the buttons' panel holds it for the live notebook.
    visible = re.sub(r'title="[^"]*"', "", static)  # tooltips show on hover only
    assert visible.count(reason) == 1, visible.count(reason)
    assert panel.info.value.count(reason) == 1
    cap = click(cell, "heal", "approve")
    res = ip.user_ns["res"]
    assert res.ok and crm.counts["201"] > 0
    # After the click the answered panel is folded: no second copy of the question or code.
    assert panel.info.layout.display == "none"
    assert panel.editor.layout.display == "none"
    for out in cap.outputs:
        for mime, value in out.data.items():
            if mime != WIDGET:
                assert reason not in value, mime
    # The cell names the run by its first id, and the segment the click started.
    assert f"resumed: run {run_id}, segment 2" in cap.outputs[0].data["text/plain"]
    note = cap.outputs[-1].data["text/plain"]
    assert f"run {run_id} went on in segment 2 ({res.run_id}, succeeded)" in note
    rows = magic_out(ip, "runs")
    assert len(rows) == 2 and rows[1].split()[0] == run_id and rows[1].split()[4] == "2"
    log = magic_out(ip, f"log {res.run_id}")
    assert sum(bool(WAITING_LINE.search(line)) for line in log) == 1
    assert sum(CODE_LINE in line for line in log) == 1
    assert any("resumed after approve on heal by tester" in line for line in log)


# -- damaged links ---------------------------------------------------------------------------
NODES = (NodeInfo(id="a", type="routine"),)


def segment(
    root: Path,
    run_id: str,
    ts: float,
    resumed_from: str | None = None,
    status: RunStatus = RunStatus.SUCCEEDED,
) -> Path:
    writer = RunWriter.create(root, "wf", run_id)
    writer.append(
        RunStarted(
            run_id=run_id,
            workflow="wf",
            nodes=NODES,
            provider="scripted",
            resumed_from=resumed_from,
            ts=ts,
        )
    )
    writer.append(RunFinished(run_id=run_id, status=status, duration_s=1.0, counts={}, ts=ts + 1))
    writer.write_summary({"workflow": "wf", "status": status.value, "started_at": ts})
    writer.close()
    return writer.run_dir


def test_damaged_links_are_reported_never_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segment(tmp_path, "a1", 100.0, status=RunStatus.WAITING)
    segment(tmp_path, "a2", 200.0, resumed_from="a1")
    segment(tmp_path, "a3", 300.0, resumed_from="a1")  # a1 resumed twice
    segment(tmp_path, "b1", 400.0, resumed_from="gone")  # its first segment was deleted
    segment(tmp_path, "c1", 500.0, resumed_from="c1")  # links to itself
    segment(tmp_path, "d1", 600.0, resumed_from="e1")  # links to a run that started later
    segment(tmp_path, "e1", 700.0, resumed_from="d1")
    bad = segment(tmp_path, "f1", 800.0)
    (bad / "events.jsonl").write_text('{"kind": "run_started", "nodes": 3}\n')  # damaged start
    runs = {r.run_id: r for r in list_logical_runs(tmp_path)}
    assert set(runs) == {"a1", "b1", "c1", "d1", "f1"}
    assert runs["a1"].segment_ids == ("a1", "a2", "a3")
    assert "resumed 2 times (a2, a3)" in runs["a1"].problems[0]
    assert "gone, which is not in this runs folder" in runs["b1"].problems[0]
    assert "c1, its own id" in runs["c1"].problems[0]
    # d1 -> e1 -> d1 is a loop: the later one joins the earlier, the earlier says why it stands
    assert runs["d1"].segment_ids == ("d1", "e1")
    assert "e1, which started after it" in runs["d1"].problems[0]
    assert "corrupt event line" in runs["f1"].problems[0]
    # A run.json whose link has the wrong type is not believed: the events say it.
    summary = json.loads((tmp_path / "a2" / "run.json").read_text())
    (tmp_path / "a2" / "run.json").write_text(json.dumps({**summary, "resumed_from": 7}))
    (again,) = [r for r in list_logical_runs(tmp_path) if r.run_id == "a1"]
    assert again.segment_ids == ("a1", "a2", "a3")
    assert any("a2: " in p and "run.json is damaged (resumed_from" in p for p in again.problems)
    rows = cli_out(capsys, "runs", "--runs-dir", str(tmp_path))
    assert rows[0].split() == list(RUNS_HEADER)
    assert sum(line.startswith("    ! ") for line in rows) == 6  # a1 has two
    # The log of a run with a segment whose events are damaged says so and goes on.
    events = tmp_path / "a2" / "events.jsonl"
    start, end = events.read_text().splitlines()
    events.write_text(f"{start}\ngarbage\n{end}\n")  # damaged in the middle
    lines = run_log_lines(read_segments(find_logical_run("a3", tmp_path)))
    why = "resumed after run a1 ended waiting"  # a1 left no question: its status says why
    second = lines.index(f"── segment 2/3: run a2, {why}")
    assert "corrupt event line" in lines[second + 1] and lines[second + 1].startswith("   ! ")
    assert lines[second + 2] == f"── segment 3/3: run a3, {why}"  # from a1, not from a2
    assert lines[-1].startswith("+") and "run succeeded" in lines[-1]


def test_runs_table_lines_up_under_its_header(tmp_path: Path) -> None:
    segment(tmp_path, "a-long-run-id-1", 100.0)
    segment(tmp_path, "b", 200.0, status=RunStatus.FAILED)
    header, *rows = runs_table(list_logical_runs(tmp_path))
    assert header.index("status") == rows[0].index("succeeded") == rows[1].index("failed")
    assert json.dumps(rows)  # plain text, one row per run
    assert len(rows) == 2


def test_a_click_whose_resume_cannot_start_is_not_a_segment(
    ip: InteractiveShell, crm: OpenAPIMock
) -> None:
    ip.user_ns["answers"] = answers(GOOD)
    run_cell(ip, f"--script answers {CELL_LINE}")
    run_id, cell = waiting_cell()
    spec = cell.runs_root / run_id / "workflow.yaml"
    spec.rename(spec.with_suffix(".away"))  # the resume cannot read the spec: it never starts
    click(cell, "heal", "approve")
    panel = cell.panels["heal"]
    assert "resume failed" in panel.message.value
    assert panel.info.layout.display is None  # the question is shown again, to answer again
    spec.with_suffix(".away").rename(spec)
    cap = click(cell, "heal", "approve")
    res = ip.user_ns["res"]
    assert res.ok
    note = cap.outputs[-1].data["text/plain"]
    assert f"run {run_id} went on in segment 2 ({res.run_id}, succeeded)" in note
    (logical,) = list_logical_runs(cell.runs_root)
    assert logical.segment_ids == (run_id, res.run_id)


def test_an_answered_panel_folds_and_a_failed_resume_unfolds_it_with_the_edit() -> None:
    from nbworkflow.approval import ApprovalRequest
    from nbworkflow.widgets.view import ApprovalPanel

    answers_given: list[tuple[str, str | None]] = []
    request = ApprovalRequest("r1", "heal", 1, "approve", "check it", code="x = 1\n")
    panel = ApprovalPanel(
        request, lambda _r, action, _c, code: answers_given.append((action, code))
    )
    panel.click("edit")  # opens the editor
    panel.editor.value = "x = 2\n"
    assert panel.click("edit") and answers_given == [("edit", "x = 2\n")]
    panel.close("edit by ada: resuming the run…")
    assert panel.info.layout.display == panel.editor.layout.display == "none"
    panel.reopen("resume failed: the run folder is gone")
    assert panel.info.layout.display is None and panel.editor.layout.display is None
    assert panel.editor.value == "x = 2\n"  # the person's edit is still there to submit again

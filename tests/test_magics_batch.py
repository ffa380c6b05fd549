"""``%%workflow --map``: a batch from a notebook cell, in IPython's in-process test shell."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nbworkflow.agents import ScriptedProvider
from nbworkflow.agents.base import ModelRequest
from nbworkflow.batch import WorkflowText, read_manifest, run_workflows
from nbworkflow.exceptions import SpecError, WorkflowError
from nbworkflow.runlog import list_runs, read_events
from nbworkflow.widgets.batch import BatchState
from tests.test_magics import shell  # noqa: F401 (the shell fixture)

CELL = """\
name: greet
nodes:
  - id: hello
    agent: Greeter
    action: "Greet ${item.name} from ${item.city:-nowhere}"
  - id: bye
    action: Say bye
    depends_on: [hello]
"""
PEOPLE = [{"name": "Ann", "city": "Oslo"}, {"name": "Bob"}, {"name": "Cid", "city": "Rome"}]
ANSWERS = {
    "hello": {"content": "hello", "rationale": "r"},
    "bye": {"content": "bye", "rationale": "r"},
}


class Greeter:
    """A model that records each greeting it is asked for and refuses ``fail``."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.asked: list[str] = []
        self.provider = ScriptedProvider({"bye": ANSWERS["bye"]}, responders={"hello": self.hello})

    def hello(self, request: ModelRequest) -> dict[str, str]:
        line = next(x for x in request.messages[-1].content.splitlines() if "Greet " in x)
        self.asked.append(line.strip())
        if self.fail and f"Greet {self.fail} " in line:
            raise WorkflowError(f"{self.fail} is not welcome")
        return {"content": line.replace("Greet", "Hello"), "rationale": "r"}


@pytest.fixture
def ip(
    shell: InteractiveShell,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBWORKFLOW_RUNS_DIR", raising=False)
    names = ("people", "answers", "model", "res")
    shell.user_ns.update(people=PEOPLE, answers=ANSWERS)
    yield shell
    for name in names:
        shell.user_ns.pop(name, None)


def run_cell(ip: InteractiveShell, line: str, cell: str = CELL) -> Any:
    with capture_output() as cap:
        ip.run_cell_magic("workflow", line, cell)
    return cap


RUNS = Path(".nbworkflow/runs")


# -- the batch layer takes a cell's text ---------------------------------------------------------
def test_workflow_text_errors_name_the_editor_lines(tmp_path: Path) -> None:
    bad = CELL.replace("depends_on: [hello]", "depnds_on: [hello]")  # line 8 of the YAML
    model = Greeter()
    with pytest.raises(SpecError) as info:
        run_workflows(
            WorkflowText(bad, filename="<cell>", line_offset=1),
            PEOPLE,
            provider=model.provider,
            runs_dir=tmp_path / "runs",
        )
    assert "<cell>:9:5" in str(info.value) and "depends_on" in str(info.value)
    assert model.asked == []
    with pytest.raises(SpecError) as info:
        run_workflows(WorkflowText(bad), PEOPLE, provider=model.provider, runs_dir=None)
    assert "<workflow>:8:5" in str(info.value)


def test_workflow_text_runs_each_item_and_resolves_files_from_its_base_dir(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("the notes")
    text = CELL.replace(
        "    agent: Greeter\n", "    agent: Greeter\n    inputs:\n      - file: notes.txt\n"
    )
    model = Greeter()
    result = run_workflows(
        WorkflowText(text, filename="<cell>", base_dir=str(tmp_path)),
        PEOPLE,
        provider=model.provider,
        runs_dir=tmp_path / "runs",
    )
    assert result.ok and len(result) == 3
    assert sorted(model.asked) == [
        "Greet Ann from Oslo",
        "Greet Bob from nowhere",
        "Greet Cid from Rome",
    ]


def test_an_empty_item_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="empty"):
        run_workflows(WorkflowText(CELL), [], provider="scripted", runs_dir=None)


def test_the_package_exports_the_batch_api_lazily() -> None:
    import nbworkflow
    import nbworkflow.batch

    assert nbworkflow.run_workflows is nbworkflow.batch.run_workflows
    assert nbworkflow.arun_workflows is nbworkflow.batch.arun_workflows
    assert nbworkflow.BatchResult is nbworkflow.batch.BatchResult
    code = "import sys, nbworkflow; print('nbworkflow.batch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the magic ---------------------------------------------------------------------------------
def test_map_over_a_list_variable_fills_each_item(ip: InteractiveShell) -> None:
    greeter = Greeter()
    ip.user_ns["model"] = greeter.provider
    cap = run_cell(ip, "--map people --provider model --out res")
    res = ip.user_ns["res"]
    assert res.ok and res.counts() == {"succeeded": 3}
    assert sorted(greeter.asked) == [
        "Greet Ann from Oslo",
        "Greet Bob from nowhere",
        "Greet Cid from Rome",
    ]
    assert [r.output("hello").content for r in res] == [
        "Hello Ann from Oslo",
        "Hello Bob from nowhere",
        "Hello Cid from Rome",
    ]
    # The live view, then its static rendering in the same output (a display update).
    first, last = cap.outputs[0].data, cap.outputs[-1].data
    assert "application/vnd.jupyter.widget-view+json" in first
    assert "application/vnd.jupyter.widget-view+json" not in last
    html = last["text/html"]
    assert f'data-batch-id="{res.batch_id}"' in html and "3 succeeded" in last["text/plain"]
    for r in res:
        assert r.run_dir in html
    assert len(list_runs(RUNS)) == 3


def test_map_over_a_jsonl_file_quietly(ip: InteractiveShell) -> None:
    Path("people.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PEOPLE))
    greeter = Greeter()
    ip.user_ns["model"] = greeter.provider
    cap = run_cell(ip, "--map people.jsonl --provider model -q --out res")
    res = ip.user_ns["res"]
    assert res.ok and len(res) == 3 and cap.outputs == []
    assert cap.stdout.startswith(f"batch {res.batch_id}: 3 items (3 succeeded)")
    assert f"batch folder: {res.batch_dir}" in cap.stdout
    assert sorted(greeter.asked) == [
        "Greet Ann from Oslo",
        "Greet Bob from nowhere",
        "Greet Cid from Rome",
    ]


def test_a_script_answers_every_item(ip: InteractiveShell) -> None:
    run_cell(ip, "--map people --script answers -q --out res")
    assert [r.output("hello").content for r in ip.user_ns["res"]] == ["hello"] * 3


def test_a_failing_item_is_listed_and_the_others_run(ip: InteractiveShell) -> None:
    greeter = Greeter(fail="Bob")
    ip.user_ns["model"] = greeter.provider
    with pytest.raises(UsageError) as info:
        run_cell(ip, "--map people --provider model --out res")
    message = str(info.value)
    res = ip.user_ns["res"]  # bound before the error
    assert res.counts() == {"succeeded": 2, "failed": 1}
    assert "item 1 failed" in message and "Bob is not welcome" in message
    assert res[1].run_dir in message and "Traceback" not in message
    assert len(greeter.asked) == 3


def test_the_static_rendering_lists_the_failure_with_its_graph(ip: InteractiveShell) -> None:
    ip.user_ns["model"] = Greeter(fail="Bob").provider
    with capture_output() as cap, pytest.raises(UsageError):
        ip.run_cell_magic("workflow", "--map people --provider model", CELL)
    html = cap.outputs[-1].data["text/html"]
    failures = html.split('class="nbw-batch-failures"')[1].split("</ul>")[0]
    assert 'data-item="1"' in failures and "Bob is not welcome" in failures
    assert 'data-item="0"' not in failures
    assert '<details class="nbw-batch-item" data-item="1">' in html  # its graph, embedded
    assert "data:image/svg+xml;base64," in html


def test_a_missing_item_field_fails_that_item_only(ip: InteractiveShell) -> None:
    cell = CELL.replace("${item.city:-nowhere}", "${item.city}")
    with pytest.raises(UsageError) as info:
        run_cell(ip, "--map people --script answers --out res", cell)
    assert "item 1 error" in str(info.value) and "no field 'city'" in str(info.value)
    assert ip.user_ns["res"].counts() == {"succeeded": 2, "error": 1}


def test_a_spec_error_names_the_cells_line_and_runs_nothing(ip: InteractiveShell) -> None:
    bad = CELL.replace("depends_on: [hello]", "depnds_on: [hello]")
    with capture_output() as cap, pytest.raises(UsageError) as info:
        ip.run_cell_magic("workflow", "--map people --script answers", bad)
    message = str(info.value)
    # Line 9 of the editor: the %%workflow line counts, as for a single run.
    assert "<cell>:9:5" in message and "did you mean 'depends_on'" in message
    assert "Traceback" not in message and cap.outputs == []
    assert list_runs(RUNS) == []


def test_bad_map_values_and_options_that_do_not_fit(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="did you mean the variable 'people'"):
        run_cell(ip, "--map peple --script answers")
    ip.user_ns["res"] = {"name": "Ann"}
    with pytest.raises(UsageError, match="holds a dict"):
        run_cell(ip, "--map res --script answers")
    ip.user_ns["res"] = []
    with pytest.raises(UsageError, match="no items"):
        run_cell(ip, "--map res --script answers")
    for option, why in (
        ("--background", "blocks its cell"),
        ("--record c.jsonl", "cannot record one cassette"),
        ("--who ann", "nobody answers"),
    ):
        with pytest.raises(UsageError, match=f"does not fit a batch.*{why}"):
            run_cell(ip, f"--map people --script answers {option}")
    from argparse import Namespace

    from nbworkflow.magics.batchcell import refuse_unfit

    with pytest.raises(UsageError, match="--cost-budget does not fit a batch"):
        refuse_unfit(Namespace(cost_budget=2.5))
    refuse_unfit(Namespace(cost_budget=None))  # an option not given is no problem
    with pytest.raises(UsageError, match="--items-at-once 0: give at least 1"):
        run_cell(ip, "--map people --script answers --items-at-once 0")
    with pytest.raises(UsageError, match="--cluster goes with --map"):
        run_cell(ip, "--script answers --cluster local")
    with pytest.raises(UsageError, match="--cluster nohost: give 'local' or a scheduler"):
        run_cell(ip, "--map people --script answers --cluster nohost")
    assert list_runs(RUNS) == []


def test_interrupt_cancels_the_batch_and_the_same_id_resumes_it(ip: InteractiveShell) -> None:
    """A SIGINT while the cell blocks (a kernel interrupt) cancels every item in flight."""
    ip.user_ns["model"] = ScriptedProvider(ANSWERS, latency=30)
    fired: list[float] = []

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = list_runs(RUNS)
            started = [
                r for r in runs if any(e.kind == "node_started" for e in read_events(r.path))
            ]
            if len(started) == len(PEOPLE):
                fired.append(time.monotonic())
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
                return
            time.sleep(0.02)

    helper = threading.Thread(target=interrupt_when_running, daemon=True)
    helper.start()
    with capture_output() as cap, pytest.raises(UsageError) as info:
        ip.run_cell_magic("workflow", "--map people --provider model --batch-id b1", CELL)
    assert fired, "the items never started"
    message = str(info.value)
    assert "batch b1 cancelled by a kernel interrupt: 3 cancelled" in message
    assert "--batch-id b1" in message
    assert {r.status for r in list_runs(RUNS)} == {"cancelled"}
    assert not [t for t in threading.enumerate() if t.name.startswith("nbworkflow-")]
    last = cap.outputs[-1].data
    assert "application/vnd.jupyter.widget-view+json" not in last
    assert "batch b1 cancelled" in last["text/plain"]
    # The same id again: nothing succeeded, so every item runs now.
    run_cell(ip, "--map people --script answers --batch-id b1 -q --out res")
    assert ip.user_ns["res"].counts() == {"succeeded": 3}
    assert len(read_manifest(RUNS.resolve() / ".batches" / "b1")) == 3


def test_a_resumed_batch_runs_only_what_did_not_succeed(ip: InteractiveShell) -> None:
    ip.user_ns["model"] = Greeter(fail="Bob").provider
    with pytest.raises(UsageError):
        run_cell(ip, "--map people --provider model --batch-id again -q")
    greeter = Greeter()
    ip.user_ns["model"] = greeter.provider
    run_cell(ip, "--map people --provider model --batch-id again -q --out res")
    res = ip.user_ns["res"]
    assert res.ok and [r.resumed for r in res] == [True, False, True]
    assert greeter.asked == ["Greet Bob from nowhere"]


def test_cancelled_batch_state() -> None:
    from nbworkflow.batch import BatchStarted

    state = BatchState()
    state.apply(BatchStarted("b", 3, ["a", "b", "c"], "local"), now=0.0)
    state.status[0] = "running"
    state.cancel(now=1.0)
    assert state.counts() == {"cancelled": 1, "pending": 2}
    from nbworkflow.widgets.batch import headline

    assert headline(state).startswith("batch b cancelled: 0/3 items")


def test_a_held_back_update_is_drawn_when_the_interval_has_passed() -> None:
    """Items waiting for their model send nothing for a while: the view must not stay behind."""
    import asyncio

    from nbworkflow.batch import BatchStarted, ItemEvent
    from nbworkflow.events import RunStarted
    from nbworkflow.widgets.batch import BatchView

    async def batch() -> BatchView:
        view = BatchView(interval=0.05)
        view(BatchStarted("b", 2, ["a", "b"], "local"))
        view(ItemEvent(0, RunStarted(run_id="r0", workflow="w", nodes=(), provider="scripted")))
        assert view.redraws == 1 and "0 running" not in view.summary.value
        await asyncio.sleep(0.2)  # no update meanwhile
        return view

    view = asyncio.run(batch())
    assert view.redraws == 2 and "1 running" in view.summary.value


def test_help_lists_the_batch_options(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("workflow").__doc__ or ""
    for option in ("--map VAR_OR_FILE", "--cluster local|ADDRESS", "--batch-id ID"):
        assert option in doc, option
    assert "--items-at-once N" in doc

"""``%%workflow --map`` in a real kernel (nbclient), on the local executor (Dask: test_batch_dask).

The kernel awaits the cell (``magics.awaited``), so this runs the batch's awaited wait; the
saved notebook must hold the static batch rendering, readable without a kernel.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

from nbworkflow.batch import read_manifest
from nbworkflow.runlog import list_runs
from tests.integration.test_kernel_controls import execute, kc  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

SETUP = """\
%load_ext nbworkflow
from nbworkflow.agents import ScriptedProvider
from nbworkflow.exceptions import WorkflowError

def hello(request):
    line = next(x for x in request.messages[-1].content.splitlines() if "Greet " in x).strip()
    if "Bob" in line:
        raise WorkflowError("Bob is not welcome")
    return {"content": line.replace("Greet", "Hello"), "rationale": "echo"}

model = ScriptedProvider({}, responders={"hello": hello})
people = [{"name": "Ann", "city": "Oslo"}, {"name": "Cid"}]
"""
CELL = """\
%%workflow --map {source} --provider model --out {out} --batch-id {batch}
name: greet
nodes:
  - id: hello
    agent: Greeter
    action: "Greet ${{item.name}} from ${{item.city:-nowhere}}"
"""


def run_notebook(cells: list[str], cwd: Path, allow_errors: bool = False) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    ).execute()
    return nb


def batch_output(cell: nbformat.NotebookNode) -> dict[str, str]:
    displays = [o for o in cell.outputs if o.output_type == "display_data"]
    assert len(displays) == 1, [list(o.get("data", {})) for o in cell.outputs]
    data = displays[0]["data"]
    # The live widget was replaced by the static rendering.
    assert "application/vnd.jupyter.widget-view+json" not in data
    return dict(data)


def test_a_notebook_cell_maps_a_list_and_a_jsonl_file(tmp_path: Path) -> None:
    (tmp_path / "more.jsonl").write_text(json.dumps({"name": "Dan", "city": "Lima"}) + "\n")
    nb = run_notebook(
        [
            SETUP,
            CELL.format(source="people", out="res", batch="b-list"),
            CELL.format(source="more.jsonl", out="res2", batch="b-file"),
            "print([r.output('hello').content for r in [*res, *res2]])",
        ],
        tmp_path,
    )
    printed = nb.cells[-1].outputs[0]["text"]
    assert "Hello Ann from Oslo" in printed and "Hello Cid from nowhere" in printed
    assert "Hello Dan from Lima" in printed
    data = batch_output(nb.cells[1])
    assert 'data-batch-id="b-list"' in data["text/html"]
    assert data["text/plain"].startswith("batch b-list finished: 2/2 items (2 succeeded)")
    runs = list_runs(tmp_path / ".nbworkflow" / "runs")
    assert len(runs) == 3 and {r.status for r in runs} == {"succeeded"}
    assert len(read_manifest(tmp_path / ".nbworkflow" / "runs" / ".batches" / "b-list")) == 2
    # nbconvert: the batch reads with no kernel.
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert body.count('class="nbw-batch"') == 2


def test_a_failing_item_is_shown_and_stops_the_notebook(tmp_path: Path) -> None:
    cells = [
        SETUP + "people.append({'name': 'Bob'})",
        CELL.format(source="people", out="res", batch="b-fail"),
        "print('not reached')",
    ]
    with pytest.raises(CellExecutionError) as info:
        run_notebook(cells, tmp_path)
    assert "item 2 failed" in str(info.value) and "Bob is not welcome" in str(info.value)
    assert len(list_runs(tmp_path / ".nbworkflow" / "runs")) == 3  # the others ran


def test_the_failure_and_its_graph_are_in_the_saved_output(tmp_path: Path) -> None:
    nb = run_notebook(
        [
            SETUP + "people.append({'name': 'Bob'})",
            CELL.format(source="people", out="res", batch="b-shown"),
        ],
        tmp_path,
        allow_errors=True,
    )
    cell = nb.cells[1]
    text = "".join(o.get("text", "") for o in cell.outputs)  # IPython prints a UsageError
    assert "UsageError: batch b-shown: 3 items (1 failed, 2 succeeded)" in text
    assert "item 2 failed: hello: Bob is not welcome" in text and "Traceback" not in text
    html = batch_output(cell)["text/html"]
    failures = re.search(r'class="nbw-batch-failures".*?</ul>', html, re.S)
    assert failures and 'data-item="2"' in failures.group(0)
    assert '<details class="nbw-batch-item" data-item="2">' in html


# -- a frontend picks an item while the batch runs ----------------------------------------------
SLOW_BATCH = """\
%%workflow --map people --script answers --latency 1 --items-at-once 1 --no-cache
name: greet
nodes:
  - id: hello
    agent: Greeter
    action: "Greet ${item.name}"
"""
HEADLINE = re.compile(r"batch \S+ (running|finished): (\d)/3 items")


def three_people(client: Any) -> None:
    code = 'people = [{"name": n} for n in ("Ann", "Bob", "Cid")]\n'
    code += 'answers = {"hello": {"content": "hi", "rationale": "r"}}'
    done = execute(client, code)
    assert done["error"] is None, done


def test_picking_an_item_mid_batch_shows_its_graph(kc: Any) -> None:  # noqa: F811
    """The kernel awaits the cell, so a pick in the item drop-down is answered mid-batch."""
    three_people(kc)
    seen: dict[str, Any] = {"dropdown": None, "picked": False, "done": 0, "shown": []}

    def frontend(msg: Any) -> None:
        kind = msg["msg_type"] if msg is not None else ""
        state = msg["content"].get("data", {}).get("state", {}) if msg is not None else {}
        if kind == "comm_open" and state.get("_model_name") == "DropdownModel":
            seen["dropdown"] = msg["content"]["comm_id"]
        if kind == "comm_msg":
            value = str(state.get("value", ""))
            head = HEADLINE.search(value)
            if head:
                seen["done"] = int(head.group(2))
            if seen["picked"] and 'class="nbw-static' in value:
                seen["shown"].append((seen["done"], 'data-run-status="succeeded"' in value))
        if not seen["picked"] and seen["dropdown"] and seen["done"] >= 1:
            update = {"method": "update", "state": {"index": 0}, "buffer_paths": []}
            kc.shell_channel.send(
                kc.session.msg("comm_msg", {"comm_id": seen["dropdown"], "data": update})
            )
            seen["picked"] = True

    done = execute(kc, SLOW_BATCH, frontend)
    assert done["error"] is None, done
    assert seen["picked"], "no item finished while the frontend watched"
    # Item 0's graph (its run's static rendering) arrived while items were still running.
    assert any(d < 3 and ok for d, ok in seen["shown"]), seen["shown"]


def test_the_readme_batch_cells_run_as_pasted(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\nIn a notebook, `--map`", 1)[1].split("\n## ", 1)[0]
    cells = [m.group(1) for m in re.finditer(r"```python\n(.*?)```", section, re.S)]
    assert len(cells) == 2 and cells[1].startswith("%%workflow --map customers")
    nb = run_notebook(
        ["%load_ext nbworkflow", *cells, "print(batch.counts(), len(batch))"], tmp_path
    )
    assert nb.cells[-1].outputs[0]["text"].strip() == "{'succeeded': 2} 2"
    assert 'class="nbw-batch"' in batch_output(nb.cells[2])["text/html"]


def test_an_interrupt_cancels_an_awaited_batch_and_keeps_the_kernel(kc: Any) -> None:  # noqa: F811
    three_people(kc)
    cell = SLOW_BATCH.replace("--latency 1 --items-at-once 1", "--latency 30 --batch-id cut")
    started: dict[str, float] = {}

    def interrupt(msg: Any) -> None:
        if msg is not None and msg["msg_type"] == "comm_msg" and "t" not in started:
            value = str(msg["content"]["data"].get("state", {}).get("value", ""))
            if "3 running" in value:  # every item is waiting for its model
                started["t"] = time.monotonic()
                kc.km.interrupt_kernel()

    done = execute(kc, cell, interrupt)
    assert "t" in started, done
    assert "UsageError: batch cut cancelled by a kernel interrupt: 3 cancelled" in done["text"]
    assert "--batch-id cut" in done["text"] and "Traceback" not in done["text"]
    after = execute(kc, "print(1 + 1)")
    assert after["error"] is None and after["text"].strip() == "2"

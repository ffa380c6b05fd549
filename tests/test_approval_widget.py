"""The notebook's approval buttons, in IPython's in-process shell: the cell's run ends waiting
and returns, a click resumes it on a loop thread, and the same output area shows the resumed run.

The adaptive node runs its code in the ``process`` sandbox backend and talks to the CRM's contract mock
over loopback HTTP. Waits are on the resumed run's future, never on sleeps.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

from nbworkflow.agents.base import ModelRequest
from nbworkflow.agents.scripted import ScriptedProvider
from nbworkflow.magics import workflow as wf
from nbworkflow.magics.cell import CellRuns
from nbworkflow.runlog import read_events
from nbworkflow.staging import OpenAPIMock, bundled_document
from tests.test_adaptive import BROKEN, GOOD, SAMPLES

WIDGET = "application/vnd.jupyter.widget-view+json"
CELL = textwrap.dedent(
    f"""\
    name: approve_in_notebook
    nodes:
      - id: generate_mapper
        output: code
        action: Write sync_to_crm.
      - id: heal
        type: adaptive
        depends_on: [generate_mapper]
        action: Execute sync_to_crm against staging. If it fails, adapt the code.
        approve: true
        code_from: generate_mapper
        entrypoint: sync_to_crm
        samples: {json.dumps(SAMPLES)}
        staging:
          url: ${{STAGING_URL}}/users
          timeout: 2
          headers:
            Authorization: "Bearer ${{STAGING_TOKEN}}"
      - id: report
        depends_on: [heal]
        action: Summarise.
    """
)
LINE = "--sandbox process --who tester --out res"


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    start_ipython()  # once per process: None when another test module started it
    ip = get_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "nbworkflow.magics")
    return ip


@pytest.fixture
def crm() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(bundled_document("crm"), seed=3) as server:
        yield server


@pytest.fixture
def ip(
    shell: InteractiveShell, crm: OpenAPIMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBWORKFLOW_RUNS_DIR", raising=False)
    shell.user_ns.update(STAGING_URL=crm.url, STAGING_TOKEN=crm.token)
    yield shell
    for name in ("STAGING_URL", "STAGING_TOKEN", "answers", "model", "res"):
        shell.user_ns.pop(name, None)
    wf.WAITING.clear()


def answers(mapper: str) -> dict[str, Any]:
    return {
        "generate_mapper": {"rationale": "first draft", "code": mapper},
        "heal": {"rationale": "rewritten", "code": GOOD},
        "report": {"content": "report done"},
    }


def run_cell(ip: InteractiveShell, line: str) -> Any:
    with capture_output() as cap:
        ip.run_cell_magic("workflow", line, CELL)
    return cap


def waiting_cell() -> tuple[str, CellRuns]:
    (run_id,) = wf.WAITING
    return run_id, wf.WAITING[run_id]


def click(cell: CellRuns, node: str, action: str, comment: str = "") -> Any:
    """Click like a person (the button's own click handler), then wait for the resumed run."""
    before = cell.last
    panel = cell.panels[node]
    panel.comment.value = comment
    with capture_output() as cap:
        panel.buttons[action].click()
        resumed = cell.last
        if resumed is not before and resumed is not None:
            resumed.run.future.exception(timeout=60)  # ended, either way
            resumed.run.thread.join(10)
    return cap


def test_cell_returns_waiting_with_code_and_buttons_then_approve_resumes(
    ip: InteractiveShell, crm: OpenAPIMock
) -> None:
    ip.user_ns["answers"] = answers(GOOD)
    cap = run_cell(ip, f"--script answers {LINE}")
    first = ip.user_ns["res"]
    assert first.status.value == "waiting" and crm.counts["staged_requests"] == 0
    static, panel_out = cap.outputs[-2].data, cap.outputs[-1].data
    # Two outputs: a static rendering for shared notebooks (never sharing an output with a
    # widget view, which nbconvert would pick and draw blank), then the buttons.
    assert WIDGET not in static and 'data-run-status="waiting"' in static["text/html"]
    assert "waiting for a decision on: heal" in static["text/plain"]
    assert WIDGET in panel_out and "text/html" not in panel_out
    assert "need a running kernel" in panel_out["text/plain"]
    run_id, cell = waiting_cell()
    assert run_id == first.run_id
    panel = cell.panels["heal"]
    assert set(panel.buttons) == {"approve", "reject", "edit"}
    assert panel.editor.layout.display == "none"  # the editor opens on "Edit…"
    assert "customer_tier" in panel.info.value and "<span" in panel.info.value  # highlighted
    assert "payloads that approval sends" in panel.info.value
    assert "diff" not in panel.info.value  # first attempt: nothing to compare with

    cap = click(cell, "heal", "approve")
    res = ip.user_ns["res"]  # --out follows the resumed run
    assert res.ok and res.run_id != first.run_id
    assert crm.counts["201"] == len(SAMPLES)
    assert not wf.WAITING and not wf.ACTIVE
    assert panel.buttons["approve"].disabled and "approve by tester" in panel.message.value
    # The same output area went live for the resumed run, then static and green.
    kinds = [o.data for o in cap.outputs]
    assert WIDGET in kinds[0] and "resumed" in kinds[0]["text/plain"]
    final = cap.outputs[-2].data["text/html"]
    assert 'data-run-status="succeeded"' in final
    # The folder is named as the first run named it (relative), not made absolute.
    assert f"folder .nbworkflow/runs/{res.run_id}" in cap.outputs[-2].data["text/plain"]
    # The buttons' output now says what was decided and where the run went.
    note = cap.outputs[-1].data["text/plain"]
    assert note.startswith("approve on heal by tester") and res.run_id in note
    # Who and when are in the resumed run's log, pinned to the code shown.
    events = read_events(res.run_dir)
    assert events[0].resumed_from == first.run_id  # type: ignore[union-attr]
    [human] = [e for e in events if getattr(e, "verdict", "") == "human-approve"]
    assert human.data["who"] == "tester" and human.data["when"]  # type: ignore[attr-defined]
    assert human.data["code_sha256"] == first.waiting["heal"].code_sha256  # type: ignore[attr-defined]


def test_reject_needs_a_comment_which_goes_to_the_model(
    ip: InteractiveShell, crm: OpenAPIMock
) -> None:
    prompts: list[str] = []

    def heal(request: ModelRequest) -> dict[str, str]:
        prompts.append(request.messages[-1].content)
        return {"rationale": "added the tier", "code": GOOD}

    script = answers(BROKEN)
    del script["heal"]
    model = ScriptedProvider(script, responders={"heal": heal})
    ip.user_ns["model"] = model
    run_cell(ip, f"--provider model {LINE}")
    first_id, cell = waiting_cell()
    panel = cell.panels["heal"]

    # No comment: nothing runs, the panel says why.
    before = cell.last
    click(cell, "heal", "reject")
    assert cell.last is before and first_id in wf.WAITING
    assert "Write a comment first" in panel.message.value and not panel.buttons["reject"].disabled

    click(cell, "heal", "reject", "customer_tier is missing: map it from plan")
    [prompt] = prompts
    assert "customer_tier is missing: map it from plan" in prompt
    assert crm.counts["staged_requests"] == 0
    # The rewrite waits for approval in turn, with its diff against the rejected code.
    second_id, cell2 = waiting_cell()
    assert cell2 is cell and second_id != first_id
    info = cell.panels["heal"].info.value
    assert "diff against the previous attempt" in info and "customer_tier" in info
    assert "attempt 2" in info
    assert "reject by tester: customer_tier is missing: map it from plan" in info  # why

    click(cell, "heal", "approve")
    assert ip.user_ns["res"].ok and crm.counts["201"] == len(SAMPLES)
    assert len(prompts) == 1  # approving the rewrite asks the model nothing more
    assert model.calls["report"] == 1


def test_edit_opens_the_code_and_submits_the_persons_version(
    ip: InteractiveShell, crm: OpenAPIMock
) -> None:
    model = ScriptedProvider(answers(BROKEN))
    ip.user_ns["model"] = model
    run_cell(ip, f"--provider model {LINE}")
    first_id, cell = waiting_cell()
    panel = cell.panels["heal"]

    # First click: the editor opens, holding the code that waits; nothing is decided yet.
    click(cell, "heal", "edit")
    assert panel.editor.layout.display is None and panel.editor.value == BROKEN
    assert panel.buttons["edit"].description == "Submit edit" and first_id in wf.WAITING
    click(cell, "heal", "edit")  # unchanged: refused with the reason
    assert "Nothing changed" in panel.message.value and first_id in wf.WAITING

    panel.editor.value = GOOD
    click(cell, "heal", "edit", "mapped the tier myself")
    res = ip.user_ns["res"]
    assert res.ok and crm.counts["201"] == len(SAMPLES)
    assert res.output("heal").content == GOOD
    assert model.calls.get("heal", 0) == 0  # the person's code, no model rewrite
    assert panel.editor.disabled and "edit by tester" in panel.message.value
    human = [e for e in read_events(res.run_dir) if getattr(e, "verdict", "") == "human-edit"]
    assert human and human[0].data["who"] == "tester"  # type: ignore[attr-defined]


def test_a_resume_that_cannot_start_asks_again(ip: InteractiveShell) -> None:
    ip.user_ns["answers"] = answers(GOOD)
    run_cell(ip, f"--script answers {LINE}")
    run_id, cell = waiting_cell()
    shutil.rmtree(cell.runs_root / run_id)  # the run folder is gone: nothing to resume
    click(cell, "heal", "approve")
    panel = cell.panels["heal"]
    assert "resume failed" in panel.message.value
    assert not panel.buttons["approve"].disabled and {run_id: cell} == wf.WAITING


def test_quiet_waiting_run_prints_how_to_continue(ip: InteractiveShell) -> None:
    ip.user_ns["answers"] = answers(GOOD)
    cap = run_cell(ip, f"--script answers {LINE} -q")
    assert "is waiting" in cap.stdout and "nbworkflow resume" in cap.stdout
    assert not wf.WAITING


def test_background_run_that_waits_shows_the_buttons_too(ip: InteractiveShell) -> None:
    ip.user_ns["answers"] = answers(GOOD)
    run_cell(ip, f"--script answers {LINE} --background")
    deadline = time.monotonic() + 60  # the cell returned at once; wait for the condition
    while not wf.WAITING and time.monotonic() < deadline:
        time.sleep(0.01)
    _, cell = waiting_cell()
    assert cell.asked is not None
    cell.asked.run.thread.join(10)  # its done callback, which showed the buttons, is over
    click(cell, "heal", "approve")
    assert ip.user_ns["res"].ok and not wf.ACTIVE

"""The demo notebooks and the magic in a real kernel (nbclient / jupyter_client).

Each notebook is executed fresh in a temporary folder (its run folders go there); the committed
copies are never overwritten. The saved outputs must hold the final static rendering, and the
nbconvert HTML must show the graph and the decision log with no kernel.
"""

from __future__ import annotations

import base64
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from nbworkflow.runlog import list_runs, read_events

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# Attribute order differs after nbconvert, so match the tag, then its src.
IMG = re.compile(r'<img\b[^>]*\bclass="nbw-graph-img"[^>]*>')
SRC = re.compile(r'\bsrc="data:image/svg\+xml;base64,([^"]+)"')


def fresh_copy(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # Prove the kernel is this venv's interpreter.
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    return nb


def execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    nb = fresh_copy(name)
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    assert nb.cells[-1].outputs[0]["text"].strip() == str(Path(sys.executable))
    return nb


def workflow_cells(nb: nbformat.NotebookNode) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%workflow")]


def final_rendering(cell: Any) -> tuple[str, str]:
    """The one display output of a %%workflow cell: (html, plain)."""
    displays = [o for o in cell.outputs if o.output_type == "display_data"]
    assert len(displays) == 1, [list(o.get("data", {})) for o in cell.outputs]
    data = displays[0]["data"]
    # The live widget was replaced by the static rendering (no kernel needed to read it).
    assert "application/vnd.jupyter.widget-view+json" not in data
    return data["text/html"], data["text/plain"]


def graph_svg(html: str) -> str:
    tag = IMG.search(html)
    assert tag, "no graph image"
    src = SRC.search(tag.group(0))
    assert src, "the graph image is not a data-URI SVG"
    return base64.b64decode(src.group(1)).decode()


def statuses(svg: str) -> dict[str, str]:
    return dict(re.findall(r'data-node-id="([^"]+)" data-status="([a-z]+)"', svg))


def test_quickstart(tmp_path: Path) -> None:
    nb = execute("quickstart", tmp_path)
    run_cell, broken = workflow_cells(nb)
    html, plain = final_rendering(run_cell)
    assert re.match(r"run \S+: invoice_reminders · succeeded · 6 succeeded", plain)
    assert 'data-run-status="succeeded"' in html
    assert set(statuses(graph_svg(html)).values()) == {"succeeded"}
    assert len(statuses(graph_svg(html))) == 6
    (run,) = list_runs(tmp_path / ".nbworkflow" / "runs")
    assert run.status == "succeeded" and run.run_id in html and run.run_id in plain
    # The bad spec ran nothing and said where and how to fix it.
    text = "".join(o.get("text", "") for o in broken.outputs)
    assert "UsageError" in text and "<cell>:7:5" in text and "did you mean 'depends_on'" in text
    assert "Traceback" not in text


def test_crm_integration_renders_graph_and_decisions_without_a_kernel(tmp_path: Path) -> None:
    nb = execute("crm_integration", tmp_path)
    (cell,) = workflow_cells(nb)
    html, plain = final_rendering(cell)
    assert "CRM_Integration_Builder · succeeded · 5 succeeded" in plain
    assert statuses(graph_svg(html)) == {
        "analyze_docs": "succeeded",
        "generate_mapper": "succeeded",
        "write_tests": "succeeded",
        "write_docs": "succeeded",
        "adaptive_test_loop": "succeeded",
    }
    assert 'data-node-id="adaptive_test_loop"' in html
    assert 'data-verdict="adapt"' in html and 'data-verdict="success"' in html
    assert "customer_tier" in html  # the healed mapper, highlighted
    (run,) = list_runs(tmp_path / ".nbworkflow" / "runs")
    kinds = [e.kind for e in read_events(run.path)]
    assert kinds.count("node_retrying") == 1  # healed in two attempts
    # nbconvert HTML: the final graph and the decision log are there, no kernel involved.
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert len(IMG.findall(body)) == 1
    assert statuses(graph_svg(body))["adaptive_test_loop"] == "succeeded"
    assert 'data-verdict="adapt"' in body and "<details" in body
    assert "staging-demo-token" not in body  # the bearer token never reaches the page


def test_chaos(tmp_path: Path) -> None:
    nb = execute("chaos", tmp_path)
    healed, down = workflow_cells(nb)
    html, _ = final_rendering(healed)
    assert statuses(graph_svg(html))["adaptive_test_loop"] == "succeeded"
    assert 'data-verdict="retry-infra"' in html and 'data-verdict="adapt"' in html
    html, plain = final_rendering(down)
    assert statuses(graph_svg(html))["adaptive_test_loop"] == "failed"
    assert "· failed ·" in plain
    errors = "".join(o.get("text", "") for o in down.outputs if o.output_type == "stream")
    assert "node 'adaptive_test_loop' failed: staging unavailable" in errors
    assert "Traceback" not in errors and "staging-demo-token" not in errors


def test_two_vendors_replays_one_workflow_answered_by_two_vendors(tmp_path: Path) -> None:
    nb = execute("two_vendors", tmp_path)
    (cell,) = workflow_cells(nb)
    html, plain = final_rendering(cell)
    assert "two_vendors · succeeded · 3 succeeded" in plain
    assert set(statuses(graph_svg(html)).values()) == {"succeeded"}
    (run,) = list_runs(tmp_path / ".nbworkflow" / "runs")
    calls = {e.node_id: e.model for e in read_events(run.path) if e.kind == "model_called"}
    assert calls == {
        "requirements": "gpt-4.1-mini",
        "fields": "gpt-4.1-mini",
        "implement": "claude-sonnet-5",
    }
    table = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    assert re.search(r"requirements +openai +gpt-4\.1-mini .*\$0\.\d{4}", table)
    assert re.search(r"implement +anthropic +claude-sonnet-5 .*\$0\.\d{4}", table)
    assert "run total: $0." in table and "def due_for_reminder" in table


def test_batch_maps_a_workflow_over_a_list(tmp_path: Path) -> None:
    nb = execute("batch", tmp_path)
    (cell,) = workflow_cells(nb)
    assert "--map customers" in cell.source
    html, plain = final_rendering(cell)
    assert re.match(r"batch \S+ finished: 3/3 items \(3 succeeded\)", plain)
    assert 'class="nbw-batch"' in html and html.count('<tr data-item="') == 3
    runs = list_runs(tmp_path / ".nbworkflow" / "runs")
    assert len(runs) == 3 and {r.status for r in runs} == {"succeeded"}
    for run in runs:
        assert str(run.path) in html
    printed = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    for name, plan in (("Ada Lovelace", "pro"), ("Grace Hopper", "free"), ("Alan Turing", "pro")):
        assert f"Hi {name}, welcome to the {plan} plan! (friendly)" in printed  # ${item.x}
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert 'class="nbw-batch"' in body  # no kernel needed to read it


@pytest.mark.parametrize("name", ["quickstart", "crm_integration", "chaos", "two_vendors", "batch"])
def test_committed_copies_carry_their_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    ran = [c for c in workflow_cells(nb) if "depnds_on" not in c.source]  # skip the typo demo
    assert ran
    for cell in ran:
        html, plain = final_rendering(cell)
        if "--map" in cell.source:  # a batch: its own static rendering, one row per item
            assert 'class="nbw-batch"' in html and plain.startswith("batch ")
            continue
        assert 'class="nbw-static ' in html and plain.startswith("run ")
        statuses(graph_svg(html))


# -- interrupting a real kernel -----------------------------------------------------------------
SLOW_SPEC = """\
name: slow_sandbox
nodes:
  - id: mapper
    agent: Backend Engineer
    action: Write sync_to_crm.
    output: code
  - id: check
    type: adaptive
    agent: Integration Engineer
    action: Run it against staging.
    depends_on: [mapper]
    code_from: mapper
    entrypoint: sync_to_crm
    samples:
      - {email: a@example.com}
    sandbox: {timeout: 120}
    staging:
      url: ${STAGING_URL}/users
      headers: {Authorization: "Bearer ${STAGING_TOKEN}"}
"""

SETUP = """\
%load_ext nbworkflow
from nbworkflow.staging import OpenAPIMock, bundled_document
crm = OpenAPIMock(bundled_document("crm")).start()
STAGING_URL, STAGING_TOKEN = crm.url, crm.token
answers = {"mapper": {"rationale": "slow", "code": (
    "import subprocess, time\\n\\ndef sync_to_crm(user):\\n"
    "    subprocess.Popen(['sleep', '90'])  # a grandchild that must die too\\n"
    "    time.sleep(90)\\n    return dict(user)\\n")}}
"""


def run_code(
    kc: Any, code: str, timeout: float = 60
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    msg_id = kc.execute(code)
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    return shell_reply(kc, msg_id, timeout)["content"], outputs


def shell_reply(kc: Any, msg_id: str, timeout: float) -> dict[str, Any]:
    """The shell reply to ``msg_id``. Earlier replies can still be queued (``wait_for_ready``
    may send several ``kernel_info`` requests), so skip those instead of taking the next one."""
    while True:
        reply: dict[str, Any] = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.is_running()]
    except psutil.NoSuchProcess:
        return []


def cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pids: list[int]) -> list[int]:
    """The pids still running (zombies waiting to be reaped count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.parametrize("backend", ["bwrap", "auto"])
def test_interrupt_cancels_the_run_kills_sandboxes_and_keeps_the_kernel(
    tmp_path: Path, backend: str
) -> None:
    """Both backends keep a warm part between runs by design (``auto``: the zygote launcher;
    ``bwrap``: one pre-started spare sandbox): they are started before the run, and afterwards
    the tree must be back to that size, with every process that ran the code gone."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        reply, _ = run_code(kc, SETUP)
        assert reply["status"] == "ok", reply
        kernel_pid = km.provisioner.pid  # type: ignore[union-attr]
        assert kernel_pid and not descendants(kernel_pid)
        # Start the backend's long-lived parts before the run.
        warm = "from nbworkflow.sandbox import run_code as rc\n"
        warm += "rc('1')" if backend == "auto" else f"rc('1', backend={backend!r})"
        reply, _ = run_code(kc, warm)
        assert reply["status"] == "ok", reply

        def warm_part_ready() -> set[int] | None:
            # The spare is started in the background: wait until its interpreter is up and
            # the tree stops changing, so ``before`` is the warm part's whole size.
            first = {p.pid for p in descendants(kernel_pid)}
            time.sleep(0.3)
            procs = descendants(kernel_pid)
            pids = {p.pid for p in procs}
            ready = any("python" in cmdline(p) for p in procs)
            return pids if ready and pids == first else None

        before = wait_for(warm_part_ready, 30, "the warm sandbox part to be ready")

        cell = f"%%workflow --script answers --sandbox {backend}\n" + SLOW_SPEC
        if backend == "auto":
            cell = cell.replace(" --sandbox auto", "")
        msg_id = kc.execute(cell)
        runs = tmp_path / ".nbworkflow" / "runs"

        def new_processes() -> list[int]:
            return [p.pid for p in descendants(kernel_pid) if p.pid not in before]

        def sandbox_running() -> bool:
            found = list_runs(runs)
            if not found:
                return False
            started = {
                getattr(e, "node_id", None)
                for e in read_events(found[0].path)
                if e.kind == "node_started"
            }
            return "check" in started and bool(new_processes())

        wait_for(sandbox_running, 60, "the sandbox to start")
        during = {p.pid for p in descendants(kernel_pid)}
        t_interrupt = time.monotonic()
        km.interrupt_kernel()

        reply = shell_reply(kc, msg_id, timeout=30)
        took = time.monotonic() - t_interrupt
        assert reply["content"]["status"] == "error"
        assert took < 5, f"the cell took {took:.2f}s to give up after the interrupt"

        (run,) = list_runs(runs)
        assert run.status == "cancelled"
        events = read_events(run.path)
        cancelled = [e for e in events if e.kind == "node_cancelled"]
        assert [getattr(e, "node_id", None) for e in cancelled] == ["check"], [
            (e.kind, getattr(e, "node_id", None), getattr(e, "reason", None)) for e in events
        ]
        finished = events[-1]
        assert finished.kind == "run_finished"
        assert finished.ts - cancelled[0].ts < 1.0

        # Every sandbox process of the run is gone and nothing accumulates: the warm part
        # (zygote launcher, or bwrap's spare) ran the code in a child or was used up, and a
        # fresh spare took its place, so afterwards the tree has its old size again.
        def settled() -> bool:
            return len(alive(sorted(during))) + len(new_after()) <= len(before)

        def new_after() -> list[int]:
            return [p for p in alive([c.pid for c in descendants(kernel_pid)]) if p not in during]

        wait_for(settled, 10, "the sandbox processes to die")
        after = set(alive([p.pid for p in descendants(kernel_pid)]))
        assert len(after) <= len(before)
        assert during - after, "no process of the run was killed"

        # The kernel is still usable and no engine thread is left.
        reply, outputs = run_code(kc, "1 + 1")
        assert reply["status"] == "ok"
        assert any(
            m["msg_type"] == "execute_result" and m["content"]["data"]["text/plain"] == "2"
            for m in outputs
        )
        reply, outputs = run_code(
            kc,
            "print(sorted(t.name for t in __import__('threading')"
            ".enumerate() if t.name.startswith('nbworkflow-')))",
        )
        assert any(
            m["msg_type"] == "stream" and m["content"]["text"].strip() == "[]" for m in outputs
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

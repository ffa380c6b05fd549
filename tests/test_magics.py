"""The %%workflow / %workflow magics in IPython's in-process test shell."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython import get_ipython
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

from nbworkflow.magics import workflow as wf
from nbworkflow.runlog import list_runs, read_events

SPEC = """\
name: quick
nodes:
  - id: plan
    agent: Planner
    action: "Plan a ${topic} service"
  - id: code
    agent: Backend Engineer
    depends_on: [plan]
    action: Write the code
    output: code
"""
ANSWERS = {
    "plan": {"content": "# Plan\n1. do it", "rationale": "simple"},
    "code": {"code": "def handler():\n    return 42\n", "rationale": "minimal"},
}


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    start_ipython()  # once per process: None when another test module started it
    ip = get_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "nbworkflow.magics")
    return ip


@pytest.fixture
def ip(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBWORKFLOW_RUNS_DIR", raising=False)
    shell.user_ns.update(answers=ANSWERS, topic="billing")
    yield shell
    for name in ("answers", "topic", "res", "slow"):
        shell.user_ns.pop(name, None)


def run_cell(ip: InteractiveShell, line: str, cell: str = SPEC) -> Any:
    with capture_output() as cap:
        ip.run_cell_magic("workflow", line, cell)
    return cap


def runs_root() -> Path:
    return Path(".nbworkflow/runs")


# -- argument parsing ------------------------------------------------------------------------
def test_options_parse() -> None:
    magic = wf.WorkflowMagics.workflow
    args = wf.parse_argstring(
        magic,
        "-p replay --cassette c.jsonl -m claude-x -j 3 --out res -q -b --var A=1 --var B=x=y "
        "--fail-fast --token-budget 500 --sandbox process --runs-dir r",
    )
    assert (args.provider, args.cassette, args.model, args.max_concurrency) == (
        "replay",
        "c.jsonl",
        "claude-x",
        3,
    )
    assert args.out == "res" and args.quiet and args.background and args.fail_fast
    assert wf.parse_vars(args.var) == {"A": "1", "B": "x=y"}
    assert (args.token_budget, args.sandbox, args.runs_dir) == (500, "process", "r")
    with pytest.raises(UsageError):
        wf.parse_argstring(magic, "--max-concurrency many")
    with pytest.raises(UsageError, match="unknown provider"):
        wf.resolve_provider_name("gemini", {})
    with pytest.raises(UsageError, match="NAME=VALUE"):
        wf.parse_vars(["novalue"])


def test_help_lists_options_and_line_commands(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("workflow").__doc__ or ""
    for option in (
        "--provider",
        "--model",
        "--script",
        "--cassette",
        "--record",
        "--max-concurrency",
        "--out",
        "--quiet",
        "--background",
    ):
        assert option in doc
    for command in ("runs", "log [RUN] [--node ID]", "show [RUN]", "sandbox"):
        assert command in doc


def test_extension_load_is_light() -> None:
    code = (
        "import sys, time; from IPython.testing.globalipapp import start_ipython; "
        "ip = start_ipython(); t = time.perf_counter(); "
        "ip.run_line_magic('load_ext', 'nbworkflow.magics'); "
        "print(time.perf_counter() - t); "
        "print(sorted(m for m in ('anthropic', 'ipywidgets', 'nbworkflow.widgets.view') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[1] == "[]"  # no SDK and no widgets until a cell runs a workflow


# -- interpolation ---------------------------------------------------------------------------
def test_interpolation_prefers_notebook_variables_then_var_options() -> None:
    cell = "x: ${topic} ${count} ${missing} ${obj} ${HOME}"
    ns = {"topic": "billing", "count": 3, "obj": object(), "HOME": "/nb"}
    assert wf.interpolation_variables(cell, ns) == {"topic": "billing", "count": "3", "HOME": "/nb"}
    assert wf.interpolation_variables(cell, ns, {"topic": "crm"})["topic"] == "crm"


def test_notebook_variable_and_env_fill_the_spec(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBW_WHO", "the-env")
    cell = SPEC.replace("Write the code", "Write the code for ${NBW_WHO}")
    run_cell(ip, "--script answers --out res -q", cell)
    res = ip.user_ns["res"]
    assert res.ok
    assert res.state.nodes["plan"].info.action == "Plan a billing service"
    assert res.state.nodes["code"].info.action == "Write the code for the-env"


def test_undefined_variable_is_a_usage_error(ip: InteractiveShell) -> None:
    ip.user_ns.pop("topic")
    with pytest.raises(UsageError, match=r"undefined variable \$\{topic\}"):
        run_cell(ip, "--script answers")
    assert list_runs(runs_root()) == []


# -- errors ----------------------------------------------------------------------------------
def test_bad_spec_shows_the_line_and_the_fix_and_runs_nothing(ip: InteractiveShell) -> None:
    bad = SPEC.replace("depends_on: [plan]", "depnds_on: [plan]")
    with pytest.raises(UsageError) as info:
        run_cell(ip, "--script answers", bad)
    message = str(info.value)
    # Line 9 of the editor: the %%workflow line counts.
    assert "<cell>:9:5" in message and "did you mean 'depends_on'" in message
    assert "Traceback" not in message
    assert list_runs(runs_root()) == []


def test_empty_cell_and_missing_script(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="empty"):
        run_cell(ip, "", "\n  \n")
    with pytest.raises(UsageError, match="no such file, and no dict variable named 'nope'"):
        run_cell(ip, "--script nope")


def test_failed_run_names_the_node_and_why(ip: InteractiveShell) -> None:
    ip.user_ns["answers"] = {"plan": ANSWERS["plan"]}  # nothing scripted for 'code'
    with pytest.raises(UsageError) as info:
        run_cell(ip, "--script answers --out res")
    message = str(info.value)
    assert "failed: node 'code' failed" in message and "no answer for node 'code'" in message
    assert "%workflow log" in message
    assert ip.user_ns["res"].status.value == "failed"


def test_secrets_are_redacted_from_the_failure(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "sk-ant-" + "x" * 40
    ip.user_ns["answers"] = {"plan": ANSWERS["plan"]}
    cell = SPEC.replace("name: quick", "name: quick\nsecrets: [NBW_SECRET_TOKEN]").replace(
        "id: code", "id: code_sk_ant"
    )
    monkeypatch.setenv("NBW_SECRET_TOKEN", token)
    cell = cell.replace("Write the code", "use ${NBW_SECRET_TOKEN}")
    with pytest.raises(UsageError) as info:
        run_cell(ip, "--script answers")
    assert token not in str(info.value)


# -- success, display, static fallback -------------------------------------------------------
def test_run_shows_live_view_then_static_rendering(ip: InteractiveShell) -> None:
    cap = run_cell(ip, "--script answers --out res")
    res = ip.user_ns["res"]
    assert res.ok and res.run_dir.is_dir()
    first, last = cap.outputs[0].data, cap.outputs[-1].data
    assert "application/vnd.jupyter.widget-view+json" in first
    html = last["text/html"]
    assert 'class="nbw-static nbw-run-succeeded"' in html and 'data-run-status="succeeded"' in html
    assert res.run_id in html and str(res.run_dir) in html
    assert "data:image/svg+xml;base64," in html
    assert last["text/plain"].startswith(f"run {res.run_id}: quick · succeeded")


def test_quiet_prints_one_summary_line(ip: InteractiveShell) -> None:
    cap = run_cell(ip, "--script answers -q")
    assert cap.outputs == []
    assert "quick · succeeded · 2 succeeded" in cap.stdout


def test_model_option_overrides_the_spec(ip: InteractiveShell) -> None:
    run_cell(ip, "--script answers -q --model claude-test-model --out res")
    started = read_events(ip.user_ns["res"].run_dir)[0]
    assert getattr(started, "model", None) == "claude-test-model"


def test_background_returns_at_once_and_binds_the_result(ip: InteractiveShell) -> None:
    t0 = time.perf_counter()
    run_cell(ip, "--script answers --latency 0.3 --background --out res -q")
    assert time.perf_counter() - t0 < 0.3
    assert "res" not in ip.user_ns
    deadline = time.monotonic() + 20
    while "res" not in ip.user_ns and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ip.user_ns["res"].ok and not wf.ACTIVE


def test_cancel_a_background_run(ip: InteractiveShell) -> None:
    run_cell(ip, "--script answers --latency 30 --background --out res -q")
    assert len(wf.ACTIVE) == 1
    (run,) = wf.ACTIVE.values()
    with capture_output():
        ip.run_line_magic("workflow", "cancel")
    run.thread.join(5)
    assert not run.thread.is_alive() and not wf.ACTIVE
    (info,) = list_runs(runs_root())
    assert info.status == "cancelled"


def test_kernel_interrupt_cancels_the_run_within_a_second(ip: InteractiveShell) -> None:
    """A SIGINT while the cell blocks (what a kernel interrupt is) cancels and records it."""
    fired: list[float] = []

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            runs = list_runs(runs_root())
            if runs and any(e.kind == "node_started" for e in read_events(runs[0].path)):
                fired.append(time.monotonic())
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
                return
            time.sleep(0.02)

    helper = threading.Thread(target=interrupt_when_running, daemon=True)
    helper.start()
    with pytest.raises(UsageError, match="cancelled by a kernel interrupt"):
        run_cell(ip, "--script answers --latency 30")
    took = time.monotonic() - fired[0]
    assert took < 1.0
    (info,) = list_runs(runs_root())
    assert info.status == "cancelled"
    kinds = [e.kind for e in read_events(info.path)]
    assert kinds[-1] == "run_finished" and "node_cancelled" in kinds
    assert not [t for t in threading.enumerate() if t.name.startswith("nbworkflow-")]
    # The shell is still usable.
    run_cell(ip, "--script answers -q --out res")
    assert ip.user_ns["res"].ok


def test_interrupt_while_the_run_starts_cancels_it_too(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel interrupt that lands after the run's thread started but before the cell waits
    on it (inside ``start()``) must not leave the run going on unseen in the background."""
    from nbworkflow.magics.runner import LoopThreadRun

    real_start = LoopThreadRun.start

    def start_then_interrupted(self: LoopThreadRun[Any]) -> LoopThreadRun[Any]:
        real_start(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(LoopThreadRun, "start", start_then_interrupted)
    with pytest.raises(UsageError, match="cancelled by a kernel interrupt"):
        run_cell(ip, "--script answers --latency 30")
    assert not [t for t in threading.enumerate() if t.name.startswith("nbworkflow-")]
    (info,) = list_runs(runs_root())
    assert info.status == "cancelled"


# -- line magics -----------------------------------------------------------------------------
def test_runs_log_and_show(ip: InteractiveShell) -> None:
    run_cell(ip, "--script answers -q --out res")
    res = ip.user_ns["res"]
    with capture_output() as cap:
        ip.run_line_magic("workflow", "runs")
    assert res.run_id in cap.stdout and "succeeded" in cap.stdout
    with capture_output() as cap:
        ip.run_line_magic("workflow", "log --node code")
    assert "code: attempt 1 [success]" in cap.stdout
    assert "plan:" not in cap.stdout
    with pytest.raises(UsageError, match="did you mean 'code'"):
        ip.run_line_magic("workflow", "log last --node cod")
    with capture_output() as cap:
        ip.run_line_magic("workflow", f"show {res.run_id[-4:]}")
    html = cap.outputs[-1].data["text/html"]
    assert 'data-run-status="succeeded"' in html and "handler" in html
    with pytest.raises(UsageError, match="no run 'nope'"):
        ip.run_line_magic("workflow", "show nope")
    with pytest.raises(UsageError, match="invalid choice"):
        ip.run_line_magic("workflow", "frobnicate")


def test_sandbox_lists_backends(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbworkflow.sandbox as sandbox

    reports = [
        {"name": "bwrap", "available": True, "active": True, "guarantees": ["no network"]},
        {"name": "docker", "available": False, "active": False, "missing": "install docker"},
    ]
    monkeypatch.setattr(sandbox, "describe_backends", lambda: reports)
    with capture_output() as cap:
        ip.run_line_magic("workflow", "sandbox")
    lines = cap.stdout.splitlines()
    assert lines[0].startswith("* bwrap") and lines[2] == "      - no network"
    assert lines[3].startswith("  docker") and "unavailable" in lines[3]
    assert lines[5] == "      - install docker"


def test_runs_dir_option_and_env(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    run_cell(ip, "--script answers -q --runs-dir elsewhere")
    assert len(list_runs("elsewhere")) == 1
    monkeypatch.setenv("NBWORKFLOW_RUNS_DIR", "fromenv")
    run_cell(ip, "--script answers -q")
    assert len(list_runs("fromenv")) == 1
    summary = json.loads((list_runs("fromenv")[0].path / "run.json").read_text())
    assert summary["status"] == "succeeded"
    assert os.path.isdir("fromenv")


# -- the live view (ipywidgets, no kernel needed) -------------------------------------------
def chain_events(n: int) -> list[Any]:
    from nbworkflow import events as ev

    run = "r-view"
    nodes = tuple(
        ev.NodeInfo(id=f"n{i}", type="routine", depends_on=(f"n{i - 1}",) if i else ())
        for i in range(n)
    )
    out: list[Any] = [ev.RunStarted(run_id=run, workflow="big", provider="scripted", nodes=nodes)]
    for i in range(n):
        out.append(ev.NodeStarted(run_id=run, node_id=f"n{i}"))
        out.append(ev.NodeFinished(run_id=run, node_id=f"n{i}", duration_s=0.01))
    out.append(
        ev.RunFinished(
            run_id=run, status=ev.RunStatus.SUCCEEDED, duration_s=1, counts={"succeeded": n}
        )
    )
    return out


class ManualView:
    """A RunView whose clock and timers the test drives."""

    def __new__(cls) -> Any:
        from nbworkflow.widgets.view import RunView

        class _View(RunView):
            def __init__(self) -> None:
                self.now = 0.0
                self.timers: list[tuple[float, Any]] = []
                super().__init__(clock=lambda: self.now)

            def _later(self, delay: float, callback: Any) -> None:
                self.timers.append((self.now + delay, callback))

        return _View()


def test_view_throttles_a_500_node_run_and_always_draws_the_final_state() -> None:
    view = ManualView()
    events = chain_events(500)
    # 1001 events spread over 2 simulated seconds.
    for i, event in enumerate(events):
        view.now = 2.0 * i / len(events)
        for due, callback in [t for t in view.timers if t[0] <= view.now]:
            view.timers.remove((due, callback))
            callback()
        view(event)
    assert view.redraws <= 2.0 / 0.1 + 3
    assert len(re.findall(r'data-node-id="n\d+" data-status="succeeded"', view.graph.value)) == 500
    assert 'data-run-status="succeeded"' in view.summary.value


def test_view_redraws_on_the_loop_thread_at_most_ten_times_a_second() -> None:
    import asyncio

    from nbworkflow.widgets.view import RunView

    view = RunView()
    events = chain_events(500)

    async def feed() -> float:
        t0 = time.monotonic()
        for event in events:
            view(event)
            await asyncio.sleep(0.0005)
        return time.monotonic() - t0

    elapsed = asyncio.run(feed())
    assert view.redraws <= elapsed / 0.1 + 3
    assert len(re.findall(r'data-node-id="n\d+" data-status="succeeded"', view.graph.value)) == 500


def test_view_selector_and_details() -> None:
    from nbworkflow import events as ev
    from nbworkflow.widgets.view import RunView

    view = RunView()
    run = "r"
    view(
        ev.RunStarted(
            run_id=run,
            workflow="w",
            provider="scripted",
            nodes=(
                ev.NodeInfo(id="a", type="routine", agent="Analyst", action="Read it"),
                ev.NodeInfo(id="b", type="routine", agent="Coder", depends_on=("a",)),
            ),
        )
    )
    assert list(view.selector.options) == ["a", "b"]
    view(ev.NodeStarted(run_id=run, node_id="a"))
    view(
        ev.NodeFinished(run_id=run, node_id="a", preview="def f(): pass", artifact="artifacts/a.py")
    )
    view(ev.NodeStarted(run_id=run, node_id="b"))
    view(ev.NodeFailed(run_id=run, node_id="b", error_type="X", message="boom, fix it"))
    view(ev.RunFinished(run_id=run, status=ev.RunStatus.FAILED, duration_s=1, counts={}))
    assert view.selector.value == "b"  # the failed node is shown first
    assert "boom, fix it" in view.details.value
    view.selector.value = "a"
    assert "Analyst" in view.details.value and "def" in view.details.value


def test_record_then_replay_a_cassette(ip: InteractiveShell) -> None:
    run_cell(ip, "--script answers --record rec.jsonl -q --out res")
    assert ip.user_ns["res"].ok and Path("rec.jsonl").stat().st_size > 0
    ip.user_ns.pop("answers")  # nothing scripted any more: answers must come from the cassette
    run_cell(ip, "--provider replay --cassette rec.jsonl --no-cache -q --out res")
    res = ip.user_ns["res"]
    assert res.ok and res.state.provider == "replay"
    assert "return 42" in res.output("code").content


def test_provider_object_from_the_notebook(ip: InteractiveShell) -> None:
    from nbworkflow.agents import ScriptedProvider

    ip.user_ns["my_model"] = ScriptedProvider(ANSWERS)
    run_cell(ip, "--provider my_model -q --out res")
    assert ip.user_ns["res"].ok
    assert ip.user_ns["my_model"].calls == {"plan": 1, "code": 1}
    with pytest.raises(UsageError, match="did you mean 'scripted'"):
        run_cell(ip, "--provider scriptd")
    ip.user_ns.pop("my_model")


def test_artifacts_shown_in_the_notebook_are_redacted(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Artifact files keep what the model wrote; the notebook output never shows a secret."""
    secret = "tok-" + "q7" * 12
    monkeypatch.setenv("NBW_DEMO_API_KEY", secret)
    ip.user_ns["answers"] = {
        "plan": ANSWERS["plan"],
        "code": {"code": f"KEY = {secret!r}\n", "rationale": "leaky model"},
    }
    cell = SPEC.replace("name: quick", "name: quick\nsecrets: [NBW_DEMO_API_KEY]")
    cap = run_cell(ip, "--script answers --out res", cell)
    html = cap.outputs[-1].data["text/html"]
    assert "KEY" in html and secret not in html
    with capture_output() as cap:
        ip.run_line_magic("workflow", "show last")
    assert secret not in cap.outputs[-1].data["text/html"]


def test_a_cell_error_goes_through_the_sanitizer(ip: InteractiveShell) -> None:
    cell = "name: x\nnodes:\n  - id: a\n    action: b\n    timeout: https://ada:plumharbor7@crm.internal/api\n"
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("workflow", "--script answers", cell)
    message = str(info.value)
    assert "timeout" in message and "crm.internal" in message
    assert "plumharbor7" not in message


APPROVAL_SPEC = """\
name: approve_me
nodes:
  - id: plan
    agent: Planner
    action: "Plan a ${topic} service"
  - id: review
    type: approval
    depends_on: [plan]
"""


def test_log_shows_a_waiting_node_as_the_cli_does(ip: InteractiveShell) -> None:
    """``%workflow log`` and ``nbworkflow log`` print the same lines (``report.log_lines``):
    a waiting node says why it waits and what a person may answer, in both."""
    from nbworkflow.cli import main as cli_main

    run_cell(ip, "--script answers -q", APPROVAL_SPEC)
    with capture_output() as cap:
        ip.run_line_magic("workflow", "log --node review")
    magic_lines = cap.stdout.splitlines()[1:]  # the first line names the run folder
    waiting = [line for line in magic_lines if "WAITING" in line]
    assert waiting and "choices: approve, reject, edit" in waiting[0], cap.stdout
    with capture_output() as cli_cap:
        assert cli_main(["log", "last", "--node", "review", "--runs-dir", str(runs_root())]) == 0
    assert cli_cap.stdout.splitlines() == magic_lines


# -- the article's YAML in a cell ------------------------------------------------------------


def test_article_cell_warns_once_and_heals_with_staging_option(ip: InteractiveShell) -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    cell = (root / "examples" / "seed" / "seed.yaml").read_text()
    ip.user_ns["answers"] = yaml.safe_load((root / "examples" / "seed" / "script.yaml").read_text())
    line = f"--script answers --out res -q --staging openapi:{root}/examples/crm/crm_openapi.yaml"
    first = run_cell(ip, line, cell)
    assert ip.user_ns["res"].ok
    assert ip.user_ns["res"].output("adaptive_test_loop").meta["attempts"] == 2
    warned = [w for w in first.stderr.splitlines() if w.startswith("warning: ")]
    assert len(warned) == 2 and all("<cell>:18:5" in w for w in warned)
    again = run_cell(ip, line, cell)  # the same cell again says nothing new
    assert "warning: " not in again.stderr and ip.user_ns["res"].ok

"""The command line: exit codes, validate, schema, run, runs, log, sanitize, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbworkflow.cli import main

SPEC = """\
name: cli test
nodes:
  - id: a
    action: write
  - id: b
    action: more
    depends_on: [a]
"""
SCRIPT = "a: {content: hello}\nb: {content: world}\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "wf.yaml").write_text(SPEC)
    (tmp_path / "script.yaml").write_text(SCRIPT)
    return tmp_path


def run_cli(*args: str) -> int:
    return main(list(args))


def run_scripted(files: Path, runs: Path) -> int:
    """``nbworkflow run wf.yaml`` with the scripted provider answering from script.yaml."""
    return run_cli(
        "run",
        str(files / "wf.yaml"),
        "--provider",
        "scripted",
        "--script",
        str(files / "script.yaml"),
        "--runs-dir",
        str(runs),
    )


def test_validate_ok_and_errors(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("validate", str(files / "wf.yaml")) == 0
    assert "ok, workflow 'cli test' with 2 nodes (a -> b)" in capsys.readouterr().out
    bad = files / "bad.yaml"
    bad.write_text(
        "name: x\nnodes:\n  - id: a\n    action: b\n    depend_on: [c]\n  - id: a\n    action: c\n"
    )
    assert run_cli("validate", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5:5: node 'a': unknown key 'depend_on' (did you mean 'depends_on'?)" in err
    assert f"{bad}:6:" in err and "duplicate node id 'a'" in err
    assert "Traceback" not in err


def test_errors_go_through_the_sanitizer(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = files / "bad.yaml"
    bad.write_text(
        "name: x\nnodes:\n  - id: a\n    action: b\n"
        "    timeout: postgres://app:plumharbor7@db.internal/crm\n"
    )
    assert run_cli("validate", str(bad)) == 2
    err = capsys.readouterr().err
    assert "timeout" in err and "db.internal" in err  # still says what is wrong, and where
    assert "plumharbor7" not in err


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("schema") == 0
    assert "nodes" in json.loads(capsys.readouterr().out)["properties"]


def test_run_then_runs_and_log(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = files / "runs"
    code = run_scripted(files, runs)
    assert code == 0
    err = capsys.readouterr().err
    assert "✔ a succeeded" in err and "run succeeded" in err and "run folder:" in err
    assert run_cli("runs", "--runs-dir", str(runs)) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "cli test" in out
    assert run_cli("log", "last", "--runs-dir", str(runs), "--node", "b") == 0
    out = capsys.readouterr().out
    assert "b: started" in out and "b: succeeded" in out and "a: started" not in out
    assert run_cli("log", "nope", "--runs-dir", str(runs)) == 2


def test_failed_run_exits_1(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "script.yaml").write_text("a: {content: hello}\n")  # nothing for b
    code = run_scripted(files, files / "runs")
    assert code == 1
    err = capsys.readouterr().err
    assert "the script has no answer for node 'b'" in err


def test_missing_provider_is_a_configuration_error(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (files / "script.yaml").unlink()
    code = run_cli("run", str(files / "wf.yaml"), "--runs-dir", str(files / "runs"))
    assert code == 3
    assert "set ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_auto_provider_finds_the_script_next_to_the_spec(files: Path) -> None:
    assert run_cli("run", str(files / "wf.yaml"), "-q", "--runs-dir", str(files / "runs")) == 0


def test_bad_var_is_a_usage_error(files: Path) -> None:
    assert run_cli("run", str(files / "wf.yaml"), "--var", "novalue") == 2


def test_sanitize_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_OPAQUE", "opaque-value-xyz-123")
    f = tmp_path / "err.txt"
    f.write_text("connect failed: opaque-value-xyz-123\n")
    assert run_cli("sanitize", str(f), "--secret-env", "CRM_OPAQUE") == 0
    out = capsys.readouterr().out
    assert "opaque-value-xyz-123" not in out and "connect failed" in out


def test_ctrl_c_cancels_and_records(files: Path) -> None:
    (files / "script.yaml").write_text("_options: {latency: 30}\n" + SCRIPT)
    runs = files / "runs"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nbworkflow.cli",
            "run",
            str(files / "wf.yaml"),
            "--provider",
            "scripted",
            "--script",
            str(files / "script.yaml"),
            "--runs-dir",
            str(runs),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until node a is running
        if "▶ a started" in line:
            break
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    _out, err = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 130
    assert "run was cancelled and recorded" in err
    (run_dir,) = list(runs.iterdir())
    lines = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [(x["kind"], x.get("node_id")) for x in lines]
    assert ("node_cancelled", "a") in kinds and ("node_cancelled", "b") in kinds
    assert lines[-1]["kind"] == "run_finished" and lines[-1]["status"] == "cancelled"


def test_live_board_redraws_in_place(files: Path) -> None:
    import io

    from nbworkflow.cli import execute

    stream = io.StringIO()
    code = execute(
        str(files / "wf.yaml"),
        provider="scripted",
        provider_options={"script": str(files / "script.yaml")},
        variables={},
        runs_dir=str(files / "runs"),
        live=True,
        stream=stream,
    )
    assert code == 0
    text = stream.getvalue()
    assert "\x1b[2F" in text  # moved up over the 2-line board to redraw it
    assert "✔ a" in text and "succeeded" in text
    assert "tokens" in text.splitlines()[-2]


def test_model_option_is_the_runs_model(files: Path, tmp_path: Path) -> None:
    """``--model`` is a run option (the model of every request; see test_config.py for the
    request itself), recorded as the run's model, not a provider option that requests ignore."""
    from nbworkflow.events import RunStarted
    from nbworkflow.runlog import list_runs, read_events

    runs = tmp_path / "runs"
    args = ["run", str(files / "wf.yaml"), "--provider", "scripted", "--script"]
    args += [str(files / "script.yaml"), "--runs-dir", str(runs), "--model", "claude-x", "-q"]
    assert run_cli(*args) == 0
    [started] = [e for e in read_events(list_runs(runs)[-1].path) if isinstance(e, RunStarted)]
    assert started.model == "claude-x"


def test_a_finished_run_is_not_said_twice() -> None:
    """The run's end reads "run cancelled (0/0 tokens)", not "... run cancelled" again (issue 18)."""
    from nbworkflow import events as ev
    from nbworkflow.report import log_lines

    kw = {"run_id": "r", "duration_s": 3.7, "counts": {}}
    end = ev.RunFinished(status=ev.RunStatus.CANCELLED, message="run cancelled", **kw)
    [line] = log_lines([end])
    assert line.count("cancelled") == 1, line
    other = ev.RunFinished(status=ev.RunStatus.FAILED, message="node 'a' failed", **kw)
    assert "node 'a' failed" in log_lines([other])[0]

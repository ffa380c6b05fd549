"""What a notebook user reads: editor line numbers, did-you-mean, advice that works in a cell,
a headed runs list, a help page without reST markers, and ``auto`` finding files next to the
notebook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nbworkflow.magics.advice import did_you_mean, for_notebook
from nbworkflow.magics.workflow import WorkflowMagics, format_backend
from tests.test_magics import shell  # noqa: F401  (the module-wide IPython fixture)

SPEC = """\
name: advice
nodes:
  - id: plan
    action: "Plan ${topic}"
  - id: code
    depends_on: [plan]
    action: Write it
"""


@pytest.fixture
def ip(
    shell: InteractiveShell,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBWORKFLOW_RUNS_DIR", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("topic", raising=False)
    yield shell
    for name in ("answers", "topic"):
        shell.user_ns.pop(name, None)


def error(ip: InteractiveShell, line: str, cell: str = SPEC) -> str:
    with pytest.raises(UsageError) as info, capture_output():
        ip.run_cell_magic("workflow", line, cell)
    return str(info.value)


def test_line_numbers_count_the_magic_line(ip: InteractiveShell) -> None:
    ip.user_ns["topic"] = "x"
    bad = SPEC.replace("depends_on: [plan]", "depends_on: [plam]")
    # "plam" is on line 6 of the cell body, line 7 of the editor.
    assert "<cell>:7:" in error(ip, "--script answers", bad)


def test_a_mistyped_option_gets_did_you_mean(ip: InteractiveShell) -> None:
    message = error(ip, "--provdier scripted")
    assert "--provdier: did you mean --provider?" in message
    assert did_you_mean("unrecognized arguments: --zzz", ["--provider"]).endswith("--zzz")


def test_a_missing_variable_says_define_it_in_a_cell_above(ip: InteractiveShell) -> None:
    message = error(ip, "--script answers")
    assert "define topic in a cell above" in message and "--var topic=" in message
    assert "%env topic=" in message


def test_no_provider_names_env_and_the_dict_variable_option(ip: InteractiveShell) -> None:
    ip.user_ns["topic"] = "x"
    message = error(ip, "")
    assert "%env ANTHROPIC_API_KEY=" in message
    assert "--script FILE_OR_DICT_VAR" in message
    assert "export " not in for_notebook("set it: export ANTHROPIC_API_KEY=... first")


def test_auto_finds_a_script_next_to_the_notebook(ip: InteractiveShell, tmp_path: Path) -> None:
    ip.user_ns["topic"] = "x"
    (tmp_path / "script.yaml").write_text("plan: the plan\ncode: the code\n", encoding="utf-8")
    with capture_output() as cap:
        ip.run_cell_magic("workflow", "-q", SPEC)
    assert "succeeded" in cap.stdout, cap.stdout + cap.stderr


def test_runs_list_has_a_header(ip: InteractiveShell, tmp_path: Path) -> None:
    ip.user_ns["topic"] = "x"
    ip.user_ns["answers"] = {"plan": "p", "code": "c"}
    with capture_output():
        ip.run_cell_magic("workflow", "--script answers -q", SPEC)
    with capture_output() as cap:
        ip.run_line_magic("workflow", "runs")
    head, row = cap.stdout.splitlines()[:2]
    assert head.split() == ["run", "status", "nodes", "duration", "segments", "workflow"]
    assert "advice" in row


def test_help_starts_with_the_usage_not_a_rest_marker() -> None:
    doc = WorkflowMagics.workflow.__doc__ or ""
    assert not doc.startswith("::") and doc.startswith("Usage: %%workflow")


def test_sandbox_report_wraps_between_words() -> None:
    long = "fresh mount/pid/net/ipc/uts namespaces per execution; " * 4
    text = format_backend({"name": "zygote", "available": True, "guarantees": [long.strip()]})
    lines = text.splitlines()
    assert all(len(line) <= 88 for line in lines)
    words = set(long.split())
    for line in lines[2:]:
        assert set(line.replace("-", " ", 1).split()) <= words  # no word cut in two

"""The README's notebook example runs as pasted: its cells are read from README.md (so this
fails when the README drifts) and executed in a fresh kernel with nbclient."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def readme_cells() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## In a notebook\n", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", section, re.S)]


def test_the_readme_notebook_example_runs_as_pasted(tmp_path: Path) -> None:
    cells = readme_cells()
    assert len(cells) == 2 and cells[1].startswith("%%workflow")
    # One more cell of ours: what the example bound with --out.
    cells.append("print(run.status.value, sorted(run.outputs))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    (shown,) = [o for o in nb.cells[1].outputs if o.output_type == "display_data"]
    assert 'data-run-status="succeeded"' in shown["data"]["text/html"]
    # ${topic} came from the notebook variable the first cell defines.
    (events,) = (tmp_path / ".nbworkflow" / "runs").glob("*/events.jsonl")
    assert "List the requirements for invoice reminders." in events.read_text().splitlines()[0]
    out = nb.cells[2].outputs[0]["text"]
    assert out.strip() == "succeeded ['implement', 'requirements']"


def test_lab_script_uses_the_project_kernel() -> None:
    """scripts/lab.sh with everything installed: no install step, JupyterLab from .venv."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "lab.sh"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert re.fullmatch(r"4\.\d+\.\d+\s*", done.stdout), done.stdout + done.stderr
    spec = REPO / ".venv" / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    assert str(REPO / ".venv" / "bin" / "python") in spec.read_text()

"""The shipped notebooks under papermill, a second real client: each has a ``parameters`` cell,
papermill injects new values after it, and the run follows them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.integration

papermill = pytest.importorskip("papermill")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run(name: str, tmp_path: Path, **parameters: object) -> nbformat.NotebookNode:
    out = tmp_path / f"{name}-out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters=parameters,
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def workflow_html(nb: nbformat.NotebookNode, index: int = 0) -> str:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%workflow")]
    outputs = [o for o in cells[index].outputs if o.output_type == "display_data"]
    return str(outputs[0]["data"]["text/html"])


@pytest.mark.parametrize("name", ["quickstart", "crm_integration", "chaos", "batch"])
def test_every_shipped_notebook_has_a_parameters_cell(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


def test_quickstart_takes_a_topic_from_papermill(tmp_path: Path) -> None:
    nb = run("quickstart", tmp_path, topic="late fees")
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "late fees" in injected[0].source
    html = workflow_html(nb)
    assert 'data-run-status="succeeded"' in html
    assert "List the requirements for late fees." in html
    assert "invoice reminders." not in html


@pytest.mark.parametrize("name", ["crm_integration", "chaos"])
def test_the_crm_notebooks_run_under_papermill(name: str, tmp_path: Path) -> None:
    nb = run(name, tmp_path)
    assert 'class="nbw-static nbw-run-succeeded"' in workflow_html(nb)


def test_the_batch_notebook_maps_the_items_papermill_gives(tmp_path: Path) -> None:
    customers = [{"name": "Edsger Dijkstra", "email": "ed@example.com", "plan": "free"}]
    nb = run("batch", tmp_path, tone="formal", customers=customers)
    assert "finished: 1/1 items (1 succeeded)" in workflow_html(nb)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "Hi Edsger Dijkstra, welcome to the free plan! (formal)" in printed

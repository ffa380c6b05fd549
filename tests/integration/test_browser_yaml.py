"""YAML highlighting of %%workflow cells: the prebuilt extension shipped in the wheel
(share/jupyter/labextensions/nbworkflow-yaml), in JupyterLab and Notebook 7, no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.jupyterlab import JupyterLab, open_page, require_chromium, write_notebook

pytestmark = [pytest.mark.integration, pytest.mark.browser]

require_chromium()

ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "browser"
CELLS = [
    "for item in range(3):\n    print(item)",
    """%%workflow --script answers
name: yaml_colours
nodes:
  - id: plan
    action: Say what class of problem this is, and for whom it's done.""",
]
MIMES = """() => window.jupyterapp.shell.currentWidget.content.widgets
    .map(c => c.model.mimeType)"""


@pytest.mark.parametrize("app", ["lab", "notebook7"])
def test_workflow_cells_are_yaml_and_python_cells_stay_python(
    app: str, lab: JupyterLab, notebook7: JupyterLab, browser: Any
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = lab if app == "lab" else notebook7
    page = open_page(browser, server, write_notebook(server.root_dir, CELLS, "yaml"))
    try:
        page.wait_for_function(f"() => ({MIMES})()[1] === 'text/x-nbworkflow-yaml'", timeout=30_000)
        assert page.evaluate(MIMES) == ["text/x-ipython", "text/x-nbworkflow-yaml"]
        # 'for' in the YAML is not coloured as a Python keyword: same colour as 'whom'.
        colours = page.evaluate(
            """() => {
                const lines = document.querySelectorAll('.jp-CodeCell')[1]
                    .querySelectorAll('.cm-line');
                const last = lines[lines.length - 1];
                const colour = (word) => {
                    const walker = document.createTreeWalker(last, NodeFilter.SHOW_TEXT);
                    while (walker.nextNode()) {
                        const t = walker.currentNode;
                        if (t.textContent.includes(word))
                            return getComputedStyle(t.parentElement).color;
                    }
                    return null;
                };
                return [colour(' for '), colour('whom'), colour('class'), colour('done'),
                        colour('action')];
            }"""
        )
        # 'for' and 'class' are not Python keywords here, and the apostrophe in "it's" opens
        # no string: the whole value has one colour, the key another.
        assert colours[0] == colours[1] == colours[2] == colours[3], colours
        assert colours[4] != colours[1], colours
        # Removing the magic line gives the cell back to Python.
        page.evaluate(
            """() => { const m = window.jupyterapp.shell.currentWidget.content.widgets[1].model;
                m.sharedModel.setSource('x = 1'); }"""
        )
        page.wait_for_function(f"() => ({MIMES})()[1] === 'text/x-ipython'", timeout=10_000)
        page.evaluate(
            """(source) => { const m = window.jupyterapp.shell.currentWidget.content.widgets[1]
                .model; m.sharedModel.setSource(source); }""",
            CELLS[1],
        )
        page.wait_for_function(f"() => ({MIMES})()[1] === 'text/x-nbworkflow-yaml'", timeout=10_000)
        page.locator(".jp-CodeCell").nth(1).screenshot(path=str(ARTIFACTS / f"yaml-{app}.png"))
    finally:
        page.close()

"""An executed notebook whose run waits for a person reads the same without a kernel.

nbconvert picks a widget view over every other type of the same output and draws nothing
without the widget manager (a CDN script): the static rendering must sit in an output of its
own, before the buttons.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

pytestmark = pytest.mark.integration

WIDGET = "application/vnd.jupyter.widget-view+json"
CELLS = [
    "%load_ext nbworkflow\nanswers = {'draft': 'notes v1'}",
    """%%workflow --script answers
name: wait_here
nodes:
  - {id: draft, agent: Writer, action: Write the notes}
  - {id: sign_off, type: approval, depends_on: [draft], action: Approve the notes}""",
]


def test_a_waiting_run_shows_its_static_rendering_in_nbconvert_html(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    static, buttons = [o for o in nb.cells[1].outputs if o.output_type == "display_data"]
    assert WIDGET not in static["data"], "the static rendering shares an output with a widget"
    assert 'data-run-status="waiting"' in static["data"]["text/html"]
    assert "waiting for a decision on: sign_off" in static["data"]["text/plain"]
    assert WIDGET in buttons["data"] and "need a running kernel" in buttons["data"]["text/plain"]

    body, _ = HTMLExporter().from_notebook_node(nb)
    shown = re.search(r'<div class="nbw-static nbw-run-waiting".*?</table>', body, re.S)
    assert shown, "nbconvert HTML does not show the waiting run"
    part = shown.group(0)
    assert 'class="nbw-graph-img"' in part and "data:image/svg+xml;base64," in part
    assert "sign_off" in part and "waiting" in part
    assert not re.search(r'src="https?://', part)  # nothing to fetch: reads offline
    view = body.index(f'<script type="{WIDGET}">')
    assert body.index("nbw-run-waiting") < view  # the buttons come after, in an output of their own

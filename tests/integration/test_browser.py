"""JupyterLab and Notebook 7 in Debian's chromium: a %%workflow cell updates live and ends
succeeded.

Screenshots go to ``.test-artifacts/browser/`` (gitignored).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.jupyterlab import CHROMIUM, JupyterLab, open_page, run_all_cells, write_notebook

pytestmark = [pytest.mark.integration, pytest.mark.browser]

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".test-artifacts" / "browser"

LIVE_CELLS = [
    "%load_ext nbworkflow",
    """answers = {n: {"content": f"# {n}", "rationale": "ok"} for n in
           ["plan", "api", "ui", "build", "ship"]}""",
    """%%workflow --script answers --latency 0.7 --max-concurrency 2 --no-cache
name: live_demo
nodes:
  - {id: plan, agent: Planner, action: Plan the feature}
  - {id: api, agent: Backend Engineer, action: Design the API, depends_on: [plan]}
  - {id: ui, agent: Frontend Engineer, action: Design the UI, depends_on: [plan]}
  - {id: build, agent: Engineer, action: Build it, depends_on: [api, ui]}
  - {id: ship, agent: Release Manager, action: Ship it, depends_on: [build]}""",
]

LIVE_STATUSES = """() => Array.from(document.querySelectorAll('.nbw-view g.nbw-node'))
    .map(g => [g.dataset.nodeId, g.dataset.status])"""


def test_workflow_cell_updates_live_and_ends_succeeded(lab: JupyterLab, browser: Any) -> None:
    watch_live_run(lab, browser, "")


def test_the_same_cell_in_notebook_7(notebook7: JupyterLab, browser: Any) -> None:
    watch_live_run(notebook7, browser, "nb7-")


def watch_live_run(server: JupyterLab, browser: Any, shot_prefix: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = write_notebook(server.root_dir, LIVE_CELLS, "live")
    page = open_page(browser, server, name)
    try:
        run_all_cells(page)

        # Live: the widget shows some nodes done while others still wait or run.
        page.wait_for_function(
            """() => {
                const s = Array.from(document.querySelectorAll('.nbw-view g.nbw-node'))
                    .map(g => g.dataset.status);
                return s.includes('succeeded') && s.some(x => x === 'pending' || x === 'running');
            }""",
            timeout=60_000,
        )
        mid = dict(page.evaluate(LIVE_STATUSES))
        assert set(mid) == {"plan", "api", "ui", "build", "ship"}
        assert mid["plan"] == "succeeded" and mid["ship"] in ("pending", "running")
        view = page.locator(".nbw-view").first
        view.screenshot(path=str(ARTIFACTS / f"{shot_prefix}live.png"))
        # The summary line and the selector are live too.
        assert "live_demo" in view.locator(".nbw-live-summary").inner_text()

        # The end: the live view is replaced by the static rendering, all green.
        final = page.locator('.nbw-static[data-run-status="succeeded"]')
        final.wait_for(timeout=60_000)
        rows = final.locator("tr[data-node-id] .nbw-status")
        assert rows.count() == 5
        assert {rows.nth(i).get_attribute("data-status") for i in range(5)} == {"succeeded"}
        img = final.locator("img.nbw-graph-img")
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=10_000
        )
        final.screenshot(path=str(ARTIFACTS / f"{shot_prefix}final.png"))
        page.screenshot(path=str(ARTIFACTS / f"{shot_prefix}notebook.png"), full_page=True)
    finally:
        page.close()


def test_picking_a_node_mid_run_shows_its_panel(lab: JupyterLab, browser: Any) -> None:
    """The drop-down answers while the cell still runs (the kernel awaits the cell)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cells = [*LIVE_CELLS[:2], LIVE_CELLS[2].replace("--max-concurrency 2", "--max-concurrency 1")]
    name = write_notebook(lab.root_dir, cells, "pick")
    page = open_page(browser, lab, name)
    try:
        run_all_cells(page)
        page.wait_for_function(
            """() => {
                const s = Object.fromEntries(Array.from(
                    document.querySelectorAll('.nbw-view g.nbw-node'))
                    .map(g => [g.dataset.nodeId, g.dataset.status]));
                return s.plan === 'succeeded' && s.api === 'running';
            }""",
            timeout=60_000,
        )
        view = page.locator(".nbw-view").first
        view.locator("select").select_option("plan")
        panel = view.locator('.nbw-node-details[data-node-id="plan"]')
        panel.wait_for(timeout=10_000)
        assert "Plan the feature" in panel.inner_text()
        # Read mid-run: later nodes have not finished yet.
        mid = dict(page.evaluate(LIVE_STATUSES))
        assert mid["ship"] in ("pending", "running"), mid
        view.screenshot(path=str(ARTIFACTS / "picked-mid-run.png"))
        # The next node starts: the pick holds (no snapping back to the running node).
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.nbw-view g.nbw-node'))
                .some(g => g.dataset.nodeId === 'ui' && g.dataset.status !== 'pending')""",
            timeout=60_000,
        )
        assert view.locator("select").input_value() == "plan"
        assert view.locator('.nbw-node-details[data-node-id="plan"]').count() == 1
        page.locator('.nbw-static[data-run-status="succeeded"]').wait_for(timeout=60_000)
    finally:
        page.close()


def test_committed_quickstart_renders_untrusted(lab: JupyterLab, browser: Any) -> None:
    """A shared notebook (never trusted here) still shows the graph image and node details."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = f"shared-{uuid.uuid4().hex[:6]}.ipynb"
    shutil.copy(REPO / "notebooks" / "quickstart.ipynb", lab.root_dir / name)
    page = open_page(browser, lab, name)
    try:
        # Untrusted output loses data-* attributes; classes, styles and the data-URI image stay.
        static = page.locator(".nbw-static.nbw-run-succeeded").first
        static.wait_for(timeout=30_000)
        img = static.locator("img.nbw-graph-img")
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=10_000
        )
        assert static.locator("details.nbw-node-details").count() == 6
        assert static.locator("tr .nbw-status-succeeded").count() == 6
        static.locator("details.nbw-node-details summary").nth(3).click()
        assert "due_for_reminder" in static.locator("details.nbw-node-details").nth(3).inner_text()
        static.screenshot(path=str(ARTIFACTS / "untrusted.png"))
    finally:
        page.close()


def test_newcomer_runs_the_quickstart_and_sees_it_go_green(lab: JupyterLab, browser: Any) -> None:
    nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    name = f"quickstart-{uuid.uuid4().hex[:6]}.ipynb"
    nbformat.write(nb, lab.root_dir / name)
    page = open_page(browser, lab, name)
    try:
        run_all_cells(page)
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.nbw-view g.nbw-node'))
                .some(g => g.dataset.status === 'running')""",
            timeout=60_000,
        )
        final = page.locator(".nbw-static.nbw-run-succeeded").first
        final.wait_for(timeout=60_000)
        badges = final.locator("tr .nbw-status")
        assert badges.count() == 6
        assert {badges.nth(i).get_attribute("data-status") for i in range(6)} == {"succeeded"}
        # The later cells ran too: the log and the redrawn past run.
        page.get_by_text("implement: attempt 1 [success] code answer validated").first.wait_for(
            timeout=30_000
        )
        # run + %workflow show: the second is drawn by a later cell, so wait for it
        page.locator(".nbw-static.nbw-run-succeeded").nth(1).wait_for(timeout=30_000)
        assert page.locator(".nbw-static.nbw-run-succeeded").count() == 2
    finally:
        page.close()


def test_background_run_keeps_updating_after_the_cell_returns(
    lab: JupyterLab, browser: Any
) -> None:
    cells = [
        *LIVE_CELLS[:2],
        LIVE_CELLS[2].replace("--max-concurrency 2", "--max-concurrency 1 --background"),
        "print('next cell ran')",
    ]
    name = write_notebook(lab.root_dir, cells, "bg")
    page = open_page(browser, lab, name)
    try:
        run_all_cells(page)
        page.get_by_text("next cell ran").first.wait_for(timeout=60_000)
        # The next cell finished while the workflow still runs in the background: the view
        # keeps moving (nodes succeed while others wait) ...
        page.wait_for_function(
            """() => {
                const s = Array.from(document.querySelectorAll('.nbw-view g.nbw-node'))
                    .map(g => g.dataset.status);
                return s.includes('succeeded') && s.includes('pending');
            }""",
            timeout=60_000,
        )
        assert page.locator(".nbw-static").count() == 0
        # ... until the static rendering replaces it.
        page.locator(".nbw-static.nbw-run-succeeded").first.wait_for(timeout=60_000)
    finally:
        page.close()

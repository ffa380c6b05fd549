"""Wide and deep graphs in JupyterLab (Debian's chromium): labels stay inside their boxes, long
ids stay distinct, the start of a wide graph is in view, full ids on hover, and every status
symbol is drawn whatever fonts the machine has. Screenshots: ``.test-artifacts/browser/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.jupyterlab import (
    JupyterLab,
    open_page,
    require_chromium,
    run_all_cells,
    write_notebook,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

require_chromium()

ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "browser"
WIDE = [f"fetch_and_summarise_customer_{i}" for i in range(1, 13)]


def fan_out_cell() -> str:
    lines = ["%%workflow --script answers --latency 0.3 -j 4 --no-cache", "name: fan_out", "nodes:"]
    lines.append("  - {id: load_the_customer_list, action: Load}")
    for node in WIDE:
        lines.append(f"  - {{id: {node}, action: Summarise, depends_on: [load_the_customer_list]}}")
    lines.append(f"  - {{id: merge_all_summaries, action: Merge, depends_on: [{', '.join(WIDE)}]}}")
    return "\n".join(lines)


def deep_cell() -> str:
    lines = ["%%workflow --script answers --no-cache", "name: forty", "nodes:"]
    for i in range(40):
        deps = [f"step_{j:02d}" for j in (i - 1, i - 3) if j >= 0]
        lines.append(f"  - {{id: step_{i:02d}, action: Go, depends_on: [{', '.join(deps)}]}}")
    return "\n".join(lines)


ANSWERS = "answers = {n: 'ok' for n in {ids}}"

BOX_OVERFLOW = """() => {
    const out = [];
    for (const g of document.querySelectorAll(SELECTOR)) {
        const box = g.querySelector('rect').getBBox();
        for (const t of g.querySelectorAll('text')) {
            const b = t.getBBox();
            if (b.x < box.x - 0.5 || b.x + b.width > box.x + box.width + 0.5)
                out.push([g.dataset.nodeId, t.textContent, b.width, box.width]);
        }
    }
    return out;
}"""


def test_a_wide_fan_out_with_long_ids(lab: JupyterLab, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ids = ["load_the_customer_list", *WIDE, "merge_all_summaries"]
    cells = ["%load_ext nbworkflow", ANSWERS.replace("{ids}", repr(ids)), fan_out_cell()]
    page = open_page(browser, lab, write_notebook(lab.root_dir, cells, "wide"))
    try:
        run_all_cells(page)
        page.locator(".nbw-view g.nbw-node").first.wait_for(timeout=60_000)
        view = page.locator(".nbw-view").first
        page.wait_for_function(
            "() => document.querySelectorAll('.nbw-view g.nbw-node').length === 14",
            timeout=60_000,
        )
        check_graph(page, ".nbw-view g.nbw-node", ".nbw-view .nbw-graph")
        view.screenshot(path=str(ARTIFACTS / "wide-live.png"))
        final = page.locator('.nbw-static[data-run-status="succeeded"]').first
        final.wait_for(timeout=90_000)
        img = final.locator("img.nbw-graph-img")
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=10_000
        )
        # The image starts at the left of its scroll box (the root is in view), and scrolls.
        box = final.locator(".nbw-graph-scroll")
        geometry = box.evaluate(
            """(el) => { const i = el.querySelector('img'); return {
                scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
                imgLeft: i.getBoundingClientRect().left - el.getBoundingClientRect().left}; }"""
        )
        assert geometry["scrollWidth"] > geometry["clientWidth"], geometry
        assert abs(geometry["imgLeft"]) < 2, geometry
        # Hovering a node of the image names it in full (an image map area per node).
        titles = final.locator("map area").evaluate_all("(as) => as.map(a => a.title)")
        assert any(t.startswith("fetch_and_summarise_customer_12") for t in titles), titles
        img.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "wide-final.png"))
    finally:
        page.close()


def check_graph(page: Any, nodes: str, svg: str) -> None:
    overflow = page.evaluate(BOX_OVERFLOW.replace("SELECTOR", repr(nodes)))
    assert overflow == [], overflow
    labels = page.locator(nodes).evaluate_all(
        "(gs) => gs.map(g => g.querySelector('text').textContent)"
    )
    assert len(set(labels)) == len(labels), labels  # twelve siblings stay distinct
    titles = page.locator(nodes).evaluate_all(
        "(gs) => gs.map(g => g.querySelector('title').textContent.split(':')[0])"
    )
    assert set(titles) >= set(WIDE) or len(titles) == 40, titles
    # The start of the graph is in view: the live graph's scroll box starts at the left.
    left = page.locator(svg).first.evaluate(
        """(el) => { const box = el.closest('.nbw-graph-scroll') || el.parentElement;
            return el.getBoundingClientRect().left - box.getBoundingClientRect().left; }"""
    )
    assert abs(left) < 2, left
    # The parent of the fan-out is in view too (rows wrap at six boxes).
    visible = page.locator(nodes).evaluate_all(
        """(gs) => gs.filter(g => { const r = g.getBoundingClientRect();
            const box = g.closest('.nbw-graph-scroll').getBoundingClientRect();
            return r.left >= box.left && r.right <= box.right; })
            .map(g => g.dataset.nodeId)"""
    )
    assert "load_the_customer_list" in visible or len(titles) == 40, visible
    # Status symbols are drawn shapes, not characters a font may lack.
    assert page.locator(f"{nodes} text", has_text="⏸").count() == 0


def test_a_forty_node_graph(lab: JupyterLab, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ids = [f"step_{i:02d}" for i in range(40)]
    cells = ["%load_ext nbworkflow", ANSWERS.replace("{ids}", repr(ids)), deep_cell()]
    page = open_page(browser, lab, write_notebook(lab.root_dir, cells, "deep"))
    try:
        run_all_cells(page)
        final = page.locator('.nbw-static[data-run-status="succeeded"]').first
        final.wait_for(timeout=120_000)
        img = final.locator("img.nbw-graph-img")
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=10_000
        )
        img.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "forty-final.png"))
        assert final.locator("map area").count() == 40
    finally:
        page.close()

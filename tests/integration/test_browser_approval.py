"""JupyterLab in Debian's chromium: a %%workflow cell ends waiting for approval, the cell
returns (the next cell runs), and a click on Approve / Reject resumes the run in the same output.

Widget callbacks never fire while a cell blocks the kernel, so this can only be tested in a real
front end. Every wait is on a DOM condition. Screenshots go to ``.test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

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

BROKEN = textwrap.dedent(
    """\
    def sync_to_crm(internal_user):
        return {
            "email": internal_user["email"],
            "full_name": f"{internal_user['first']} {internal_user['last']}",
        }
    """
)
GOOD = BROKEN.replace("    }\n", '        "customer_tier": internal_user["plan"],\n    }\n')
SAMPLES = [
    {"email": "dev@example.com", "first": "Ada", "last": "Lovelace", "plan": "pro"},
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "plan": "free"},
]
WORKFLOW = textwrap.dedent(
    f"""\
    %%workflow --script answers --who browser-tester --no-cache --out run
    name: approve_in_lab
    nodes:
      - id: generate_mapper
        agent: Backend Engineer
        output: code
        action: Write sync_to_crm(internal_user) returning the CRM payload.
      - id: heal
        type: adaptive
        agent: Integration Engineer
        depends_on: [generate_mapper]
        action: Execute sync_to_crm against staging. If it fails, adapt the code.
        approve: true
        code_from: generate_mapper
        entrypoint: sync_to_crm
        samples: {json.dumps(SAMPLES)}
        staging:
          url: ${{STAGING_URL}}/users
          headers:
            Authorization: "Bearer ${{STAGING_TOKEN}}"
      - id: report
        agent: Technical Writer
        depends_on: [heal]
        action: Summarise the sync."""
)


def cells(mapper: str) -> list[str]:
    answers = {
        "generate_mapper": {"rationale": "first draft", "code": mapper},
        "heal": {"rationale": "added the tier the reviewer asked for", "code": GOOD},
        "report": {"content": "# Sync report\nAll users created."},
    }
    return [
        "%load_ext nbworkflow",
        "from nbworkflow.staging import OpenAPIMock, bundled_document\n"
        'crm = OpenAPIMock(bundled_document("crm")).start()\n'
        "STAGING_URL, STAGING_TOKEN = crm.url, crm.token\n"
        f"answers = {answers!r}",
        WORKFLOW,
        "print('next cell ran while the workflow waits')",
    ]


def open_notebook(browser: Any, lab: JupyterLab, source: list[str], prefix: str) -> Any:
    page = open_page(browser, lab, write_notebook(lab.root_dir, source, prefix))
    run_all_cells(page)
    return page


def wait_for_question(page: Any) -> Any:
    """The cell returned waiting: the next cell ran, and the heal node asks."""
    page.get_by_text("next cell ran while the workflow waits").first.wait_for(timeout=90_000)
    panel = page.locator(".nbw-approval-node-heal").first
    panel.wait_for(timeout=30_000)
    return panel


def wait_for_success(page: Any) -> Any:
    """The resumed run ends in the static rendering, every node green."""
    final = page.locator('.nbw-static[data-run-status="succeeded"]').first
    final.wait_for(timeout=90_000)
    page.wait_for_function(
        """() => {
            const b = document.querySelector(
                '.nbw-static[data-run-status="succeeded"] tr[data-node-id="heal"] .nbw-status');
            return b !== null && b.dataset.status === 'succeeded'
                && b.classList.contains('nbw-status-succeeded');
        }""",
        timeout=30_000,
    )
    return final


def test_approve_click_resumes_the_run_in_the_same_output(lab: JupyterLab, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = open_notebook(browser, lab, cells(GOOD), "approve")
    try:
        panel = wait_for_question(page)
        # The static rendering above the buttons (an output of its own) shows the run waiting.
        assert page.locator('.nbw-static[data-run-status="waiting"]').count()
        info = panel.locator(".nbw-approval-info").inner_text()
        assert "customer_tier" in info and "approve before staging" in info
        assert "payloads that approval sends" in info
        assert panel.locator(".nbw-approval-button").count() == 3  # Approve, Reject, Edit…
        assert not panel.locator(".nbw-approval-editor textarea").is_visible()
        panel.screenshot(path=str(ARTIFACTS / "approval-waiting.png"))

        panel.locator("button.nbw-approval-approve").click()

        final = wait_for_success(page)
        rows = final.locator("tr[data-node-id] .nbw-status")
        assert {rows.nth(i).get_attribute("data-status") for i in range(rows.count())} == {
            "succeeded"
        }
        log = final.locator('details[data-node-id="heal"]')
        assert log.locator('li[data-verdict="human-approve"]').count() == 1
        assert "approve by browser-tester" in log.text_content()
        assert page.locator(".nbw-approval").count() == 0  # the buttons are gone
        final.screenshot(path=str(ARTIFACTS / "approval-approved.png"))
        page.screenshot(path=str(ARTIFACTS / "approval-notebook.png"), full_page=True)
    finally:
        page.close()


def test_reject_with_a_comment_gets_a_rewrite_then_approve(lab: JupyterLab, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = open_notebook(browser, lab, cells(BROKEN), "reject")
    try:
        panel = wait_for_question(page)
        assert "customer_tier" not in panel.locator(".nbw-approval-info").inner_text()
        # Reject needs a comment: without one, nothing runs and the panel says so.
        panel.locator("button.nbw-approval-reject").click()
        panel.locator(".nbw-approval-error").wait_for(timeout=10_000)
        panel.locator(".nbw-approval-comment textarea").fill("customer_tier is missing: use plan")
        panel.locator("button.nbw-approval-reject").click()

        # The rewrite asks again, with its diff against the rejected code.
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('.nbw-approval-node-heal'))
                .some(p => p.innerText.includes('diff against the previous attempt'))""",
            timeout=90_000,
        )
        panel = page.locator(".nbw-approval-node-heal").first
        info = panel.locator(".nbw-approval-info").inner_text()
        assert "attempt 2" in info and "customer_tier" in info
        # The comment went back to the model; the panel shows who refused what, and why.
        assert "reject by browser-tester: customer_tier is missing: use plan" in info
        panel.screenshot(path=str(ARTIFACTS / "approval-rewrite.png"))
        panel.locator("button.nbw-approval-approve").click()

        final = wait_for_success(page)
        log = final.locator('details[data-node-id="heal"]').text_content() or ""
        assert "approve by browser-tester" in log and "HTTP 201" in log
    finally:
        page.close()


def test_edit_opens_the_code_and_runs_the_persons_version(lab: JupyterLab, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = open_notebook(browser, lab, cells(BROKEN), "edit")
    try:
        panel = wait_for_question(page)
        panel.locator("button.nbw-approval-edit").click()
        editor = panel.locator(".nbw-approval-editor textarea")
        editor.wait_for(state="visible", timeout=10_000)
        assert editor.input_value() == BROKEN  # the code that waits, ready to change
        panel.locator("button.nbw-approval-edit", has_text="Submit edit").wait_for(timeout=10_000)
        editor.fill(GOOD)
        panel.screenshot(path=str(ARTIFACTS / "approval-edit.png"))
        panel.locator("button.nbw-approval-edit").click()

        final = wait_for_success(page)
        log = final.locator('details[data-node-id="heal"]')
        assert log.locator('li[data-verdict="human-edit"]').count() == 1
        assert "HTTP 201" in (log.text_content() or "")
    finally:
        page.close()

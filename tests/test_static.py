"""The static rendering: data-URI SVG image, summary, per-node <details>, no script, no network."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from nbworkflow import events as ev
from nbworkflow.events import NodeInfo, RunStatus
from nbworkflow.state import RunState
from nbworkflow.widgets.static import (
    failure_summary,
    load_artifacts,
    render_static_html,
    static_bundle,
    summary_text,
)

RUN = "20261124-000000-demo-abcd"


def finished_state(failed: bool = False) -> RunState:
    evs: list[ev.RunEvent] = [
        ev.RunStarted(
            run_id=RUN,
            workflow="demo",
            provider="scripted",
            nodes=(
                NodeInfo(id="plan", type="routine", agent="Planner", action="Plan it"),
                NodeInfo(
                    id="code",
                    type="routine",
                    agent="Backend Engineer",
                    action="Write code",
                    depends_on=("plan",),
                ),
            ),
            ts=10.0,
        ),
        ev.NodeStarted(run_id=RUN, node_id="plan", ts=10.0),
        ev.ModelCalled(run_id=RUN, node_id="plan", model="m", input_tokens=30, output_tokens=12),
        ev.Decision(run_id=RUN, node_id="plan", attempt=1, verdict="success", reason="text ok"),
        ev.NodeFinished(
            run_id=RUN,
            node_id="plan",
            duration_s=0.5,
            artifact="artifacts/plan.md",
            preview="# Plan",
            input_tokens=30,
            output_tokens=12,
        ),
        ev.NodeStarted(run_id=RUN, node_id="code", ts=10.5),
    ]
    if failed:
        evs += [
            ev.Decision(
                run_id=RUN,
                node_id="code",
                attempt=1,
                verdict="adapt",
                reason="staging said 422",
                data={"diff": "-a\n+b\n", "status": 422},
            ),
            ev.NodeFailed(
                run_id=RUN,
                node_id="code",
                error_type="StagingError",
                message="staging refused the payload: [REDACTED]",
                attempts=3,
                duration_s=2.0,
            ),
        ]
    else:
        evs.append(
            ev.NodeFinished(
                run_id=RUN,
                node_id="code",
                duration_s=1.0,
                artifact="artifacts/code.py",
                preview="def f():\n    return 1\n",
            )
        )
    state = RunState.from_events(evs)
    state.apply(
        ev.RunFinished(
            run_id=RUN,
            status=RunStatus.FAILED if failed else RunStatus.SUCCEEDED,
            duration_s=1.5,
            counts=state.counts(),
        )
    )
    return state


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Collect()
    p.feed(html)
    return p.tags


def test_graph_is_a_data_uri_svg_image_with_node_statuses() -> None:
    html = render_static_html(finished_state(), run_dir="runs/x")
    imgs = [a for t, a in tags(html) if t == "img"]
    assert len(imgs) == 1
    src = imgs[0]["src"] or ""
    assert src.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(src.split(",", 1)[1]).decode()
    assert 'data-node-id="plan" data-status="succeeded"' in svg
    assert 'data-node-id="code" data-status="succeeded"' in svg
    assert "<svg" not in html.replace(src, "")  # no inline SVG: sanitizers strip it


def test_summary_run_id_folder_and_per_node_details() -> None:
    html = render_static_html(
        finished_state(), run_dir="runs/x", artifacts={"code": "def f():\n    return 1\n"}
    )
    assert "demo · succeeded · 2 succeeded · 1.50s" in html
    assert RUN in html and "runs/x" in html
    details = [a.get("data-node-id") for t, a in tags(html) if t == "details"]
    assert details == ["plan", "code"]
    assert "Backend Engineer" in html and "Write code" in html
    assert "30 in / 12 out" in html
    # Code is highlighted by Pygments with inline styles (no stylesheet needed).
    assert re.search(r'<span style="[^"]*">def</span>', html)


def test_no_script_no_external_resources() -> None:
    html = render_static_html(finished_state(failed=True), run_dir="runs/x")
    assert "<script" not in html.lower()
    assert "<style" not in html.lower()
    for _, attrs in tags(html):
        for key in ("src", "href"):
            value = attrs.get(key)
            # data: URIs, or links within the page (image map -> node details).
            assert value is None or value.startswith(("data:", "#nbw-")), value


def test_image_map_names_every_node_in_full_and_links_to_its_details() -> None:
    state = finished_state(failed=True)
    html = render_static_html(state)
    areas = [a for t, a in tags(html) if t == "area"]
    assert {a["alt"] for a in areas} == set(state.nodes)
    anchors = {a.get("id") for t, a in tags(html) if t == "details"}
    for area in areas:
        assert area["title"].startswith(area["alt"] + ":")
        assert area["href"][1:] in anchors
    (img,) = [a for t, a in tags(html) if t == "img"]
    assert img["usemap"] == "#" + next(a["name"] for t, a in tags(html) if t == "map")
    assert "margin:0" in img["style"]  # not centred: a wide graph starts in view


def test_failed_run_explains_which_node_and_opens_its_details() -> None:
    state = finished_state(failed=True)
    html = render_static_html(state)
    assert failure_summary(state) == "node 'code' failed: staging refused the payload: [REDACTED]"
    assert "node &#x27;code&#x27; failed" in html
    opened = [a.get("data-node-id") for t, a in tags(html) if t == "details" and "open" in a]
    assert opened == ["code"]
    verdicts = [a.get("data-verdict") for t, a in tags(html) if t == "li"]
    assert verdicts == ["success", "adapt"]  # plan, then code
    # A diff in the decision data is kept as a block and highlighted.
    assert re.search(r'<span style="[^"]*">-a</span>', html)
    assert re.search(r'<span style="[^"]*">\+b</span>', html)


def test_static_bundle_reads_artifacts_from_the_run_folder(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "code.py").write_text("def full_version():\n    pass\n")
    state = finished_state()
    arts = load_artifacts(state, tmp_path)
    assert arts["code"].startswith("def full_version")
    assert arts["plan"] == "# Plan"  # file missing: falls back to the preview
    bundle = static_bundle(state, tmp_path)
    assert set(bundle) == {"text/html", "text/plain"}
    assert "full_version" in bundle["text/html"]
    assert bundle["text/plain"] == summary_text(state, tmp_path)
    assert bundle["text/plain"].startswith(f"run {RUN}: demo · succeeded")


def test_rendering_is_deterministic() -> None:
    assert render_static_html(finished_state()) == render_static_html(finished_state())


def test_waiting_node_shows_what_it_asks_and_stays_open() -> None:
    state = finished_state()
    state.apply(
        ev.NodeWaiting(
            run_id=RUN,
            node_id="code",
            reason="approve the code before it reaches staging",
            choices=("approve", "reject"),
            code="def f():\n    return 2\n",
            diff="-    return 1\n+    return 2\n",
        )
    )
    html = render_static_html(state)
    opened = [a.get("data-node-id") for t, a in tags(html) if t == "details" and "open" in a]
    assert opened == ["code"]
    assert "approve the code before it reaches staging (choices: approve, reject)" in html
    details = html[html.index('<details class="nbw-node-details" data-node-id="code"') :]
    assert details.count("approve the code before it reaches staging") == 1  # said once
    assert re.search(r'<span style="[^"]*">\+    return 2</span>', html)
    assert "node 'code' is waiting for a person's decision" in failure_summary(state)


def test_the_headline_is_shown_once() -> None:
    import base64
    import re

    html = render_static_html(finished_state(failed=True))
    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert src
    assert "nbw-headline" not in base64.b64decode(src.group(1)).decode()
    assert html.count('class="nbw-summary"') == 1

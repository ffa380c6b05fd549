"""SVG rendering of a run: one <g> per node with its status, every edge drawn, deterministic."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from nbworkflow import events as ev
from nbworkflow.events import NodeInfo, NodeStatus, RunStatus
from nbworkflow.state import RunState
from nbworkflow.widgets.layout import layered_layout
from nbworkflow.widgets.svg import format_duration, layout_for, node_label, render_svg

SVG = "{http://www.w3.org/2000/svg}"
RUN = "r1"


def started(*nodes: tuple[str, tuple[str, ...]]) -> ev.RunStarted:
    return ev.RunStarted(
        run_id=RUN,
        workflow="demo",
        provider="scripted",
        nodes=tuple(
            NodeInfo(id=n, type="routine", agent=f"{n} persona", depends_on=d) for n, d in nodes
        ),
        ts=100.0,
    )


def every_status_state() -> RunState:
    """One node in each of the seven statuses."""
    evs: list[ev.RunEvent] = [
        started(
            ("pend", ()),
            ("run", ()),
            ("retry", ()),
            ("ok", ()),
            ("bad", ()),
            ("skip", ("bad",)),
            ("stop", ()),
            ("wait", ()),
        )
    ]
    for nid in ("run", "retry", "ok", "bad", "stop", "wait"):
        evs.append(ev.NodeStarted(run_id=RUN, node_id=nid, ts=101.0))
    evs += [
        ev.NodeRetrying(run_id=RUN, node_id="retry", attempt=2, reason="invalid JSON", ts=102.0),
        ev.NodeFinished(run_id=RUN, node_id="ok", attempts=1, duration_s=1.25, ts=102.25),
        ev.NodeFailed(
            run_id=RUN,
            node_id="bad",
            error_type="ProviderError",
            message="HTTP 500",
            attempts=3,
            duration_s=4.5,
            ts=105.5,
        ),
        ev.NodeSkipped(run_id=RUN, node_id="skip", reason="upstream node 'bad' failed"),
        ev.NodeCancelled(run_id=RUN, node_id="stop", duration_s=0.5),
        ev.NodeWaiting(run_id=RUN, node_id="wait", reason="approve before staging"),
    ]
    return RunState.from_events(evs)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_each_node_is_a_group_with_id_status_and_title() -> None:
    state = every_status_state()
    root = parse(render_svg(state))
    groups = {g.get("data-node-id"): g for g in root.iter(f"{SVG}g") if g.get("data-node-id")}
    assert set(groups) == set(state.nodes)
    for nid, node in state.nodes.items():
        g = groups[nid]
        assert g.get("data-status") == node.status.value
        title = g.find(f"{SVG}title")
        assert title is not None and title.text and title.text.startswith(f"{nid}: ")
    assert {g.get("data-status") for g in groups.values()} == {s.value for s in NodeStatus}


def test_status_colours_differ_and_legend_lists_every_status() -> None:
    state = every_status_state()
    root = parse(render_svg(state))
    fills = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("data-node-id"):
            rect = g.find(f"{SVG}rect")
            assert rect is not None
            fills[g.get("data-status")] = (rect.get("fill"), rect.get("stroke"))
    assert len(set(fills.values())) == len(NodeStatus)
    legend = [
        g.get("data-status") for g in root.iter(f"{SVG}g") if "nbw-legend" in (g.get("class") or "")
    ]
    assert legend == [s.value for s in NodeStatus]


def test_labels_show_attempts_and_duration() -> None:
    state = every_status_state()
    assert node_label(state.nodes["ok"]) == "✓ succeeded · 1.25s"
    assert node_label(state.nodes["bad"]) == "✗ failed · ×3 · 4.50s"
    assert "×2" in node_label(state.nodes["retry"])
    # A running node shows its live elapsed time when given "now".
    assert node_label(state.nodes["run"], now=103.5).endswith("2.50s")
    svg = render_svg(state)
    # In the graph the symbol is a drawn shape (no font needed), the text follows it.
    assert ">failed · ×3 · 4.50s</text>" in svg
    assert not any(g in svg for g in ("✗", "✓", "⏸"))


def test_long_sibling_ids_are_cut_in_the_middle_and_stay_distinct() -> None:
    ids = [f"fetch_and_summarise_customer_{i}" for i in range(1, 13)]
    state = RunState.from_events([started(("root", ()), *((i, ("root",)) for i in ids))])
    root = parse(render_svg(state))
    shown = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "nbw-node" and g.get("data-node-id") in ids:
            first = next(g.iter(f"{SVG}text"))
            shown[g.get("data-node-id")] = first.text or ""
            # The full id is the hover text.
            assert (g.find(f"{SVG}title").text or "").startswith(g.get("data-node-id") or "?")
    assert len(set(shown.values())) == 12, shown
    assert all("…" in t and t.startswith("fetch") for t in shown.values()), shown
    assert shown["fetch_and_summarise_customer_12"].endswith("_12")


def test_label_estimates_fit_the_box() -> None:
    from nbworkflow.widgets.layout import NODE_WIDTH
    from nbworkflow.widgets.svg import PAD, fit_text, text_width

    room = NODE_WIDTH - 2 * PAD
    for text in ["x" * 80, "W" * 40, "fetch_and_summarise_customer_12", "short"]:
        fitted = fit_text(text, room, 12, bold=True)
        assert text_width(fitted, 12, bold=True) <= room
    assert fit_text("short", room, 12) == "short"


def test_every_edge_is_drawn() -> None:
    deps = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c", "a")}
    state = RunState.from_events([started(*deps.items())])
    root = parse(render_svg(state))
    drawn = {
        (p.get("data-from"), p.get("data-to"))
        for p in root.iter(f"{SVG}path")
        if p.get("data-from")
    }
    assert drawn == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")}


def test_output_is_deterministic_and_escapes_text() -> None:
    evs: list[ev.RunEvent] = [started(("a<&>", ()), ("b", ("a<&>",)))]
    evs.append(ev.NodeStarted(run_id=RUN, node_id="a<&>", ts=101.0))
    evs.append(
        ev.NodeFailed(
            run_id=RUN, node_id="a<&>", error_type="X", message='bad "<script>" & co', ts=102.0
        )
    )
    state = RunState.from_events(evs)
    one, two = render_svg(state), render_svg(RunState.from_events(evs))
    assert one == two
    assert "<script>" not in one
    parse(one)  # well-formed XML


def test_headline_shows_run_status() -> None:
    state = every_status_state()
    finished = ev.RunFinished(
        run_id=RUN, status=RunStatus.FAILED, duration_s=6.0, counts=state.counts()
    )
    state.apply(finished)
    root = parse(render_svg(state))
    assert root.get("data-run-status") == "failed"
    headline = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "nbw-headline")
    assert headline.text is not None and headline.text.startswith("demo · failed · ")


def test_large_graph_renders_with_all_nodes() -> None:
    nodes = [(f"n{i}", (f"n{i - 1}",) if i else ()) for i in range(200)]
    state = RunState.from_events([started(*nodes)])
    layout = layout_for(state)
    svg = render_svg(state, layout)
    assert len(re.findall(r'class="nbw-node"', svg)) == 200
    assert layout == layered_layout({n: d for n, d in nodes})


def test_format_duration() -> None:
    assert format_duration(None) == ""
    assert format_duration(0.5) == "0.50s"
    assert format_duration(42.25) == "42.2s"
    assert format_duration(125) == "2m05s"


def test_live_view_variant_has_no_headline_and_a_shorter_header() -> None:
    state = every_status_state()
    full, live = parse(render_svg(state)), parse(render_svg(state, headline=False))
    assert not [t for t in live.iter(f"{SVG}text") if t.get("class") == "nbw-headline"]
    assert float(live.get("height") or 0) < float(full.get("height") or 0)
    legend = [g for g in live.iter(f"{SVG}g") if "nbw-legend" in (g.get("class") or "")]
    assert len(legend) == len(NodeStatus)


def test_drawing_modules_import_no_ui_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, nbworkflow.widgets, nbworkflow.widgets.static; "
        "print(sorted(m for m in ('IPython', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Draw a run's graph as a standalone SVG string (pure: ``RunState`` + ``Layout`` -> text).

Each node is a ``<g class="nbw-node" data-node-id=... data-status=...>`` with a ``<title>`` (the
hover text, and what the browser test reads), a box coloured by status and two labels: the id,
then status, attempts and duration. Each edge is a ``<path data-from=... data-to=...>``. The same
string is inlined in the live widget and base64-encoded into the static ``<img>``, so it carries
its own fonts and colours and needs no CSS or script.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from ..events import NodeStatus, RunStatus
from ..state import NodeState, RunState
from .layout import Layout, layered_layout

# fill, stroke, text
STATUS_COLOURS: Mapping[NodeStatus, tuple[str, str, str]] = {
    NodeStatus.PENDING: ("#f8fafc", "#94a3b8", "#475569"),
    NodeStatus.RUNNING: ("#dbeafe", "#2563eb", "#1e3a8a"),
    NodeStatus.RETRYING: ("#fef3c7", "#d97706", "#78350f"),
    NodeStatus.SUCCEEDED: ("#dcfce7", "#16a34a", "#14532d"),
    NodeStatus.FAILED: ("#fee2e2", "#dc2626", "#7f1d1d"),
    NodeStatus.SKIPPED: ("#f1f5f9", "#94a3b8", "#64748b"),
    NodeStatus.CANCELLED: ("#ede9fe", "#7c3aed", "#4c1d95"),
    NodeStatus.WAITING: ("#ffedd5", "#ea580c", "#7c2d12"),
}
_UNKNOWN = ("#f8fafc", "#64748b", "#334155")
"""Colours of a status this module does not know yet (the core may add one)."""
GLYPHS: Mapping[NodeStatus, str] = {
    NodeStatus.PENDING: "○",
    NodeStatus.RUNNING: "▶",
    NodeStatus.RETRYING: "↻",
    NodeStatus.SUCCEEDED: "✓",
    NodeStatus.FAILED: "✗",
    NodeStatus.SKIPPED: "–",
    NodeStatus.CANCELLED: "⊘",
    NodeStatus.WAITING: "⏸",
}
RUN_COLOURS: Mapping[RunStatus, str] = {
    RunStatus.RUNNING: "#2563eb",
    RunStatus.SUCCEEDED: "#16a34a",
    RunStatus.FAILED: "#dc2626",
    RunStatus.CANCELLED: "#7c3aed",
    RunStatus.WAITING: "#ea580c",
}


def status_colours(status: NodeStatus) -> tuple[str, str, str]:
    """``(fill, stroke, text)`` of a node status."""
    return STATUS_COLOURS.get(status, _UNKNOWN)


def glyph(status: NodeStatus) -> str:
    return GLYPHS.get(status, "•")


def run_colour(status: RunStatus) -> str:
    return RUN_COLOURS.get(status, "#334155")


FONT = "system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
HEADER = 58.0
"""Room above the graph for the title line and the legend."""
ID_CHARS = 22


def layout_for(state: RunState) -> Layout:
    """The layered layout of a run's nodes (in the order the run announced them)."""
    return layered_layout({nid: n.info.depends_on for nid, n in state.nodes.items()})


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_label(node: NodeState, now: float | None = None) -> str:
    """Second line of a node box: glyph, status, attempts, duration."""
    parts = [f"{glyph(node.status)} {node.status.value}"]
    if node.attempts > 1 or node.status in (NodeStatus.RETRYING, NodeStatus.FAILED):
        parts.append(f"×{max(node.attempts, 1)}")
    duration = node.duration_s if now is None else node.elapsed(now)
    if duration is not None and node.status is not NodeStatus.SKIPPED:
        parts.append(format_duration(duration))
    return " · ".join(parts)


def node_title(node: NodeState, now: float | None = None) -> str:
    """Hover text of a node: everything the box is too small to show."""
    lines = [f"{node.id}: {node.status.value}"]
    attempts = node.attempts
    duration = node.duration_s if now is None else node.elapsed(now)
    detail = [f"{attempts} attempt{'s' if attempts != 1 else ''}"]
    if duration is not None:
        detail.append(format_duration(duration))
    tokens = node.input_tokens + node.output_tokens
    if tokens:
        detail.append(f"{tokens} tokens")
    lines.append(", ".join(detail))
    if node.info.agent:
        lines.append(f"persona: {node.info.agent}")
    if node.message:
        lines.append(_short(node.message, 300))
    return "\n".join(lines)


def _edge_path(points: tuple[tuple[float, float], ...], dy: float) -> str:
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{x0:g},{y0 + dy:g}"]
    px, py = x0, y0 + dy
    for x, y in rest:
        y += dy
        mid = (py + y) / 2
        d.append(f"C{px:g},{mid:g} {x:g},{mid:g} {x:g},{y:g}")
        px, py = x, y
    return " ".join(d)


def run_headline(state: RunState) -> str:
    """``workflow · status · 3 succeeded, 1 failed · 2.4s``: the title line and summary."""
    counts = state.counts()
    order = [s.value for s in NodeStatus]
    parts = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
    bits = [state.workflow or "workflow", state.status.value]
    if parts:
        bits.append(parts)
    if state.duration_s is not None:
        bits.append(format_duration(state.duration_s))
    return " · ".join(bits)


def render_svg(
    state: RunState,
    layout: Layout | None = None,
    *,
    now: float | None = None,
    legend: bool = True,
    headline: bool = True,
) -> str:
    """The run's graph as an SVG document string.

    ``now`` (epoch seconds) shows live elapsed times for running nodes; without it only
    recorded durations are drawn, which keeps the output a pure function of the state.
    ``headline=False`` leaves out the title line (the live view shows it above the graph).
    """
    layout = layout or layout_for(state)
    top = 0.0 if headline else 26.0  # the legend moves up when there is no title line
    dy = HEADER - top if legend else 0.0
    width = max(layout.width, 740.0 if legend else 0.0)
    height = layout.height + dy
    # Centre the graph when the legend is wider than the graph.
    dx = (width - layout.width) / 2
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbw-graph" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}" font-family="{FONT}" '
        f'data-run-status="{state.status.value}">',
        "<defs>"
        '<marker id="nbw-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#94a3b8"/></marker></defs>',
        f'<rect x="0" y="0" width="{width:g}" height="{height:g}" fill="#ffffff"/>',
    ]
    if legend and headline:
        colour = run_colour(state.status)
        out.append(
            f'<text x="12" y="20" font-size="13" font-weight="600" fill="{colour}" '
            f'class="nbw-headline">{escape(run_headline(state))}</text>'
        )
    if legend:
        x = 12.0
        for status, (fill, stroke, text) in STATUS_COLOURS.items():
            out.append(
                f'<g class="nbw-legend" data-status="{status.value}">'
                f'<rect x="{x:g}" y="{32 - top:g}" width="12" height="12" rx="3" fill="{fill}" '
                f'stroke="{stroke}"/><text x="{x + 16:g}" y="{42 - top:g}" font-size="11" '
                f'fill="{text}">{status.value}</text></g>'
            )
            x += 16 + 7 * len(status.value) + 12
        out.append(
            f'<text x="{x:g}" y="{42 - top:g}" font-size="11" fill="#64748b">×N attempts</text>'
        )
    out.append(f'<g transform="translate({dx:g},0)">')
    for edge in layout.edges:
        src = state.nodes.get(edge.source)
        bad = src is not None and src.status in (NodeStatus.FAILED, NodeStatus.CANCELLED)
        stroke = "#f87171" if bad else "#94a3b8"
        dash = ' stroke-dasharray="4 3"' if bad else ""
        out.append(
            f'<path class="nbw-edge" data-from="{escape(edge.source)}" '
            f'data-to="{escape(edge.target)}" d="{_edge_path(edge.points, dy)}" fill="none" '
            f'stroke="{stroke}" stroke-width="1.4"{dash} marker-end="url(#nbw-arrow)"/>'
        )
    for node_id, box in layout.nodes.items():
        node = state.nodes.get(node_id)
        if node is None:
            continue
        fill, stroke, text = status_colours(node.status)
        dash = ' stroke-dasharray="5 3"' if node.status is NodeStatus.SKIPPED else ""
        width_px = 2.4 if node.status in (NodeStatus.RUNNING, NodeStatus.RETRYING) else 1.4
        x, y = box.x, box.y + dy
        out.append(
            f'<g class="nbw-node" data-node-id="{escape(node_id)}" '
            f'data-status="{node.status.value}" data-attempts="{node.attempts}">'
            f"<title>{escape(node_title(node, now))}</title>"
            f'<rect x="{x:g}" y="{y:g}" width="{box.width:g}" height="{box.height:g}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width_px:g}"{dash}/>'
            f'<text x="{box.cx:g}" y="{y + 18:g}" text-anchor="middle" font-size="12" '
            f'font-weight="600" fill="{text}">{escape(_short(node_id, ID_CHARS))}</text>'
            f'<text class="nbw-label" x="{box.cx:g}" y="{y + 34:g}" text-anchor="middle" '
            f'font-size="10.5" fill="{text}">{escape(node_label(node, now))}</text></g>'
        )
    out.append("</g></svg>")
    return "".join(out)


__all__ = [
    "GLYPHS",
    "STATUS_COLOURS",
    "format_duration",
    "glyph",
    "layout_for",
    "node_label",
    "node_title",
    "render_svg",
    "run_colour",
    "run_headline",
    "status_colours",
]

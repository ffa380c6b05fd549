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
    NodeStatus.WAITING: "‖",  # "⏸" is missing from Debian's stock fonts (an empty box)
}
"""Status symbols in text (the static table's badges): characters DejaVu Sans has. The graph
draws its own shapes instead (``_icon``), so it needs no font at all for them."""
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
LEGEND_WIDTH = 740.0
PAD = 8.0
"""Room kept between a label and its box's border."""
ICON = 12.0
"""Width the status shape takes before the second label (shape and gap)."""

# Advance widths in em of a wide sans-serif (DejaVu Sans, the widest fallback here): the
# estimate must not be short, or text spills out of the box before ``textLength`` squeezes it.
_NARROW = frozenset("iljtfrI.,:;'!|()[] ")
_WIDE = frozenset("mwMW@%")


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated width in px of ``text`` at font size ``size`` (no font metrics here)."""
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += 0.34
        elif ch in _WIDE:
            em += 0.95
        elif ch.isupper() or ch.isdigit():
            em += 0.7
        else:
            em += 0.62
    return em * size * (1.07 if bold else 1.0)


def fit_text(text: str, width: float, size: float, bold: bool = False) -> str:
    """``text`` cut in the middle (``fetch_an…omer_12``) until its estimate fits ``width``:
    siblings that share a long prefix stay distinct by their ends."""
    if text_width(text, size, bold) <= width:
        return text
    keep = len(text)
    while keep > 2:
        keep -= 1
        head = (keep + 1) // 2
        cut = text[:head] + "…" + text[len(text) - (keep - head) :]
        if text_width(cut, size, bold) <= width:
            return cut
    return text[:1] + "…"


def _fitted_text(text: str, x: float, y: float, width: float, size: float, attrs: str) -> str:
    """A centred ``<text>`` that never leaves its box: cut to the estimate, and told its
    length when it is close to the edge, so a wider real font is squeezed, not spilled."""
    bold = "font-weight" in attrs
    shown = fit_text(text, width, size, bold)
    est = text_width(shown, size, bold)
    squeeze = (
        f' textLength="{min(est, width):.1f}" lengthAdjust="spacingAndGlyphs"'
        if est > 0.8 * width
        else ""
    )
    return (
        f'<text x="{x:g}" y="{y:g}" text-anchor="middle" font-size="{size:g}"{squeeze} '
        f"{attrs}>{escape(shown)}</text>"
    )


def _icon(status: NodeStatus, x: float, y: float, colour: str) -> str:
    """The status as a drawn shape centred on (x, y), about 9 px: no font needed."""
    stroke = f'fill="none" stroke="{colour}" stroke-width="1.5"'
    if status is NodeStatus.PENDING:
        return f'<circle cx="{x:g}" cy="{y:g}" r="3.8" {stroke}/>'
    if status is NodeStatus.RUNNING:
        return f'<path d="M{x - 3:g},{y - 4:g} L{x + 4:g},{y:g} L{x - 3:g},{y + 4:g} z" fill="{colour}"/>'
    if status is NodeStatus.RETRYING:
        return (
            f'<path d="M{x + 3.6:g},{y - 1.5:g} A4,4 0 1 0 {x + 2:g},{y + 3.3:g}" {stroke}/>'
            f'<path d="M{x + 1.2:g},{y - 3:g} L{x + 4.6:g},{y - 2.6:g} L{x + 4:g},{y + 0.6:g} z" '
            f'fill="{colour}"/>'
        )
    if status is NodeStatus.SUCCEEDED:
        return f'<path d="M{x - 4:g},{y:g} L{x - 1:g},{y + 3:g} L{x + 4:g},{y - 3.5:g}" {stroke}/>'
    if status is NodeStatus.FAILED:
        return (
            f'<path d="M{x - 3.5:g},{y - 3.5:g} L{x + 3.5:g},{y + 3.5:g} M{x + 3.5:g},{y - 3.5:g} '
            f'L{x - 3.5:g},{y + 3.5:g}" {stroke}/>'
        )
    if status is NodeStatus.SKIPPED:
        return f'<path d="M{x - 4:g},{y:g} L{x + 4:g},{y:g}" {stroke}/>'
    if status is NodeStatus.CANCELLED:
        return (
            f'<circle cx="{x:g}" cy="{y:g}" r="3.8" {stroke}/>'
            f'<path d="M{x - 2.7:g},{y + 2.7:g} L{x + 2.7:g},{y - 2.7:g}" {stroke}/>'
        )
    if status is NodeStatus.WAITING:
        return (
            f'<rect x="{x - 3.5:g}" y="{y - 4:g}" width="2.6" height="8" fill="{colour}"/>'
            f'<rect x="{x + 0.9:g}" y="{y - 4:g}" width="2.6" height="8" fill="{colour}"/>'
        )
    return f'<circle cx="{x:g}" cy="{y:g}" r="2" fill="{colour}"/>'


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


def node_label(node: NodeState, now: float | None = None, *, symbol: bool = True) -> str:
    """Second line of a node box: glyph (unless the caller draws it), status, attempts,
    duration."""
    parts = [f"{glyph(node.status)} {node.status.value}" if symbol else node.status.value]
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
    cost = cost_words(node, cell=True)
    if cost is not None:
        detail.append(f"cost {cost}")
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


def cost_words(state: RunState | NodeState, *, cell: bool = False) -> str | None:
    """What a run or node cost, in ``report``'s words (``$0.0123``, ``unknown``, ...; a table
    ``cell`` is shorter); None when it called no model, so a run of plain nodes shows no cost."""
    if not state.model_calls:
        return None
    # Loaded lazily: by the time a view draws a model call, the run has loaded the providers.
    from ..agents.prices import cost_summary, short_cost

    words = short_cost if cell else cost_summary
    return words(state.cost_usd, state.unknown_cost_calls, state.model_calls)


def run_headline(state: RunState) -> str:
    """``workflow · status · 3 succeeded, 1 failed · 2.4s · cost $0.0123``: the title line and
    summary."""
    counts = state.counts()
    order = [s.value for s in NodeStatus]
    parts = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
    bits = [state.workflow or "workflow", state.status.value]
    if parts:
        bits.append(parts)
    if state.duration_s is not None:
        bits.append(format_duration(state.duration_s))
    cost = cost_words(state)
    if cost is not None:
        bits.append(f"cost {cost}")
    return " · ".join(bits)


def _frame(layout: Layout, *, legend: bool, headline: bool) -> tuple[float, float, float, float]:
    """Width and height of the picture, and where the layout's origin sits in it."""
    top = 0.0 if headline else 26.0
    dy = HEADER - top if legend else 0.0
    width = max(layout.width, LEGEND_WIDTH if legend else 0.0)
    # Centre the graph only when the legend is wider: a wide graph starts at the left edge.
    return width, layout.height + dy, (width - layout.width) / 2, dy


def node_rects(
    layout: Layout, *, legend: bool = True, headline: bool = True
) -> dict[str, tuple[float, float, float, float]]:
    """Each node's box ``(x0, y0, x1, y1)`` in the picture ``render_svg`` draws (image maps)."""
    _, _, dx, dy = _frame(layout, legend=legend, headline=headline)
    return {
        nid: (b.x + dx, b.y + dy, b.x + dx + b.width, b.y + dy + b.height)
        for nid, b in layout.nodes.items()
    }


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
    width, height, dx, dy = _frame(layout, legend=legend, headline=headline)
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
        room = box.width - 2 * PAD
        label = node_label(node, now, symbol=False)
        label_w = min(text_width(label, 10.5), room - ICON)
        out.append(
            f'<g class="nbw-node" data-node-id="{escape(node_id)}" '
            f'data-status="{node.status.value}" data-attempts="{node.attempts}">'
            f"<title>{escape(node_title(node, now))}</title>"
            f'<rect x="{x:g}" y="{y:g}" width="{box.width:g}" height="{box.height:g}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width_px:g}"{dash}/>'
            + _fitted_text(node_id, box.cx, y + 18, room, 12, f'font-weight="600" fill="{text}"')
            + _icon(node.status, box.cx - (label_w + ICON) / 2 + 4.5, y + 30.5, text)
            + _fitted_text(
                label,
                box.cx + ICON / 2,
                y + 34,
                room - ICON,
                10.5,
                f'class="nbw-label" fill="{text}"',
            )
            + "</g>"
        )
    out.append("</g></svg>")
    return "".join(out)


__all__ = [
    "GLYPHS",
    "STATUS_COLOURS",
    "cost_words",
    "format_duration",
    "glyph",
    "layout_for",
    "node_label",
    "node_rects",
    "node_title",
    "render_svg",
    "run_colour",
    "run_headline",
    "status_colours",
]

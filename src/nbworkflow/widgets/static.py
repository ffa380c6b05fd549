"""The static rendering of a finished run: what a shared notebook shows without a kernel.

One HTML fragment: a summary line, the run id and folder, the graph as a data-URI SVG ``<img>``
(an inline ``<svg>`` is stripped by JupyterLab's sanitizer in untrusted notebooks), a table of
nodes and a ``<details>`` block per node with persona, action, output artifact (highlighted by
Pygments with inline styles), decision log and tokens. No script, no external CSS, no network:
it reads the same in nbconvert HTML, on GitHub and in an untrusted JupyterLab.

``render_static_html`` is pure; ``load_artifacts`` is the one function here that reads files.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from ..events import NodeStatus, RunStatus
from ..state import NodeState, RunState
from ..text import clip
from .layout import Layout
from .svg import (
    cost_words,
    format_duration,
    glyph,
    layout_for,
    node_rects,
    node_title,
    render_svg,
    run_colour,
    run_headline,
    status_colours,
)

ARTIFACT_CHARS = 20_000
"""Longest artifact text embedded in the notebook output (the rest stays in the run folder)."""
_BOX = "border:1px solid #e2e8f0;border-radius:6px;padding:6px 10px;margin:4px 0"
_MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px"


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def summary_text(state: RunState, run_dir: str | os.PathLike[str] | None = None) -> str:
    """One plain-text line: status, counts, duration, cost, tokens, run id and folder."""
    line = f"run {state.run_id}: {run_headline(state)}"
    tokens = state.input_tokens + state.output_tokens
    if tokens:
        line += f" · {tokens} tokens"
    if run_dir is not None:
        line += f" · folder {run_dir}"
    return line


def failure_summary(state: RunState, *, asked_below: bool = False) -> str:
    """Which node(s) failed and why (messages are already sanitized by the engine);
    ``asked_below``: the rendering shows each waiting node's question in its details, so the
    summary only points there instead of saying it again."""
    failed = [n for n in state.nodes.values() if n.status is NodeStatus.FAILED]
    if failed:
        return "; ".join(f"node '{n.id}' failed: {n.message}" for n in failed)
    waiting = [n for n in state.nodes.values() if n.status is NodeStatus.WAITING]
    if waiting:
        return "; ".join(
            f"node '{n.id}' is waiting for a person's decision"
            + (
                " (its question is in its details below)"
                if asked_below and _asking(n)
                else f": {n.message}"
                if n.message
                else ""
            )
            for n in waiting
        )
    if state.status is RunStatus.CANCELLED:
        return "run cancelled"
    return state.message or state.status.value


def load_artifacts(
    state: RunState,
    run_dir: str | os.PathLike[str] | None,
    limit: int = ARTIFACT_CHARS,
    redact: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """Each node's output text from the run folder (its preview when the file is gone).

    Artifact files hold what the model wrote, unredacted; what goes into a notebook output
    (and so into every copy of the notebook) passes ``redact`` first.
    """
    out: dict[str, str] = {}
    for node_id, node in state.nodes.items():
        text = node.preview
        if run_dir is not None and node.artifact:
            try:
                full = (Path(run_dir) / node.artifact).read_text(encoding="utf-8", errors="replace")
            except OSError:
                pass
            else:
                text = full if len(full) <= limit else full[:limit] + "\n… (truncated)"
        if text:
            out[node_id] = redact(text) if redact is not None else text
    return out


def highlight_artifact(text: str, artifact: str | None) -> str:
    """Artifact text as HTML: Pygments with inline styles for code and JSON, else ``<pre>``."""
    suffix = Path(artifact or "").suffix
    lexer_name = {".py": "python", ".json": "json", ".md": "markdown", ".diff": "diff"}.get(suffix)
    if lexer_name is not None:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name

        html: str = highlight(text, get_lexer_by_name(lexer_name), HtmlFormatter(noclasses=True))
        return f'<div style="{_MONO};overflow:auto;max-height:420px">{html}</div>'
    return _pre(text)


def _pre(text: str) -> str:
    return (
        f'<pre style="{_MONO};white-space:pre-wrap;background:#f8fafc;padding:6px;'
        f'margin:2px 0;max-height:320px;overflow:auto">{escape(text)}</pre>'
    )


def _badge(status: NodeStatus) -> str:
    fill, stroke, text = status_colours(status)
    return (
        # Status in the class too: untrusted JupyterLab strips data-* attributes, not classes.
        f'<span class="nbw-status nbw-status-{status.value}" data-status="{status.value}" '
        f'style="background:{fill};'
        f"border:1px solid {stroke};color:{text};border-radius:9px;padding:0 7px;"
        f'font-size:12px;white-space:nowrap">{glyph(status)} {status.value}</span>'
    )


def _decision_value(key: str, value: Any) -> str:
    if isinstance(value, str) and "\n" in value:
        if key == "diff":
            return highlight_artifact(value, "change.diff")
        return _pre(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > 400:
        text = text[:399] + "…"
    return f'<code style="{_MONO}">{escape(text)}</code>'


def _asking(node: NodeState) -> bool:
    """A waiting node whose details show its question (the words of its ``message``)."""
    return node.status is NodeStatus.WAITING and getattr(node, "waiting", None) is not None


def _note(node: NodeState) -> str:
    """The table's note: a waiting node's question is said once, in its details."""
    return "asks below" if _asking(node) else clip(node.message, 160)


def node_details_html(
    node: NodeState, artifact_text: str | None, *, expanded: bool = False, run_id: str = ""
) -> str:
    """A ``<details>`` block: persona, action, artifact, decision log and tokens of a node."""
    info = node.info
    attention = node.status in (NodeStatus.FAILED, NodeStatus.WAITING)
    open_attr = " open" if expanded or attention else ""
    anchor = f' id="nbw-{escape(run_id)}-{escape(node.id)}"' if run_id else ""
    rows = [
        ("persona", escape(info.agent or "—")),
        ("type", escape(info.type)),
        ("action", escape(info.action or "—")),
        ("depends on", escape(", ".join(info.depends_on) or "—")),
        ("attempts", str(node.attempts)),
        ("duration", format_duration(node.duration_s) or "—"),
        ("tokens", f"{node.input_tokens} in / {node.output_tokens} out"),
    ]
    cost = cost_words(node)
    if cost is not None:
        rows.append(("cost", escape(cost)))
    waiting = getattr(node, "waiting", None)
    asking = node.status is NodeStatus.WAITING and waiting is not None
    if node.message and not (asking and waiting is not None and node.message == waiting.reason):
        rows.append(("message", escape(node.message)))  # a waiting node's says it just below
    if asking and waiting is not None:
        asks = waiting.reason or waiting.request
        if waiting.choices:
            asks += f" (choices: {', '.join(waiting.choices)})"
        rows.append(("waiting for", escape(asks)))
    if node.artifact:
        rows.append(("artifact", f'<code style="{_MONO}">{escape(node.artifact)}</code>'))
    table = "".join(
        f'<tr><th style="text-align:left;vertical-align:top;padding-right:10px;'
        f'font-weight:600;white-space:nowrap">{k}</th><td style="text-align:left">{v}</td></tr>'
        for k, v in rows
    )
    parts = [
        f'<details class="nbw-node-details" data-node-id="{escape(node.id)}"{anchor}{open_attr} '
        f'style="{_BOX}"><summary style="cursor:pointer"><b>{escape(node.id)}</b> '
        f"{_badge(node.status)}</summary>",
        f'<table style="border-collapse:collapse;margin:6px 0">{table}</table>',
    ]
    if artifact_text:
        parts.append("<div><b>output</b></div>" + highlight_artifact(artifact_text, node.artifact))
    if node.status is NodeStatus.WAITING and waiting is not None:
        if waiting.code:
            parts.append(
                "<div><b>to decide on</b></div>" + highlight_artifact(waiting.code, "x.py")
            )
        if waiting.diff:
            parts.append("<div><b>diff</b></div>" + highlight_artifact(waiting.diff, "x.diff"))
    if node.decisions:
        items = []
        for d in node.decisions:
            extra = "".join(
                f"<div>{escape(str(k))}: {_decision_value(str(k), v)}</div>"
                for k, v in d.data.items()
            )
            items.append(
                f'<li data-verdict="{escape(d.verdict)}">attempt {d.attempt} · '
                f"<b>{escape(d.verdict)}</b> · {escape(d.reason)}{extra}</li>"
            )
        parts.append(
            f'<div><b>decision log</b></div><ol style="margin:2px 0 4px 18px;padding:0">'
            f"{''.join(items)}</ol>"
        )
    parts.append("</details>")
    return "".join(parts)


def render_static_html(
    state: RunState,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    artifacts: Mapping[str, str] | None = None,
    layout: Layout | None = None,
) -> str:
    """The final, kernel-free rendering of a run (see the module docstring)."""
    artifacts = artifacts or {}
    layout = layout or layout_for(state)
    # The headline is the line above the image: not again inside it.
    svg = render_svg(state, layout, headline=False)
    colour = run_colour(state.status)
    tokens = state.input_tokens + state.output_tokens
    headline = escape(run_headline(state))
    meta = [f'run <code style="{_MONO}">{escape(state.run_id)}</code>']
    if run_dir is not None:
        meta.append(f'folder <code style="{_MONO}">{escape(str(run_dir))}</code>')
    if state.provider:
        meta.append(f"provider {escape(state.provider)}")
    if tokens:
        meta.append(f"{tokens} tokens ({state.input_tokens} in / {state.output_tokens} out)")
    head_rows = "".join(
        f'<th style="text-align:left;padding:2px 10px 2px 0">{h}</th>'
        for h in ("node", "status", "attempts", "duration", "tokens", "cost", "note")
    )
    body_rows = "".join(
        f'<tr data-node-id="{escape(n.id)}"><td style="text-align:left;padding-right:10px">'
        f'<code>{escape(n.id)}</code></td><td style="text-align:left">{_badge(n.status)}</td>'
        f'<td style="text-align:left">{n.attempts}</td>'
        f'<td style="text-align:left">{format_duration(n.duration_s)}</td>'
        f'<td style="text-align:left">{n.input_tokens + n.output_tokens or ""}</td>'
        f'<td style="text-align:left">{escape(cost_words(n, cell=True) or "")}</td>'
        f'<td style="text-align:left">{escape(_note(n))}</td></tr>'
        for n in state.nodes.values()
    )
    message = ""
    if state.status is not RunStatus.SUCCEEDED:
        message = (
            f'<div class="nbw-failure" style="color:{colour};margin:4px 0">'
            f"{escape(failure_summary(state, asked_below=True))}</div>"
        )
    alt = f"workflow graph: {run_headline(state)}"
    map_name = f"nbw-map-{state.run_id or 'run'}"
    return (
        f'<div class="nbw-static nbw-run-{state.status.value}" data-run-id="{escape(state.run_id)}" '
        f'data-run-status="{state.status.value}" style="font-family:system-ui,sans-serif;'
        f'font-size:13px;line-height:1.4">'
        f'<div class="nbw-summary" style="font-size:14px;font-weight:600;color:{colour}">'
        f"{headline}</div>"
        f'<div style="color:#475569">{" · ".join(meta)}</div>{message}'
        # margin:0 and display:block: JupyterLab centres images, which put the start of a
        # wide graph out of view; the box scrolls sideways instead.
        f'<div class="nbw-graph-scroll" style="overflow-x:auto;max-width:100%;margin:6px 0">'
        f'<img class="nbw-graph-img" alt="{escape(alt)}" width="{_width(svg)}" '
        f'src="{svg_data_uri(svg)}" usemap="#{map_name}" '
        f'style="max-width:none;margin:0;display:block"/>{_image_map(state, layout, map_name)}</div>'
        f'<table class="nbw-nodes" style="border-collapse:collapse;margin:4px 0">'
        f"<thead><tr>{head_rows}</tr></thead><tbody>{body_rows}</tbody></table>"
        f"{''.join(node_details_html(n, artifacts.get(n.id), run_id=state.run_id) for n in state.nodes.values())}"
        f"</div>"
    )


def _image_map(state: RunState, layout: Layout, name: str) -> str:
    """Hover text over each node of the image (an image has no ``<title>`` of its own)."""
    areas = "".join(
        f'<area shape="rect" coords="{x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}" '
        f'title="{escape(node_title(state.nodes[nid]))}" alt="{escape(nid)}" '
        f'href="#nbw-{escape(state.run_id)}-{escape(nid)}"/>'
        for nid, (x0, y0, x1, y1) in node_rects(layout, headline=False).items()
        if nid in state.nodes
    )
    return f'<map name="{escape(name)}">{areas}</map>'


def _width(svg: str) -> str:
    start = svg.index('width="') + 7
    return svg[start : svg.index('"', start)]


def static_bundle(
    state: RunState,
    run_dir: str | os.PathLike[str] | None,
    layout: Layout | None = None,
    redact: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """The MIME bundle that replaces the live view: ``text/html`` + ``text/plain``."""
    artifacts = load_artifacts(state, run_dir, redact=redact)
    html = render_static_html(state, run_dir=run_dir, artifacts=artifacts, layout=layout)
    return {"text/html": html, "text/plain": summary_text(state, run_dir)}


__all__ = [
    "failure_summary",
    "highlight_artifact",
    "load_artifacts",
    "node_details_html",
    "render_static_html",
    "static_bundle",
    "summary_text",
    "svg_data_uri",
]

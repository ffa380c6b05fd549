"""Drawing a run: pure layered layout and SVG, the static fallback, and the ipywidgets view.

``layout``, ``svg`` and ``static`` are pure and import no UI library; only ``view`` imports
ipywidgets (lazily, when the magic shows a live run).
"""

from __future__ import annotations

from .layout import EdgeRoute, Layout, NodeBox, layered_layout
from .static import render_static_html, static_bundle, summary_text
from .svg import layout_for, render_svg

__all__ = [
    "EdgeRoute",
    "Layout",
    "NodeBox",
    "layered_layout",
    "layout_for",
    "render_static_html",
    "render_svg",
    "static_bundle",
    "summary_text",
]

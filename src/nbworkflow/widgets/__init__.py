"""Drawing a run: pure layered layout and SVG, the static fallback, and the ipywidgets view.

``layout``, ``svg`` and ``static`` are pure and import no UI library; only ``view`` imports
ipywidgets (lazily, when the magic shows a live run). The names below load on first use, so
importing ``widgets.view`` does not pull in the run's modules before the view is on screen.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .layout import EdgeRoute, Layout, NodeBox, layered_layout
    from .static import render_static_html, static_bundle, summary_text
    from .svg import layout_for, render_svg

_WHERE = {
    "EdgeRoute": "layout",
    "Layout": "layout",
    "NodeBox": "layout",
    "layered_layout": "layout",
    "layout_for": "svg",
    "render_static_html": "static",
    "render_svg": "svg",
    "static_bundle": "static",
    "summary_text": "static",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


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

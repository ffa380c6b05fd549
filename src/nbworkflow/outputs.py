"""What a node hands to its downstream nodes: ``NodeOutput``.

It lives at the bottom layer (with ``events`` and ``config``) because the cache, the run folder
readers, resume and the CLI all hold outputs without needing anything of ``nodes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeOutput:
    """A node's result, handed to downstream nodes and saved as an artifact."""

    format: str
    """``text``, ``code`` or ``json``."""
    content: str
    """The deliverable as text (Markdown, Python source, or JSON text)."""
    data: Any = None
    """For ``json`` nodes: the parsed value."""
    rationale: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


__all__ = ["NodeOutput"]

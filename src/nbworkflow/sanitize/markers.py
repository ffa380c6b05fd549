"""Markers: what a redaction leaves in the text, and the kind names they carry."""

from __future__ import annotations

import re
from collections.abc import Callable

Replacer = Callable[[re.Match[str]], str]

MARKER_PREFIX = "[REDACTED:"
_MARKER_RE = re.compile(r"\[REDACTED:[A-Za-z0-9_.:-]+\]")
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_MAX_PASSES = 6


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Values never worth redacting everywhere, even when a secret-named variable holds them.
_TRIVIAL_VALUES = _words(
    "true false yes no on off none null nil undefined default disabled enabled "
    "localhost changeme redacted secret password token test dummy example"
)
_MIN_ENV_SECRET = 6
_MIN_KNOWN_SECRET = 4


def _marker(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


def _whole(kind: str) -> Replacer:
    marker = _marker(kind)
    return lambda m: marker


def _group(kind: str, group: str | int = "v") -> Replacer:
    """Replace only one group of the match, keeping the context around it."""
    marker = _marker(kind)

    def repl(m: re.Match[str]) -> str:
        start, end = m.span(group)
        if start < 0:
            return m.group(0)
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + marker + whole[end - base :]

    return repl


def _prev_char(m: re.Match[str], at: int | None = None) -> str:
    i = m.start() if at is None else at
    return m.string[i - 1] if i > 0 else ""


def _keep_prefix(m: re.Match[str], group: str, marker: str, suffix: str = "") -> str:
    """The match up to ``group``, then the marker (the group's text is dropped)."""
    return m.group(0)[: m.start(group) - m.start()] + marker + suffix

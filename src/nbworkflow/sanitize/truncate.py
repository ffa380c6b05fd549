"""Head-and-tail truncation that says how much was cut."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Truncation
# ---------------------------------------------------------------------------------------------

_HEAD_SHARE = 0.4  # the tail holds the exception line, so it gets the larger share
_SNAP = 0.25  # move a cut to a line boundary if that costs at most this share of the budget


def truncate_middle(text: str, max_chars: int) -> str:
    """Keep the head and the tail of ``text`` within ``max_chars`` characters, cutting the
    middle on line boundaries where possible and saying how much was cut."""
    if max_chars < 0:
        raise ValueError("max_chars must be >= 0")
    if len(text) <= max_chars:
        return text
    probe = _cut_marker(len(text), text.count("\n"))
    if max_chars < len(probe) + 20:  # no room for a marker: keep the tail (the error line)
        return text[_soft_cut_forward(text, len(text) - max_chars) :] if max_chars else ""
    budget = max_chars - len(probe) - 2
    head_end = int(budget * _HEAD_SHARE)
    tail_start = len(text) - (budget - head_end)
    nl = text.rfind("\n", 0, head_end)
    if nl >= 0 and head_end - nl <= budget * _SNAP:
        head_end = nl + 1
    else:
        head_end = _soft_cut_back(text, head_end)
    nl = text.find("\n", tail_start)
    if nl >= 0 and nl + 1 - tail_start <= budget * _SNAP:
        tail_start = nl + 1
    else:
        tail_start = _soft_cut_forward(text, tail_start)
    cut = text[head_end:tail_start]
    marker = _cut_marker(len(cut), cut.count("\n"))
    head = text[:head_end]
    sep_before = "" if head.endswith("\n") or not head else "\n"
    tail = text[tail_start:]
    out = f"{head}{sep_before}{marker}\n{tail}"
    return out if len(out) <= max_chars else out[len(out) - max_chars :]


def _cut_marker(chars: int, lines: int) -> str:
    return f"[... {chars} characters, {lines} lines truncated ...]"


def _soft_cut_back(text: str, pos: int) -> int:
    """Move a cut back to just after a space or punctuation so no token is split in two."""
    for j in range(pos, max(pos - 80, 0), -1):
        if not text[j - 1].isalnum():
            return j
    return pos


def _soft_cut_forward(text: str, pos: int) -> int:
    for j in range(pos, min(pos + 80, len(text))):
        if not text[j].isalnum():
            return j
    return pos

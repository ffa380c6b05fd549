"""The work budget: text too dense with candidate credentials to judge is withheld, not shown.

Each candidate a rule judges costs interpreter work (microseconds; a distinct credential some
ten). A text made of nothing but credentials ("token=abc0000001 token=abc0000002 ...") would
take seconds per megabyte, so one ``sanitize`` call lets each rule (each part of a chain) judge
at most ``BASE + position // PER`` candidates before any position: a log may hold a credential
every few lines and never meet it; past the point where a rule runs out, the rest of the text is
dropped and replaced by one marker saying how much was withheld and why::

    [... 812345 characters withheld unchecked: too dense with credentials to check ...]

Nothing after that point is shown unchecked; everything before it was judged by every rule. A
text that already ends with the marker (a sanitized text sanitized again) gets twice the
allowance, so redacting it again cuts nothing more: ``sanitize`` stays idempotent. A forged
marker buys at most that factor of two.
"""

from __future__ import annotations

import re

#: Candidates every rule may judge wherever they are ...
BASE = 2048
#: ... plus one per this many characters before the candidate.
PER = 128
#: The allowance of a text that already ends with the marker (sanitized before).
AGAIN = 2

_MARKER = "[... {} characters withheld unchecked: too dense with credentials to check ...]"
_MARKER_END = re.compile(
    r"\[\.\.\. [0-9]{1,12} characters withheld unchecked: too dense with credentials to check"
    r" \.\.\.\]\Z"
)


def withheld_marker(chars: int) -> str:
    return _MARKER.format(chars)


def allowance(text: str) -> tuple[int, int]:
    """(base, per): a candidate at ``pos`` may be judged while fewer than
    ``base + pos // per`` were."""
    if _MARKER_END.search(text, max(len(text) - 120, 0)):
        return BASE * AGAIN, max(PER // AGAIN, 1)
    return BASE, PER


def withhold(head: str, dropped: int) -> str:
    """``head``, then the marker on a line of its own."""
    sep = "" if not head or head.endswith("\n") else "\n"
    return f"{head}{sep}{withheld_marker(dropped)}"

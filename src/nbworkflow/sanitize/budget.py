"""The work budget: text too dense with candidate credentials to judge is withheld, not shown.

Each candidate a rule judges costs interpreter work (microseconds; a distinct credential some
ten). A text made of nothing but credentials ("token=abc0000001 token=abc0000002 ...") would
take seconds per megabyte, so in one ``sanitize`` call the rules together judge at most
``BASE + position // PER`` candidates before any position (``Ledger``): a log may hold a
credential every few lines and never meet it; past the point where the budget runs out, the
rest of the text is dropped and replaced by one marker saying how much was withheld and why::

    [... 812345 characters withheld unchecked: too dense with credentials to check ...]

Nothing after that point is shown unchecked; everything before it was judged by every rule. A
text that already ends with the marker (a sanitized text sanitized again) gets twice the
allowance, so redacting it again cuts nothing more: ``sanitize`` stays idempotent. A forged
marker buys at most that factor of two.
"""

from __future__ import annotations

import re
from bisect import bisect_right

#: What a fresh judgement costs, in verdicts looked up (``Memo``): measured, a fresh judgement
#: of a distinct credential takes 5-6 us with the judges' per-value caches warm and some 10 us
#: with them cold, a remembered verdict about 1 us. So a 10 KB text of nothing but distinct
#: credentials (``bench/sanitize.py``'s ``DISTINCT`` recipes) gets about 200 fresh judgements,
#: under 2 ms on a shared 2-core machine, while a text repeating a credential (each a lookup,
#: most counted in runs) keeps the whole allowance.
FRESH = 6
#: Candidates the rules may judge together wherever they are (a verdict looked up counts one, a
#: fresh judgement ``FRESH``) ...
BASE = 1024
#: ... plus one per this many characters before the candidate.
PER = 64
#: The allowance of a text that already ends with the marker (sanitized before).
AGAIN = 2

_MARKER = "[... {} characters withheld unchecked: too dense with credentials to check ...]"
_MARKER_END = re.compile(
    r"\[\.\.\. [0-9]{1,12} characters withheld unchecked: too dense with credentials to check"
    r" \.\.\.\]\Z"
)


def withheld_marker(chars: int) -> str:
    return _MARKER.format(chars)


def ledger(text: str) -> Ledger:
    """The budget of one ``sanitize`` call's first pass over ``text``."""
    if _MARKER_END.search(text, max(len(text) - 120, 0)):
        return Ledger(BASE * AGAIN, max(PER // AGAIN, 1))
    return Ledger(BASE, PER)


def withhold(head: str, dropped: int) -> str:
    """``head``, then the marker on a line of its own."""
    sep = "" if not head or head.endswith("\n") else "\n"
    return f"{head}{sep}{withheld_marker(dropped)}"


NEVER = 1 << 62
"""``Ledger.cut`` while nothing was refused."""
#: How far ahead ``Ledger.room`` looks for units finished stints spent (the first with room).
_HORIZONS = (4096, 512, 64)


class Ledger:
    """The candidates judged in one pass, by position: a candidate at ``at`` may be judged while
    the rules together judged less than ``base + at // per`` before ``at``.

    Rules run one after another, each over the whole text in order of position, so what the
    rules already finished spent before ``at`` is looked up by position: a rule running late is
    not refused for what the others judged after its candidate. Each unit spent is one entry
    (its position) in a sorted list, so that lookup is one bisection whatever the number of
    rules (a finished stint is merged in by ``sorted``, which merges two sorted runs in C).
    The first refusal sets ``cut`` and every rule stops there.
    """

    __slots__ = ("_done", "_key", "_pos", "base", "cut", "per")

    def __init__(self, base: int, per: int) -> None:
        self.base = base
        self.per = per
        self.cut = NEVER
        """Where the budget ran out: nothing from here on is judged or shown."""
        self._done: list[int] = []
        """The position of every unit finished stints spent, sorted (a fresh judgement is
        ``FRESH`` entries)."""
        self._key: object = None
        self._pos: list[int] = []
        """The same for the stint under way, in the order spent (ascending)."""

    def spend(self, key: object, at: int) -> bool:
        """Whether the rule (or chain part) ``key`` may judge a candidate starting at ``at``;
        counted when it may. A key's candidates come in order of position."""
        if at >= self.cut:
            return False
        pos = self._pos
        # (a new stint also when positions go back: a key reused by another rule's walk)
        if key != self._key or (pos and at < pos[-1]):
            if pos:
                self._done = sorted(self._done + pos)
            self._key = key
            pos = self._pos = []
        if len(pos) + bisect_right(self._done, at) >= self.base + at // self.per:
            self.cut = at
            return False
        pos.append(at)
        return True

    def stint(self) -> list[int]:
        """The positions the stint under way spent (``Memo.verdicts`` appends to it)."""
        return self._pos

    def room(self) -> tuple[int, int]:
        """How many more units the stint under way can spend, and below which position, before
        one could be refused: ``spend`` would accept each of them without its bisection
        (``Memo.verdicts`` appends the position to ``stint()`` itself, then ``fresh`` as usual).

        A unit at ``at`` (from the stint's last position on, before ``until``) is refused only
        when the units before ``at`` reach ``base + at // per``; the stint's own and those of
        finished stints before ``until`` bound that count, and the allowance only grows with
        ``at``. The widest horizon with room is taken: all of the text, then shorter ones, at
        the least the next unit a finished stint spent after the last position."""
        pos = self._pos
        if not pos:
            return 0, 0
        last = pos[-1]
        allowance = self.base + last // self.per - len(pos)
        done = self._done
        if len(done) < allowance:
            return allowance - len(done), self.cut
        for reach in _HORIZONS:
            until = min(last + reach, self.cut)
            spent = bisect_right(done, until - 1)
            if spent < allowance:
                return allowance - spent, until
        spent = bisect_right(done, last)
        return allowance - spent, min(done[spent] if spent < len(done) else NEVER, self.cut)

    def fresh(self) -> None:
        """The candidate just counted was judged afresh, not looked up: it costs ``FRESH``."""
        if self._pos:
            self._pos.extend([self._pos[-1]] * (FRESH - 1))

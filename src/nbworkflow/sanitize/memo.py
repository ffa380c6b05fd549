"""``Memo``: gate and judge verdicts remembered for one ``sanitize`` call (see its docstring)."""

from __future__ import annotations

import re
from collections.abc import Callable

_NEVER = 1 << 62

Span = tuple[int, int, str]
"""start, end, marker: the text[start:end] becomes the marker."""


class Memo:
    """Verdicts of gates and judges for one ``sanitize`` call, keyed by the text they can read.

    A judge reads the match and at most ``reach`` characters around it (its rule says how far),
    so the same window gives the same verdict: a text repeating one credential (a hostile or
    chatty program's output, the dense recipes in ``bench/sanitize.py``) pays the Python judge
    once per distinct window rather than once per match. The cost of a lookup is a copy and a
    hash of the window (bounded by ``reach``), so the worst case stays linear; the table holds
    at most ``MAX_ENTRIES`` windows, so memory stays bounded when every window differs.
    """

    MAX_ENTRIES = 4096

    __slots__ = ("_hits", "_spent", "_table", "budget", "cut", "off")

    def __init__(self, budget: tuple[int, int] | None = None) -> None:
        self._table: dict[tuple[object, ...], object] = {}
        self._hits = 0
        self.off = False
        """Set once the table is full and rarely hit: every window differs (a log of distinct
        credentials), so a lookup is pure cost; verdicts are computed directly from then on."""
        self.budget = budget
        """The work budget (``budget.allowance``) of the pass under way; None: unlimited."""
        self.cut = _NEVER
        """Where a rule ran out of budget: nothing from here on is judged or shown."""
        self._spent: dict[object, int] = {}

    def spend(self, rule: object, at: int) -> bool:
        """Whether ``rule`` may judge a candidate starting at ``at`` (and count it). A rule's
        candidates come in order of position; once one is refused, ``cut`` is set there and
        every rule stops at it."""
        if at >= self.cut:
            return False
        budget = self.budget
        if budget is None:
            return True
        spent = self._spent.get(rule, 0)
        if spent >= budget[0] + at // budget[1]:
            self.cut = at
            return False
        self._spent[rule] = spent + 1
        return True

    def unbudgeted(self) -> None:
        """No budget from here on (the settle passes re-read only what the first kept)."""
        self.budget = None
        self.cut = _NEVER

    def _store(self, key: tuple[object, ...], value: object) -> None:
        if len(self._table) < self.MAX_ENTRIES:
            self._table[key] = value
        elif self._hits < self.MAX_ENTRIES // 4:
            self.off = True

    def gate(
        self, gate: Callable[[str, int], bool], text: str, at: int, reach: tuple[int, int]
    ) -> bool:
        if self.off:
            return gate(text, at)
        lo = at - reach[0]
        if lo < 0:
            lo = 0
        key = (gate, text[lo : at + reach[1] + 1], at - lo)
        verdict = self._table.get(key)
        if verdict is None:
            verdict = gate(text, at)
            self._store(key, verdict)
        else:
            self._hits += 1
        return verdict is True

    def remembered(
        self,
        judge: object,
        m: re.Match[str],
        reach: tuple[int, int],
        compute: Callable[[], list[Span]],
        shift: int = 0,
    ) -> list[Span]:
        """``compute()``'s spans for match ``m``, from the table when the same window was
        judged before. ``shift``: how far the spans' coordinates lag ``m``'s (a rule that
        matched over a padded copy of the text)."""
        if self.off:
            return compute()
        start, end = m.span()
        lo = start - reach[0]
        if lo < 0:
            lo = 0
        key = (m.re, judge, m.string[lo : end + reach[1]], start - lo, end - start)
        base = start - shift
        cached = self._table.get(key)
        if cached is None:
            spans = compute()
            self._store(key, [(s - base, e - base, marker) for s, e, marker in spans])
            return spans
        self._hits += 1
        return [(s + base, e + base, marker) for s, e, marker in cached]  # type: ignore[attr-defined]

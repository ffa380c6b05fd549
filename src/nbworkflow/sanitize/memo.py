"""``Memo``: gate and judge verdicts remembered for one ``sanitize`` call (see its docstring)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import cast

from .budget import FRESH, Ledger
from .periodic import Run

Span = tuple[int, int, str]
"""start, end, marker: the text[start:end] becomes the marker."""
Judge = Callable[[re.Match[str]], str]
Reach = tuple[int, int] | Callable[[re.Match[str]], tuple[int, int]]
"""How far a judge reads around its match: fixed, or a function of the match's text (never of
its position: equal windows must get equal reaches, which the memo and ``periodic`` rely on)."""
_Pending = tuple[str, int, int, tuple[Span, ...], int]
"""A match text's first verdict kept aside: the text matched, the match's start and end, the
spans and what they are relative to (no match object: a tuple of plain values is left alone
by the garbage collector, where thousands holding matches made each collection slower)."""
_NEW = object()


class Memo:
    """Verdicts of gates and judges for one ``sanitize`` call, keyed by the text they can read.

    A judge reads the match and at most ``reach`` characters around it (its rule says how far),
    so the same window gives the same verdict: a text repeating one credential (a hostile or
    chatty program's output, the dense recipes in ``bench/sanitize.py``) pays the Python judge
    once per distinct window rather than once per match. The cost of a lookup is a copy and a
    hash of the window (bounded by ``reach``), so the worst case stays linear; the table holds
    at most ``MAX_ENTRIES`` windows, so memory stays bounded when every window differs.

    A window holds its match, so a window cannot recur before its match text has: in a dense
    search (``verdicts``), the first time a match text is seen (every candidate of a log of
    distinct credentials, whose windows run to hundreds of characters) its window is not
    copied, hashed or looked up. It is kept aside as it is (``_first``) and entered in the
    table the moment the same match text comes again (``_promote``), before that lookup: the
    table answers every lookup as if each window had been entered when it was judged. (A
    walk's windows are short and often repeat: ``remembered`` looks them up first.)
    """

    MAX_ENTRIES = 4096

    __slots__ = (
        "_first",
        "_hits",
        "_how",
        "_kept",
        "_size",
        "_table",
        "first",
        "ledger",
        "off",
        "quiet",
        "quiet_at",
    )

    def __init__(self, ledger: Ledger | None = None) -> None:
        self._table: dict[tuple[object, ...], object] = {}
        self._first: dict[tuple[object, ...], _Pending | None] = {}
        """(pattern id, judge id, match text) -> its first window's verdict, not yet in the
        table; None once it is (or once the table held a window of it)."""
        self._size = 0
        """Windows remembered: in the table or kept aside (``MAX_ENTRIES`` bounds both)."""
        self._how: dict[tuple[int, int], tuple[re.Pattern[str], Reach]] = {}
        """(pattern id, judge id) -> the pattern and reach (``table`` matches again with them)."""
        self._hits = 0
        self.off = False
        """Set once the table is full and rarely hit: every window differs (a log of distinct
        credentials), so a lookup is pure cost; verdicts are computed directly from then on."""
        self.ledger = ledger
        """The work budget of the pass under way (``budget.Ledger``); None: unlimited."""
        self.first: tuple[str, str] | None = None
        """The text the first pass's rules read, and its lower-cased copy."""
        self.quiet = 0
        """In a settle pass: the text before this is the first pass's from ``quiet_at`` on,
        unchanged (``engine._shared_prefix``). A candidate there that the first pass judged,
        with the same span, and left as it was, is not judged again when its judge's window
        ends there too: the memo would find it, at some microseconds."""
        self.quiet_at = 0
        self._kept: dict[object, dict[int, int]] = {}
        """Per stint of the first pass: start -> end of each candidate it left as it was."""

    def spend(self, rule: object, at: int) -> bool:
        """Whether ``rule`` may judge a candidate starting at ``at`` (see ``budget.Ledger``)."""
        return True if self.ledger is None else self.ledger.spend(rule, at)

    def _fresh(self) -> None:
        if self.ledger is not None:
            self.ledger.fresh()

    def _store(self, key: tuple[object, ...], value: object) -> None:
        if self._size < self.MAX_ENTRIES:
            self._table[key] = value
            self._size += 1
        elif self._hits < self.MAX_ENTRIES // 4:
            self.off = True

    def _promote(
        self, small: tuple[object, ...], pending: _Pending, window: tuple[int, int]
    ) -> None:
        """A match text seen again: its first window enters the table (as ``remembered``
        would have entered it when judged; it was counted in ``_size`` then). ``window``: the
        reach of a match of that text (a function of the match's text, never of where)."""
        text, start, end, spans, base = pending
        lo = start - window[0]
        if lo < 0:
            lo = 0
        key = (small[0], small[1], text[lo : end + window[1]], start - lo, end - start)
        self._table[key] = [(s - base, e - base, marker) for s, e, marker in spans]
        self._first[small] = None

    def table(self) -> dict[tuple[object, ...], object]:
        """Every window remembered, as one table (tests compare memos by it)."""
        for small, pending in list(self._first.items()):
            if pending is not None:
                pattern, reach = self._how[small[0], small[1]]  # type: ignore[index]
                m = pattern.match(pending[0], pending[1])
                assert m is not None and m.end() == pending[2]
                self._promote(small, pending, reach if isinstance(reach, tuple) else reach(m))
        return self._table

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
        compute: Callable[..., list[Span]],
        args: tuple[object, ...],
        shift: int = 0,
    ) -> list[Span]:
        """``compute(*args)``'s spans for match ``m``, from the table when the same window was
        judged before. ``shift``: how far the spans' coordinates lag ``m``'s (a rule that
        matched over a padded copy of the text)."""
        if self.off:
            self._fresh()
            return compute(*args)
        start, end = m.span()
        base = start - shift
        lo = start - reach[0]
        if lo < 0:
            lo = 0
        # ids, not the objects: a pattern hashes its compiled code and a frozen rule all its
        # fields, microseconds per lookup (both live as long as the call)
        key = (id(m.re), id(judge), m.string[lo : end + reach[1]], start - lo, end - start)
        cached = self._table.get(key)
        if cached is None:
            # (the window first: a walk's windows are short, and a repeated one is found at
            # one lookup; only a miss asks whether ``verdicts`` kept the match text aside)
            small = (id(m.re), id(judge), m.string[start:end])
            pending = self._first.get(small, _NEW)
            if pending is not _NEW and pending is not None:
                self._promote(small, cast(_Pending, pending), reach)
                cached = self._table.get(key)
        if cached is None:
            self._fresh()
            spans = compute(*args)
            if self._size < self.MAX_ENTRIES and pending is _NEW:
                self._first[small] = None  # (its windows go to the table, as this one)
            self._store(key, [(s - base, e - base, marker) for s, e, marker in spans])
            return spans
        self._hits += 1
        return [(s + base, e + base, marker) for s, e, marker in cached]  # type: ignore[attr-defined]

    def verdicts(
        self,
        matches: Iterable[re.Match[str] | Run],
        stint: object,
        judge: Judge,
        reach: Reach,
        compute: Callable[[re.Match[str], Judge], list[Span]],
    ) -> list[Span]:
        """The spans of every match, each paid for with ``spend(stint, start)`` and judged as
        ``remembered`` would (``compute(m, judge)``), up to the first the budget refuses.

        The loop of ``spend`` and ``remembered`` in one frame: on text repeating a credential
        almost every match is a remembered verdict, and the calls between them were most of
        its cost (``tests/test_sanitize_dense.py`` checks the spans are the walk's). Two
        shortcuts decide exactly as the plain path (``tests/test_sanitize_budget.py`` checks
        both): a unit the ledger cannot refuse is counted without its bisection
        (``Ledger.room``), and a window equal to the previous candidate's reuses its verdict
        without a copy, a hash or a lookup (a line repeating one credential repeats windows).
        A ``periodic.Run`` (``dense.with_runs``) is that many candidates repeating the last:
        that many remembered verdicts, counted in stretches the ledger has room for (one by
        one between them); matched again and judged one by one (``_repeats``) only when the
        last verdict is not remembered (the table full or off).
        """
        out: list[Span] = []
        append = out.append
        ledger = self.ledger
        table = self._table
        fixed = reach if isinstance(reach, tuple) else None
        judge_id = id(judge)
        pos: list[int] = []
        # units the stint under way may still spend below ``until`` without a bisection
        room = until = 0
        hits = 0
        off = self.off
        # the previous candidate's key, as its parts: a window equal to it is found by one
        # comparison in place (C, no copy) rather than by a copy, a hash and a lookup
        prev_re: object = None
        prev_window = ""
        prev_rel = prev_len = -1
        prev_spans: list[Span] = []
        prev_base = 0  # ``prev_spans`` are relative to it (0: to their candidate's start)
        valid: object = None  # the match whose verdict ``prev_spans`` holds
        first = self._first
        registered = False  # (``_how`` holds this call's pattern and reach)
        quiet, quiet_at = self.quiet, self.quiet_at
        kept = self._kept.get(stint, {}) if quiet else {}
        # (the first pass notes where it left candidates as they were, for the settle pass)
        keep = self._kept.setdefault(stint, {}) if ledger is not None else None
        for m in matches:
            if isinstance(m, Run):
                if off or m.template is not valid:
                    # (the table full or off: each matched again and judged as usual)
                    out += self._repeats(m, stint, judge, reach, compute, hits)
                    hits, room, off, valid = 0, 0, self.off, None
                    if ledger is not None and ledger.cut <= m.template.start() + m.count * m.step:
                        break  # (one was refused: so is every later one)
                    continue
                # each repeat is the template's candidate shifted, its window the same: a
                # remembered verdict, as the table would give; counted in stretches the
                # ledger has room for, one by one (exactly) where it has none
                step = m.step
                at = m.template.start() + step
                stop = at + m.count * step
                while at < stop:
                    if ledger is None:
                        many = (stop - at) // step
                    elif room > 0 and pos[-1] <= at < until:
                        many = min(room, (stop - at) // step, (until - at + step - 1) // step)
                        pos += range(at, at + many * step, step)
                        room -= many
                    elif ledger.spend(stint, at):
                        pos = ledger.stint()
                        room, until = ledger.room()
                        many = 1
                    else:
                        break
                    hits += many
                    until_at = at + many * step
                    if len(prev_spans) == 1:  # (the usual verdict: one span; built in C)
                        s, e, marker = prev_spans[0]
                        s -= prev_base
                        e -= prev_base
                        out += zip(
                            range(at + s, until_at + s, step),
                            range(at + e, until_at + e, step),
                            repeat(marker, many),
                            strict=True,
                        )
                    else:
                        for shift in range(at - prev_base, until_at - prev_base, step):
                            for s, e, marker in prev_spans:
                                append((s + shift, e + shift, marker))
                    at = until_at
                if at < stop:
                    break
                continue
            start, end = m.span()
            if quiet and start < quiet and kept.get(start + quiet_at) == end + quiet_at:
                window = fixed if fixed is not None else reach(m)  # type: ignore[operator]
                if end + window[1] <= quiet:
                    valid = None  # (its verdict: nothing, as in the first pass)
                    continue
            if ledger is not None:
                if room > 0 and pos[-1] <= start < until:
                    room -= 1
                    pos.append(start)
                elif not ledger.spend(stint, start):
                    break
                else:
                    pos = ledger.stint()
                    room, until = ledger.room()
            if off:
                self._fresh()
                room -= FRESH - 1
                valid = None
                out += compute(m, judge)
                continue
            text = m.string
            window = None
            if end - start == prev_len and m.re is prev_re:
                # (first: a line repeating one credential repeats windows, and this needs no
                # copy, no hash and no lookup)
                window = fixed if fixed is not None else reach(m)  # type: ignore[operator]
                lo = start - window[0]
                if lo < 0:
                    lo = 0
                if (
                    start - lo == prev_rel
                    and text.startswith(prev_window, lo)
                    and min(end + window[1], len(text)) - lo == len(prev_window)
                ):
                    hits += 1
                    valid = m
                    if keep is not None and not prev_spans:
                        keep[start] = end
                    for s, e, marker in prev_spans:
                        append((s + start, e + start, marker))
                    continue
            small = (id(m.re), judge_id, text[start:end])
            pending = first.get(small, _NEW)
            if pending is _NEW:
                # a match text never seen: its window cannot be in the table (a window holds
                # its match), so it is judged without copying and hashing the window, and kept
                # aside until the same match text comes again (``_promote``)
                if ledger is not None:  # (``Ledger.fresh``, inline)
                    pos += (start,) * (FRESH - 1)
                    room -= FRESH - 1
                spans = compute(m, judge)
                out += spans
                if keep is not None and not spans:
                    keep[start] = end
                prev_re = None  # (a window equal to this one comes only with its match text)
                if self._size >= self.MAX_ENTRIES:  # (``_store``, inline)
                    if self._hits + hits < self.MAX_ENTRIES // 4:
                        off = self.off = True
                    valid = None
                    continue
                self._size += 1
                first[small] = (text, start, end, tuple(spans), start)
                if not registered:
                    self._how[id(m.re), judge_id] = (m.re, reach)
                    registered = True
                prev_spans, prev_base, valid = spans, start, m
                continue
            if window is None:
                window = fixed if fixed is not None else reach(m)  # type: ignore[operator]
                lo = start - window[0]
                if lo < 0:
                    lo = 0
            if pending is not None:
                self._promote(small, cast(_Pending, pending), window)
            window_text = text[lo : end + window[1]]
            key = (id(m.re), judge_id, window_text, start - lo, end - start)
            cached = cast("list[Span] | None", table.get(key))
            if cached is None:
                if ledger is not None:  # (``Ledger.fresh``, inline)
                    pos += (start,) * (FRESH - 1)
                    room -= FRESH - 1
                spans = compute(m, judge)
                if self._size >= self.MAX_ENTRIES:  # (``_store``, inline)
                    if self._hits + hits < self.MAX_ENTRIES // 4:
                        off = self.off = True
                    # not stored: the next equal window is judged afresh too
                    prev_re = None
                    valid = None
                    out += spans
                    if keep is not None and not spans:
                        keep[start] = end
                    continue
                self._size += 1
                cached = [(s - start, e - start, mark) for s, e, mark in spans]
                table[key] = cached
            else:
                hits += 1
            prev_re, prev_window, prev_rel, prev_len = m.re, window_text, start - lo, end - start
            prev_spans = cached
            prev_base = 0
            valid = m
            if keep is not None and not cached:
                keep[start] = end
            for s, e, marker in cached:
                append((s + start, e + start, marker))
        self._hits += hits
        return out

    def _repeats(
        self,
        run: Run,
        stint: object,
        judge: Judge,
        reach: Reach,
        compute: Callable[[re.Match[str], Judge], list[Span]],
        hits: int,
    ) -> list[Span]:
        """A run whose template's verdict is not remembered (the table full or off): its
        candidates matched again and judged one by one (``verdicts`` on them)."""
        self._hits += hits
        template = run.template
        first = template.start()
        again = (
            template.re.match(template.string, first + k * run.step)
            for k in range(1, run.count + 1)
        )
        return self.verdicts((m for m in again if m is not None), stint, judge, reach, compute)

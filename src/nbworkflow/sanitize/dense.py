"""Candidates found in C when anchor hits are dense: the same matches as the per-anchor walk.

The engine's walk tries a rule's regex at every anchor hit, paying some microseconds of
interpreter work per hit. On text made of keywords ("key=key=...", "token token ...") that is
almost all the cost, and almost every hit fails. There a rule's regex is *searched* instead
(``search`` skips ahead in C on its leading literal), so Python runs only where the regex
matches; each match is then checked the way the walk would (an anchor at its start, the gate)
and matched again on the original text, so the judged matches are the walk's, in its order.
``tests/test_sanitize_dense.py`` compares the two on random text.

Case-insensitive rules find anchors in the lower-cased copy; their regex is searched there too,
without IGNORECASE (the engine skips no work then: a case-insensitive search tries its leading
alternation at every position, 10x slower). That is the same match only when lower-casing
cannot change what the regex reads: ``search_form`` refuses a pattern with an upper-case
letter outside ``A-Za-z`` or an escape, and callers skip texts holding a character that
case-folds to ASCII from outside it (``FOLDS_TO_ASCII``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import cast

from . import periodic

#: Anchor hits denser than one per this many characters: search in C rather than walk.
DENSE = 64
#: Non-ASCII characters that case-insensitive matching equates with ASCII letters (the
#: Kelvin sign, the long s, the dotted and the dotless i): text holding one is walked.
FOLDS_TO_ASCII = re.compile("[\u017f\u212a\u0130\u0131]")


def folds_to_ascii(text: str) -> bool:
    """Whether ``text`` holds one of ``FOLDS_TO_ASCII`` (an ASCII text, the usual, cannot:
    ``isascii`` answers that without a scan)."""
    return not text.isascii() and FOLDS_TO_ASCII.search(text) is not None


_LEADING_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")
_SAFE_UPPER = re.compile(r"\\[A-Za-z]|A-Za-z|\(\?P[<=]")
_UPPER = re.compile("[A-Z]")

Gate = Callable[[str, int], bool]


@functools.lru_cache(maxsize=256)
def search_form(regex: re.Pattern[str], lowered: bool) -> re.Pattern[str] | None:
    """The pattern to search the haystack with: ``regex`` itself for the original text; for the
    lower-cased copy, ``regex`` without IGNORECASE, or None when that could match differently
    (a case-sensitive regex, or an upper-case letter the lower-cased text never holds)."""
    if not lowered:
        return regex
    if not regex.flags & re.IGNORECASE:
        return None
    body = regex.pattern
    lead = _LEADING_FLAGS.match(body)
    if lead is not None:
        body = body[lead.end() :]
    if _UPPER.search(_SAFE_UPPER.sub("", body)):
        return None
    return re.compile(body, regex.flags & ~re.IGNORECASE)


def matches(
    haystack: str,
    text: str,
    regex: re.Pattern[str],
    search: re.Pattern[str],
    anchors: tuple[str, ...],
    offset: int,
    gate: Gate | None,
    lead: re.Pattern[str] | None = None,
    stop: int | None = None,
) -> Iterator[re.Match[str]]:
    """The matches the per-anchor walk would judge, in order: at an anchor hit (``offset``
    after the match start), not inside a match already yielded, passing ``gate``.

    ``search`` finds the leftmost place the regex can match at or after a position; ``lead``,
    when given, finds candidates by what must come before them instead (``--db-password``: a
    dash, then letters up to the secret word): its match *ends* where the regex starts.
    ``stop``: no candidate starting there or later is wanted (the work budget's cut): the
    searches end as soon as what follows cannot change one before it (``_search_end``).
    """
    # (no reach: no runs)
    found = _candidates(haystack, text, regex, search, anchors, offset, gate, lead, None, stop)
    yield from cast(Iterator[re.Match[str]], found)


def with_runs(
    haystack: str,
    text: str,
    regex: re.Pattern[str],
    search: re.Pattern[str],
    anchors: tuple[str, ...],
    offset: int,
    gate: Gate | None,
    lead: re.Pattern[str] | None,
    reach: tuple[int, int],
    stop: int | None = None,
) -> Iterator[re.Match[str] | periodic.Run]:
    """``matches``, with candidates that repeat the last one in a stretch of text repeating
    them reported as one ``periodic.Run`` (see ``periodic``). ``reach``: how far the gate and
    the judges read around a candidate (the rule's ``reach``, which the memo relies on too)."""
    return _candidates(haystack, text, regex, search, anchors, offset, gate, lead, reach, stop)


def _candidates(
    haystack: str,
    text: str,
    regex: re.Pattern[str],
    search: re.Pattern[str],
    anchors: tuple[str, ...],
    offset: int,
    gate: Gate | None,
    lead: re.Pattern[str] | None,
    reach: tuple[int, int] | None,
    stop: int | None,
) -> Iterator[re.Match[str] | periodic.Run]:
    """``matches`` and ``with_runs``: runs only given a ``reach`` (and no lead)."""
    if lead is not None:
        yield from _led(haystack, text, regex, lead, anchors, offset, gate, stop)
        return
    anchor = _alternation(anchors).match
    bounds = None
    if reach is not None and periodic.ENABLED:
        bounds = _run_bounds(regex, search, offset, anchors, reach)
    end = _search_end(stop, len(haystack), regex, search)
    yield from _searched(haystack, text, regex, search, anchor, offset, gate, bounds, end)


def _search_end(stop: int | None, size: int, *patterns: re.Pattern[str]) -> int:
    """Where searches for candidates starting before ``stop`` may end: past all an attempt
    before ``stop`` can read (the patterns' reads, plus 2: ``$`` also looks at the end and a
    newline before it), so each such attempt finds what it would in the whole text. The whole
    text when there is no stop or the reads are not known."""
    if stop is None or stop >= size:
        return size
    widest = 0
    for pattern in patterns:
        reads = periodic.reads(pattern)
        if reads is None:
            return size
        widest = max(widest, reads[1])
    return min(size, stop + widest + 2)


def _led(
    haystack: str,
    text: str,
    regex: re.Pattern[str],
    lead: re.Pattern[str],
    anchors: tuple[str, ...],
    offset: int,
    gate: Gate | None,
    stop: int | None = None,
) -> Iterator[re.Match[str]]:
    """``matches`` with a lead."""
    anchor = _alternation(anchors).match
    size = len(haystack)
    end = _search_end(stop, size, lead)
    last = 0  # the walk's "judged up to": no start before it is tried again
    pos = 0
    while pos <= size:
        found = lead.search(haystack, pos, end)
        if found is None:
            return
        dash = found.start()
        pos = dash + 1
        # the lead's own start (the nearest), then the rest of the dash's letters: tried only
        # when the nearest was not judged (it is before the mark, or failed a check)
        for start in range(max(found.end(), last), _run_end(haystack, dash) + 1):
            if anchor(haystack, start + offset) is None:
                continue
            if gate is not None and not gate(text, start):
                continue
            m = regex.match(text, start)  # the match the walk makes, on the original text
            if m is None:
                continue
            yield m
            last = max(m.end(), start + 1)
            # a dash before the mark whose letters run past it still leads to starts after it
            pos = max(pos, _resume(haystack, last))
            break


def _searched(
    haystack: str,
    text: str,
    regex: re.Pattern[str],
    search: re.Pattern[str],
    anchor: Callable[[str, int], re.Match[str] | None],
    offset: int,
    gate: Gate | None,
    bounds: tuple[int, int] | None = None,
    endpos: int | None = None,
) -> Iterator[re.Match[str] | periodic.Run]:
    """``matches`` without a lead: each search finds one start (the hot loop of dense text).

    ``bounds`` (``_run_bounds``): a candidate at ``s`` reads nothing outside
    ``[s - bounds[0], s + bounds[1])``; given, repeats are reported as runs. The stretch from
    one candidate's search (its origin) to the next origin is a segment: when one reads only
    text that repeats with the segment's length as period, the next segment is the same shifted
    by that period, and so on while what they read still lies in the repeating stretch.
    ``endpos``: where the searches stop (``_search_end``)."""
    find = search.search
    if endpos is None:
        endpos = len(haystack)
    # the haystack is the text itself (exact anchors, or a text lower-casing leaves as it is:
    # the search form then matches as the regex does, see ``search_form``): no second match
    rematch = None if haystack is text else regex.match
    pos = origin = 0
    step = rel = -1  # the last segment's length, and where in it its candidate started
    skip = skip_step = -1  # no run of that period can start before ``skip`` (none repeats)
    misses = wait = 0  # looks for a run that found none in a row; segments to pass unlooked
    while True:
        found = find(haystack, pos, endpos)
        if found is None:
            return
        start = found.start()
        if anchor(haystack, start + offset) is None or (gate is not None and not gate(text, start)):
            pos = start + 1
            continue
        # the match the walk makes (on the original text); the search's own when it is one
        m = found if rematch is None else rematch(text, start)
        if m is None:
            pos = start + 1
            continue
        yield m
        end = m.end()
        pos = end if end > start else start + 1
        if bounds is None:
            continue
        # a run is looked for only where a segment repeats the last one's shape (two ints),
        # and not while waiting after misses (below)
        if pos - origin != step or start - origin != rel or wait:
            if wait:
                wait -= 1
            step, rel, origin = pos - origin, start - origin, pos
            continue
        first = origin - bounds[0]  # the first character this segment read
        if first < 0 or (step == skip_step and first < skip):
            origin = pos
            continue
        hi = periodic.extent(text, first, step)
        if haystack is not text:
            hi = min(hi, periodic.extent(haystack, first, step))
        count = (hi - start - bounds[1]) // step
        if count < 1:
            # the same period cannot repeat before the first character that broke it; and
            # where segments of one shape differ (a counter in each), a look costs more than
            # it finds: the next ones wait, longer after each miss (at most ``_PATIENCE``)
            skip, skip_step = hi - step + 1, step
            misses = min(2 * misses + 1, _PATIENCE)
            wait = misses
            origin = pos
            continue
        misses = 0
        yield periodic.Run(m, step, count)
        pos += count * step
        origin = pos
        step = rel = -1


#: At most this many segments pass without a look for a run after looks that found none.
_PATIENCE = 63


@functools.lru_cache(maxsize=256)
def _run_bounds(
    regex: re.Pattern[str],
    search: re.Pattern[str],
    offset: int,
    anchors: tuple[str, ...],
    reach: tuple[int, int],
) -> tuple[int, int] | None:
    """How far before and after a candidate's start ``_searched`` and the rule read: the
    patterns (``periodic.reads``; the search's tries from the previous end on are covered by
    the same bound), the anchor, the gate and the judges (``reach``, around the match); None
    when runs are off or a pattern's reads are unbounded."""
    own, searched = periodic.reads(regex), periodic.reads(search)
    if own is None or searched is None:
        return None
    width = max(own[1], searched[1])
    back = max(own[0], searched[0], reach[0] + 1)
    ahead = max(width + reach[1], offset + max(map(len, anchors), default=0), reach[1]) + 1
    return back, ahead


@functools.lru_cache(maxsize=64)
def _alternation(anchors: tuple[str, ...]) -> re.Pattern[str]:
    """Whether an anchor starts at a position, in one C call (the longest tried first)."""
    return re.compile("|".join(re.escape(a) for a in sorted(anchors, key=len, reverse=True)))


def _run_end(haystack: str, dash: int) -> int:
    """Where the ASCII letters and digits after ``dash`` end (at most 64 after it)."""
    stop = min(dash + 65, len(haystack))
    j = dash + 1
    while j < stop and haystack[j].isascii() and haystack[j].isalnum():
        j += 1
    return j


def _resume(haystack: str, last: int) -> int:
    """Where a lead search goes on after a match ending at ``last``: at the dash whose letters
    reach ``last`` (a start there may follow the match), else at ``last``."""
    dash = haystack.rfind("-", max(last - 64, 0), last)
    if dash >= 0 and _run_end(haystack, dash) >= last:
        return dash
    return last

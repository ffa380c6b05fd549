"""The engine: every rule reports spans over the same text; spans are merged and replaced once.

Over 400 lines on purpose: the anchored walks, the pass and its settle step share the
invariants below (each position tried once, bounded reads), which are easier to check together.

Why spans: when rules rewrote the text one after another, a marker inserted by one rule hid the
rest of a token from the others, and a secret came out in pieces (a Discord token's middle part,
Airtable's hex half). Now every rule sees the whole text, overlapping or touching spans are merged,
and each merged span becomes one marker (the kind of the earliest rule that found part of it).

Why linear: Python's ``re`` backtracks, so a pattern with an unbounded repeat that is tried at
every keyword of a long line costs O(line) per keyword, O(n^2) in all. Here:

- every pattern a rule runs over the text has a bounded width (``{m,n}`` repeats only), except the
  token scan's delimiter-led possessive run, which each character enters at most once;
  ``tests/test_sanitize_linear.py`` checks this on the compiled patterns;
- a rule tries each start position at most once and never looks back inside a match it already
  judged (``_Rule.spans``), and judges read at most ``CONTEXT`` characters around a match;
- a pass is repeated at most ``_MAX_PASSES`` times, and input above ``MAX_SCAN_CHARS`` keeps its
  head and tail only (the middle is dropped and marked) before any rule runs.

So the cost is at most (number of rules) x (widest pattern) x (text length), whatever the text.

Why fast: the cost that is left is interpreter work per anchor hit and per match. A judge's
verdict is remembered per call, keyed by the window of text it can read (``Memo``; a rule opts
in by declaring its ``reach``): a line repeating one credential is judged once. A lookup costs a
copy and a hash of that bounded window, so the bound above still holds. Where a rule's anchors
hit densely, its regex is searched in C instead of tried at each hit (``dense``: the same
matches, Python only where one is found); where that search finds candidates repeating the last
one in a stretch of text that repeats, they are one run, counted at once (``periodic``: bounded
by what the patterns and the rule's ``reach`` read, so it is exact). Text too dense with
candidates to judge at all meets the work budget (``budget``): past where it runs out, the rest
is withheld under one marker.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter

from . import budget, dense
from .markers import _MARKER_RE, _MAX_PASSES, MARKER_PREFIX
from .memo import Memo, Reach, Span

Replacer = Callable[[re.Match[str]], str]

#: How far a judge may look around a match (line start, the name before a value).
CONTEXT = 256
#: Longer input keeps its head and tail only: the cost of one call is bounded whatever the input.
MAX_SCAN_CHARS = 2_000_000


@dataclass(frozen=True)
class _Rule:
    """One redaction rule: a precompiled regex, run only when a trigger substring is present.

    Python's regex engine is fast only when a pattern starts with a literal; a pattern that
    starts with a class or a case-insensitive word is tried at every position (~1 ms per
    100 KB per rule). Such rules name ``anchors`` instead: lower-case literals found with
    ``str.find`` (C speed); the regex is then only *matched* at ``anchor - offset``.
    """

    kind: str
    regex: re.Pattern[str]
    repl: Replacer
    triggers: tuple[str, ...] = ()
    """Lower-case substrings; the rule runs only if one occurs in the lower-cased text."""
    case_sensitive_triggers: tuple[str, ...] = ()
    """Exact substrings; checked against the original text (cheaper, no lowering)."""
    literal: str | None = None
    """For exact values: found with ``str.find`` (C speed) instead of the regex."""
    anchors: tuple[str, ...] = ()
    """Lower-case literals where a match can start (``offset`` characters before them)."""
    offset: int = 0
    exact_anchors: bool = False
    """Find ``anchors`` in the original text (case-sensitive) rather than the lower-cased one."""
    scans_text: bool = True
    """Whether ``regex`` runs over the whole text (and so must be linear; see the module doc)."""
    gate: Callable[[str, int], bool] | None = None
    """A cheap check at an anchor (bounded look-around) before the regex is tried there."""
    reach: tuple[int, int] | None = None
    """How far before a match's start and after its end the gate and judges read. When set,
    their verdicts are remembered for one call, keyed by the text in that window (they are pure
    functions of it): a line repeating one credential pays the Python judge once."""
    fixed: str | None = None
    """For rewriting rules: the replacement when it does not depend on the match (``~``), so
    ``re.sub`` does the whole rewrite in C."""

    def applies(self, text: str, lower: str) -> bool:
        if not self.triggers and not self.case_sensitive_triggers:
            return True
        return any(t in lower for t in self.triggers) or any(
            t in text for t in self.case_sensitive_triggers
        )

    def present(self, text: str, lower: str, found: dict[object, list[int]] | None = None) -> bool:
        """Whether the rule can match anywhere in ``text`` (its triggers; anchors are found
        by ``spans`` itself, in one scan shared by the rules with the same anchors). A trigger
        holding one of ``_BASES`` ("key=", "PRIVATE KEY") is checked at that base's few hits
        rather than by another scan of the whole text."""
        if found is None or (not self.triggers and not self.case_sensitive_triggers):
            return self.applies(text, lower)
        for trigger in self.triggers:
            if _holds(lower, trigger, False, lower, found):
                return True
        return any(
            _holds(text, trigger, True, lower, found) for trigger in self.case_sensitive_triggers
        )

    def patterns(self) -> list[re.Pattern[str]]:
        """The patterns this rule runs over the whole text (checked for linearity by tests)."""
        return [self.regex] if self.scans_text and self.literal is None else []

    def span_list(
        self, text: str, lower: str, found: dict[object, list[int]], memo: Memo | None
    ) -> list[Span]:
        """``spans`` as a list (what a pass takes; a rule may build it without generators)."""
        return list(self.spans(text, lower, found, memo))

    def spans(
        self,
        text: str,
        lower: str,
        found: dict[object, list[int]] | None = None,
        memo: Memo | None = None,
    ) -> Iterator[Span]:
        """Spans to replace. ``found`` caches anchor positions for one text (rules sharing
        anchors share one scan); ``memo`` remembers verdicts for one call (see ``reach``)."""
        if self.literal is not None:
            marker = _marker_of(self.kind)
            size = len(self.literal)
            i = text.find(self.literal)
            while i >= 0:
                yield i, i + size, marker
                i = text.find(self.literal, i + size)
            return
        if not self.anchors:
            for match in self.regex.finditer(text):
                yield from _judged(match, self.repl)
            return
        haystack = text if self.exact_anchors else lower
        hits = _positions(haystack, self.anchors, self.exact_anchors, found, lower)
        last = 0
        offset = self.offset
        reach = self.reach if memo is not None else None
        gate, regex, repl = self.gate, self.regex, self.repl
        # (a gate that runs before the regex is what keeps this rule cheap: walk it)
        search = None
        if gate is None or reach is not None:
            search = _dense_search(regex, self.exact_anchors, text, hits, found)
        if search is not None:
            # (the gate asked directly: a search of a line's head in C costs less than a lookup)
            stop = _stop(memo)
            if memo is not None and reach is not None:
                runs = dense.with_runs(
                    haystack,
                    text,
                    regex,
                    search,
                    self.anchors,
                    offset,
                    gate,
                    None,
                    reach,
                    stop,
                )
                yield from memo.verdicts(runs, id(self), repl, reach, _judged_list)
                return
            candidates = dense.matches(
                haystack, text, regex, search, self.anchors, offset, gate, None, stop
            )
            for found_m in candidates:
                if memo is not None and not memo.spend(id(self), found_m.start()):
                    return
                yield from _verdict(found_m, repl, reach, memo)
            return
        for hit in hits:
            start = hit - offset
            # a start inside a match already judged is not tried again: each position is
            # tried at most once, and a judged match is never re-read from inside
            if start < last or start < 0:
                continue
            if reach is None:
                if gate is not None and not gate(text, start):
                    continue
                m = regex.match(text, start)
                if m is None:
                    continue
                if memo is not None and not memo.spend(id(self), start):
                    return
                last = max(m.end(), start + 1)
                yield from _judged(m, repl)
                continue
            assert memo is not None
            # the bounded match (C) before the gate (Python): most anchors fail it
            m = regex.match(text, start)
            if m is None:
                continue
            if gate is not None and not memo.gate(gate, text, start, reach):
                continue
            if not memo.spend(id(self), start):
                return
            last = max(m.end(), start + 1)
            yield from memo.remembered(repl, m, reach, _judged_list, (m, repl))


Part = tuple[re.Pattern[str], Replacer, Callable[[str, int], bool] | None]


@dataclass(frozen=True)
class _Chain(_Rule):
    """Several regexes tried at the same anchors in one walk (``name=value`` pairs, flags,
    SQL literals and messages all start at a secret word): the per-anchor cost of the Python
    loop is paid once, not once per regex. Each part keeps its own "judged up to" mark."""

    parts: tuple[Part, ...] = ()
    leads: tuple[re.Pattern[str] | None, ...] = ()
    """Per part, optionally: what must come before a match (``dense.matches``' ``lead``)."""
    reaches: tuple[Reach, ...] = ()
    """Per part, how far its judge reads (``reach``, or a function of the match when that
    depends on it; a smaller window is a cheaper and more often repeated memo key); default:
    the chain's ``reach`` for every part."""

    def _reaches(self, memo: Memo | None) -> tuple[Reach | None, ...]:
        if memo is None or self.reach is None:
            return (None,) * len(self.parts)
        return self.reaches or (self.reach,) * len(self.parts)

    def patterns(self) -> list[re.Pattern[str]]:
        return [regex for regex, _, _ in self.parts] + [p for p in self.leads if p is not None]

    def spans(
        self,
        text: str,
        lower: str,
        found: dict[object, list[int]] | None = None,
        memo: Memo | None = None,
    ) -> Iterator[Span]:
        haystack = text if self.exact_anchors else lower
        hits = _positions(haystack, self.anchors, self.exact_anchors, found, lower)
        parts = self.parts
        if _dense_text(text, hits, self.exact_anchors, found):
            yield from self._dense_list(haystack, text, memo)
            return
        last = [0] * len(parts)
        offset = self.offset
        reaches = self._reaches(memo)
        for hit in hits:
            start = hit - offset
            if start < 0:
                continue
            for k, (regex, repl, gate) in enumerate(parts):
                # a part's gate is a cheap look at a few characters: it runs first, unremembered
                if start < last[k] or (gate is not None and not gate(text, start)):
                    continue
                m = regex.match(text, start)
                if m is None:
                    continue
                # (one key for the walk: its parts' candidates come in order of position)
                if memo is not None and not memo.spend(id(self), start):
                    return  # (every later start is past the cut too)
                last[k] = max(m.end(), start + 1)
                yield from _verdict(m, repl, reaches[k], memo)

    def span_list(
        self, text: str, lower: str, found: dict[object, list[int]], memo: Memo | None
    ) -> list[Span]:
        # (dense text: the parts' lists joined, no generator between them and the pass; a
        # text dense with redactions yields one span every few characters)
        haystack = text if self.exact_anchors else lower
        hits = _positions(haystack, self.anchors, self.exact_anchors, found, lower)
        if _dense_text(text, hits, self.exact_anchors, found):
            return self._dense_list(haystack, text, memo)
        return list(self.spans(text, lower, found, memo))

    def _dense_list(self, haystack: str, text: str, memo: Memo | None) -> list[Span]:
        """Each part searched on its own (each keeps its own mark, as in the walk); a part whose
        regex cannot be searched in the haystack is walked over the anchors alone."""
        out: list[Span] = []
        reaches = self._reaches(memo)
        leads = self.leads or (None,) * len(self.parts)
        for k, ((regex, repl, gate), lead) in enumerate(zip(self.parts, leads, strict=True)):
            search = dense.search_form(regex, not self.exact_anchors)
            if search is None or (gate is not None and lead is None):
                only = _Rule(
                    self.kind,
                    regex,
                    repl,
                    anchors=self.anchors,
                    offset=self.offset,
                    exact_anchors=self.exact_anchors,
                    gate=gate,
                    # (a reach that depends on the match: the chain's, which holds it)
                    reach=fixed if isinstance(fixed := reaches[k], tuple) else self.reach,
                )
                out += only.spans(text, haystack, None, memo)
                continue
            reach = reaches[k]
            stop = _stop(memo)
            if memo is not None and reach is not None and self.reach is not None:
                # (runs: the chain's reach bounds what every part's gate and judge read)
                runs = dense.with_runs(
                    haystack,
                    text,
                    regex,
                    search,
                    self.anchors,
                    self.offset,
                    gate,
                    lead,
                    self.reach,
                    stop,
                )
                out += memo.verdicts(runs, (id(self), k), repl, reach, _judged_list)
                continue
            found = dense.matches(
                haystack, text, regex, search, self.anchors, self.offset, gate, lead, stop
            )
            for m in found:
                if memo is not None and not memo.spend((id(self), k), m.start()):
                    break
                out += _verdict(m, repl, reach, memo)
        return out


def _dense_text(
    text: str, hits: list[int], exact: bool, found: dict[object, list[int]] | None
) -> bool:
    """Whether anchor hits are dense enough that a regex search (C) beats trying each hit."""
    if len(hits) * dense.DENSE <= len(text):
        return False
    if exact:
        return True
    if found is None:
        return not dense.folds_to_ascii(text)
    key = ("folds",)
    folds = found.get(key)
    if folds is None:
        folds = found[key] = [1] if dense.folds_to_ascii(text) else []
    return not folds


def _stop(memo: Memo | None) -> int | None:
    """Where the work budget cut (no candidate from there on is judged), if it did."""
    if memo is None or memo.ledger is None or memo.ledger.cut >= budget.NEVER:
        return None
    return memo.ledger.cut


def _dense_search(
    regex: re.Pattern[str],
    exact: bool,
    text: str,
    hits: list[int],
    found: dict[object, list[int]] | None,
) -> re.Pattern[str] | None:
    if not _dense_text(text, hits, exact, found):
        return None
    return dense.search_form(regex, not exact)


def _positions(
    haystack: str,
    anchors: tuple[str, ...],
    exact: bool,
    found: dict[object, list[int]] | None,
    lower: str | None = None,
) -> list[int]:
    """Sorted start positions of the anchors: one literal scan per anchor (C speed; a regex
    alternation of literals is several times slower), shared through ``found`` by the rules
    of one pass (name=value, flags and messages share their secret-word anchors). With
    ``lower``, an anchor holding one of ``_BASES`` is found from that base's hits instead."""
    if found is not None:
        cached = found.get((anchors, exact))
        if cached is not None:
            return cached
    hits: list[int] = []
    for anchor in anchors:
        derived = None
        if lower is not None and found is not None:
            derived = _derived(anchor, haystack, exact, lower, found)
        hits += derived if derived is not None else _scan(haystack, anchor)
    hits.sort()
    if found is not None:
        found[(anchors, exact)] = hits
    return hits


#: Anchors every pass scans anyway (their rules have no triggers). A longer anchor holding one
#: ("authorization", "KeyError: ", a webhook's "https://...") is found by checking the base's
#: few hits rather than by another scan of the whole text (some 50 us per 100 KB each).
_BASES = ("//", "key", "auth")


def _derived(
    anchor: str, haystack: str, exact: bool, lower: str, found: dict[object, list[int]]
) -> list[int] | None:
    low = anchor.lower()
    for base in _BASES:
        j = low.find(base)
        if j < 0:
            continue
        if low == base:
            # the base itself: shared when case cannot matter
            caseless = not exact or not any(c.isalpha() for c in anchor)
            return list(_base_hits(lower, base, found)) if caseless else None
        base_hits = _base_hits(lower, base, found)
        if len(base_hits) * 300 > len(lower):
            return None  # many hits: checking each costs more than a scan
        # an occurrence of the anchor (in the text or its lower-cased copy) puts the base
        # at +j in the lower-cased copy, so every one is among the base's hits
        starts = haystack.startswith
        return [h - j for h in base_hits if h >= j and starts(anchor, h - j)]
    return None


def _holds(
    haystack: str, literal: str, exact: bool, lower: str, found: dict[object, list[int]]
) -> bool:
    derived = _derived(literal, haystack, exact, lower, found)
    return bool(derived) if derived is not None else literal in haystack


def _base_hits(lower: str, base: str, found: dict[object, list[int]]) -> list[int]:
    key = ("base", base)
    hits = found.get(key)
    if hits is None:
        hits = found[key] = _scan(lower, base)
    return hits


def _scan(haystack: str, anchor: str) -> list[int]:
    literal = _literal(anchor)
    if literal is not None:
        return list(map(_START, literal.finditer(haystack)))
    hits: list[int] = []
    i = haystack.find(anchor)
    while i >= 0:
        hits.append(i)
        i = haystack.find(anchor, i + 1)
    return hits


_START = re.Match.start
_FIRST, _SECOND, _FOURTH = itemgetter(0), itemgetter(1), itemgetter(3)
_LESS = operator.lt


@functools.lru_cache(maxsize=256)
def _literal(anchor: str) -> re.Pattern[str] | None:
    """The anchor as a literal pattern, when its occurrences cannot overlap (no prefix of it
    is also its suffix: "key", not "//"): ``finditer`` then lists them all, in C, where a
    ``str.find`` loop pays the interpreter per hit (3x slower on "key=key=...")."""
    if any(anchor[:k] == anchor[-k:] for k in range(1, len(anchor))):
        return None
    return re.compile(re.escape(anchor))


def _verdict(
    m: re.Match[str], repl: Replacer, reach: Reach | None, memo: Memo | None
) -> Iterable[Span]:
    if reach is None or memo is None:
        return _judged(m, repl)
    window = reach if isinstance(reach, tuple) else reach(m)
    return memo.remembered(repl, m, window, _judged_list, (m, repl))


def _judged_list(m: re.Match[str], repl: Replacer) -> list[Span]:
    """``_judged`` as a list; a replacement holding one marker (the usual verdict) is aligned
    without the generators (a fresh judgement on text of distinct credentials)."""
    whole = m.group(0)
    replacement = repl(m)
    if replacement == whole:
        return []
    parts = _MARKER_SPLIT.split(replacement)
    if len(parts) == 3 and whole.startswith(parts[0]) and whole.endswith(parts[2]):
        start = m.start()
        end = start + len(whole) - len(parts[2])
        if end > start + len(parts[0]):
            return [(start + len(parts[0]), end, parts[1])]
    return list(align(whole, replacement, m.start()))


def _judged(m: re.Match[str], repl: Replacer) -> Iterator[Span]:
    whole = m.group(0)
    replacement = repl(m)
    if replacement != whole:
        yield from align(whole, replacement, m.start())


@functools.lru_cache(maxsize=256)
def _marker_of(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


_MARKER_SPLIT = re.compile(r"(\[REDACTED:[A-Za-z0-9_.:-]{1,200}\])")


def align(whole: str, replacement: str, base: int) -> Iterator[Span]:
    """The spans of ``whole`` (found at ``base``) that ``replacement`` turned into markers.

    Judges return the match with markers in place of secrets (``password=[REDACTED:password]``);
    the text between markers is kept as it was, so it locates each replaced piece.
    """
    parts = _MARKER_SPLIT.split(replacement)
    if len(parts) < 3 or not whole.startswith(parts[0]) or not whole.endswith(parts[-1]):
        yield base, base + len(whole), _first_marker(replacement)
        return
    pos = len(parts[0])
    stop = len(whole) - len(parts[-1])
    for k in range(1, len(parts) - 1, 2):
        marker, after = parts[k], parts[k + 1]
        if k + 2 >= len(parts):
            end = stop
        else:
            end = whole.find(after, pos + 1, stop) if after else -1
            if end < 0:  # cannot tell where this piece ends: cover the rest in one span
                yield base + pos, base + stop, marker
                return
        if end > pos:
            yield base + pos, base + end, marker
        pos = end + len(after)


def _first_marker(text: str) -> str:
    m = _MARKER_RE.search(text)
    return m.group(0) if m else _marker_of("credential")


def merge(spans: list[tuple[int, int, int, str]]) -> list[Span]:
    """Overlapping or touching spans become one; the earliest rule's marker names it."""
    spans.sort()
    # (the usual case on text dense with redactions: none overlaps or touches the next, which
    # is checked, and the result built, without a Python step per span)
    starts, ends = list(map(_FIRST, spans)), list(map(_SECOND, spans))
    if all(map(_LESS, ends, starts[1:])):
        return list(zip(starts, ends, map(_FOURTH, spans), strict=True))
    out: list[list[object]] = []
    for start, end, rank, marker in spans:
        if out and start <= out[-1][1]:  # type: ignore[operator]
            last = out[-1]
            last[1] = max(last[1], end)  # type: ignore[call-overload]
            if rank < last[2]:  # type: ignore[operator]
                last[2], last[3] = rank, marker
        else:
            out.append([start, end, rank, marker])
    return [(s, e, m) for s, e, _, m in out]  # type: ignore[misc]


def replace(text: str, spans: Sequence[Span]) -> str:
    out: list[str] = []
    last = 0
    for start, end, marker in spans:
        out.append(text[last:start])
        out.append(marker)
        last = end
    out.append(text[last:])
    return "".join(out)


Splitter = re.Pattern[str]


@functools.lru_cache(maxsize=64)
def _marker_splitter(kinds: frozenset[str]) -> Splitter:
    """Finds the markers of the given kinds.

    Only markers of kinds this sanitizer produces are trusted and kept as they are: a
    "[REDACTED:<anything>]" in the input could otherwise smuggle a secret through.
    """
    alternation = "|".join(re.escape(k) for k in sorted(kinds, key=len, reverse=True))
    return re.compile(r"(\[REDACTED:(?:" + alternation + r")\])")


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _lower(text: str) -> str:
    """Lower-cased text with the same length as ``text`` (anchor positions index both)."""
    lower = text.lower()
    # a few characters lower-case to two ("İ" -> "i̇"); fall back to ASCII-only lowering
    return lower if len(lower) == len(text) else text.translate(_ASCII_LOWER)


def _blank_markers(text: str, split: Splitter) -> str:
    """The text rules see: each trusted marker turned into as many newlines (the same length,
    so spans index the real text; a newline ends every value, so no rule reads across one)."""
    if MARKER_PREFIX not in text:
        return text
    # trusted markers cannot overlap (each holds one "["), so replacing each distinct one
    # everywhere (C) blanks what a left-to-right substitution would, without a Python call
    # per marker (a text dense with redactions holds tens of thousands)
    for marker in set(split.findall(text)):
        text = text.replace(marker, "\n" * len(marker))
    return text


def _rewrite(rule: _Rule, text: str, lower: str) -> str:
    """Apply a rule that rewrites rather than redacts (home paths become "~"), matching only
    at its anchors; the same text object back when nothing changed."""
    if rule.fixed is not None or not rule.anchors:
        new = rule.regex.sub(rule.fixed if rule.fixed is not None else rule.repl, text)
        return text if new == text else new
    haystack = text if rule.exact_anchors else lower
    out: list[str] = []
    last = 0
    for hit in _positions(haystack, rule.anchors, rule.exact_anchors, None):
        start = hit - rule.offset
        if start < last or start < 0:
            continue
        m = rule.regex.match(text, start)
        if m is None:
            continue
        replacement = rule.repl(m)
        if replacement != m.group(0):
            out.append(text[last:start])
            out.append(replacement)
            last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _pass(
    text: str,
    rules: Sequence[_Rule],
    prepass: Sequence[_Rule],
    split: Splitter,
    memo: Memo | None = None,
    prefix_at: int | None = None,
) -> str:
    """One pass of every rule over ``text``; the spans merged and replaced once. ``prefix_at``
    (a settle pass): ``text`` starts with the first pass's text from that offset on, up to its
    first marker (see ``_shared_prefix``)."""
    lower: str | None = None  # lowered only when a rule reads it, once per version of text
    for rule in prepass:  # home paths: rewritten first, so every rule sees the same "~"
        if lower is None and (
            rule.triggers or (rule.fixed is None and rule.anchors and not rule.exact_anchors)
        ):
            lower = _lower(text)
        low = text if lower is None else lower  # (not read by this rule)
        if rule.applies(text, low):
            new = _rewrite(rule, text, low)
            if new is not text:
                text, lower = new, None
    view = _blank_markers(text, split)
    if view is not text or lower is None:
        lower = _lower(view)
    if lower is not view and lower == view:
        # one object: a rule searching the lower-cased copy then finds its matches on the
        # text itself, with nothing to match again (``dense._searched``)
        lower = view
    if memo is not None:
        if memo.ledger is not None:
            memo.first = (view, lower)  # (the first pass: what a settle pass may share)
        elif prefix_at is not None:
            memo.quiet = _shared_prefix(text, view, lower, memo.first, prefix_at)
            memo.quiet_at = prefix_at
    spans: list[tuple[int, int, int, str]] = []
    anchors: dict[object, list[int]] = {}
    try:
        for rank, rule in enumerate(rules):
            if not rule.present(view, lower, anchors):
                continue
            spans += [
                (s, e, rank, m) for s, e, m in rule.span_list(view, lower, anchors, memo) if e > s
            ]
    finally:
        if memo is not None:
            memo.quiet = 0
    if memo is not None and memo.ledger is not None and memo.ledger.cut < len(text):
        # the budget ran out: every rule judged what comes before the cut, nothing after it
        cut = memo.ledger.cut
        kept = [(s, min(e, cut), r, m) for s, e, r, m in spans if s < cut]
        head = replace(text[:cut], merge(kept)) if kept else text[:cut]
        return budget.withhold(head, len(text) - cut)
    if not spans:
        return text
    return replace(text, merge(spans))


def _shared_prefix(text: str, view: str, lower: str, first: tuple[str, str] | None, at: int) -> int:
    """How much of a settle pass's ``text`` is the first pass's text from ``at`` on, unchanged:
    up to its first marker, checked character by character (view and lower-cased copy).

    Every candidate there whose reads end before it was judged in the first pass over the same
    text, from the same line start (no rule reads across a newline: ``_piecewise``), and left
    it as it was (a change would have put a marker before this one): a dense search skips
    judging it again (``Memo.quiet``). The first of a long line's settle blocks is that line
    up to its first redaction: hundreds of candidates, each a remembered verdict at some
    microseconds, for nothing."""
    end = text.find(MARKER_PREFIX)
    if first is None or end <= 0:
        return 0
    first_view, first_lower = first
    if not (first_view.startswith(view[:end], at) and first_lower.startswith(lower[:end], at)):
        return 0
    return end


def _settle(
    text: str, rules: Sequence[_Rule], prepass: Sequence[_Rule], split: Splitter, memo: Memo
) -> str:
    """Run the rules again where the last pass changed something, until nothing changes.

    A marker changes what surrounds it, so a rule may now match next to it: redaction is
    repeated to a fixed point, which makes ``sanitize`` idempotent. Every rule's context is
    its own line (or the one before), so only lines holding a marker and their neighbours are
    passed again: far cheaper than a second full pass.
    """
    piecewise = _piecewise(rules, prepass)
    for round_ in range(_MAX_PASSES):
        lines = text.split("\n")
        dirty = [i for i, line in enumerate(lines) if MARKER_PREFIX in line]
        if not dirty:
            return text
        blocks: list[list[int]] = []
        for i in dirty:
            lo, hi = max(i - 1, 0), min(i + 2, len(lines))
            if blocks and lo <= blocks[-1][1]:
                blocks[-1][1] = max(blocks[-1][1], hi)
            else:
                blocks.append([lo, hi])
        texts = ["\n".join(lines[lo:hi]) for lo, hi in blocks]
        # (the first round's first block starts where the first pass's text did, at a line
        # start: what it shares with that text need not be judged again, ``_shared_prefix``)
        at = sum(map(len, lines[: blocks[0][0]])) + blocks[0][0] if round_ == 0 else None
        news = _pass_blocks(texts, rules, prepass, split, memo, at if piecewise else None)
        changed = False
        for (lo, hi), block, new in reversed(list(zip(blocks, texts, news, strict=True))):
            if new != block:
                lines[lo:hi] = new.split("\n")
                changed = True
        if not changed:
            return text
        text = "\n".join(lines)
    return text


#: Joins the blocks ``_settle`` passes again, so one pass serves them all (a pass has a fixed
#: cost of some 30 microseconds, paid per block before). Every rule stops at a newline except
#: the PEM pairing, which the NUL stops (not base64, not whitespace): no span crosses it.
_BLOCK_JOIN = "\n\x00\n"


def _pass_blocks(
    blocks: list[str],
    rules: Sequence[_Rule],
    prepass: Sequence[_Rule],
    split: Splitter,
    memo: Memo,
    prefix_at: int | None = None,
) -> list[str]:
    """Each block passed again (``_pass``); a block that cuts into repeated pieces at its
    markers (``_pieces``) is passed as its distinct pieces. ``prefix_at``: where the first
    block starts in the first pass's text (the first unit starts there too)."""
    piecewise = _piecewise(rules, prepass)
    cuts = [_pieces(block, split) if piecewise else None for block in blocks]
    units = list(
        dict.fromkeys(u for b, cut in zip(blocks, cuts, strict=True) for u in (cut or ((), [b]))[1])
    )
    done = dict(zip(units, _pass_units(units, rules, prepass, split, memo, prefix_at), strict=True))
    news: list[str] = []
    for block, cut in zip(blocks, cuts, strict=True):
        if cut is None:
            news.append(done[block])
        elif all(done[piece] == piece for piece in cut[1]):
            news.append(block)  # (the usual end: the pass changed nothing)
        else:
            joined = _joined(cut[0], done)
            news.append(joined if joined is not None else _pass(block, rules, prepass, split, memo))
    return news


def _piecewise(rules: Sequence[_Rule], prepass: Sequence[_Rule]) -> bool:
    """Whether every rule reads a marker's blank (a run of newlines, see ``_blank_markers``) as
    the end of what it reads: the built-in rules do (their patterns match no newline, their
    judges look back to a line's start at most), the PEM pairing aside (``_pieces`` checks it);
    a pattern added by the user, or a known secret holding a newline, may not."""
    return all(
        (rule.scans_text or rule.literal is not None) and "\n" not in (rule.literal or "")
        for rule in (*rules, *prepass)
    )


#: A block is cut into pieces only when its distinct pieces are this much shorter.
_PIECES_GAIN = 2


def _pieces(block: str, split: Splitter) -> tuple[list[str], list[str]] | None:
    """``block`` cut at its trusted markers: each piece runs from one marker's start to the next
    one's end (the first from the block's start, the last to its end), so every piece holds the
    blank each side of the text between two markers, which is all any rule reads of it (see
    ``_piecewise``). Returns the block split at its markers (text, marker, text, ... text) and
    its distinct pieces; None when that does not pay: a long line repeating one redacted
    credential has a few distinct pieces, a block of distinct ones is passed whole."""
    if block.count(MARKER_PREFIX) < 3 or "-----BEGIN " in block:
        return None  # (a PEM block pairs its BEGIN line with an END line across markers)
    parts = split.split(block)
    if len(parts) < 5:
        return None
    # piece j: marker j, the text after it, marker j + 1 (all in C but the distinct ones)
    middles = set(zip(parts[1:-2:2], parts[2:-1:2], parts[3::2], strict=True))
    head, last = parts[0] + parts[1], parts[-2] + parts[-1]
    # (the first and the last piece are passed either way: what pays is the middle ones
    # repeating, however long the text before the first marker)
    between = len(block) - len(head) - len(last)
    joined = list(map("".join, middles))
    if sum(map(len, joined)) * _PIECES_GAIN > between:
        return None
    return parts, list(dict.fromkeys([head, *joined, last]))


def _joined(parts: list[str], done: dict[str, str]) -> str | None:
    """The block again from its pieces passed (``parts`` as ``_pieces`` split it): each piece
    keeps its text between its markers, which are never changed; None if one did not."""
    markers = len(parts) // 2
    out: list[str] = []
    for i in range(markers + 1):
        before = parts[2 * i - 1] if i else ""
        after = parts[2 * i + 1] if i < markers else ""
        new = done[before + parts[2 * i] + after]
        if len(new) < len(before) + len(after) or not (
            new.startswith(before) and new.endswith(after)
        ):
            return None
        out.append(new[len(before) : len(new) - len(after)])
        out.append(after)
    return "".join(out)


def _pass_units(
    blocks: list[str],
    rules: Sequence[_Rule],
    prepass: Sequence[_Rule],
    split: Splitter,
    memo: Memo,
    prefix_at: int | None = None,
) -> list[str]:
    if len(blocks) > 1 and not any(_BLOCK_JOIN in block for block in blocks):
        joined = _BLOCK_JOIN.join(blocks)
        news = _pass(joined, rules, prepass, split, memo, prefix_at).split(_BLOCK_JOIN)
        if len(news) == len(blocks):
            return news
    # one block, or a rule did reach across the joint: each block on its own
    return [
        _pass(block, rules, prepass, split, memo, prefix_at if k == 0 else None)
        for k, block in enumerate(blocks)
    ]


def redact(
    text: str, rules: Sequence[_Rule], split: Splitter, prepass: Sequence[_Rule] = ()
) -> str:
    memo = Memo(budget.ledger(text))
    out = _pass(text, rules, prepass, split, memo)
    memo.ledger = None  # the settle passes re-read only what the first pass showed
    return _settle(out, rules, prepass, split, memo) if out != text else out

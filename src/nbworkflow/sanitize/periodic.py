"""Runs of candidates that repeat one another: found once, counted for every repeat.

A line repeating one unit ("secret_key: secret_key: ...", a chatty program's output) makes a
dense rule find the same candidate every few characters, and every one costs interpreter work
even when its verdict is remembered. When the search from one candidate to the next, with
everything the rule reads around them, lies in a stretch of text that repeats with that very
period, the next candidates are this one shifted by the period, as many times as the stretch
holds: the text they read is the same, so are the search's, the gate's and the judge's answers
(``dense.matches`` yields a ``Run``; ``Memo.verdicts`` counts it as that many remembered
verdicts). How far a stretch repeats is found by comparing it with itself shifted, in C.

A rule declares how far its gate and judges read around a candidate (its ``reach``, which the
memo already relies on); how far its patterns read is taken from the compiled patterns
(``reads``): together they bound what a candidate reads, so a run is exact, never a guess.
``tests/test_sanitize_dense.py`` checks that runs change no output.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

# ``re``'s own parser is private: a Python whose layout differs gets no runs (the sanitizer
# is then only slower on repeating text), never an import error.
try:
    from re import _constants as sre_c  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    _ONE = {sre_c.LITERAL, sre_c.NOT_LITERAL, sre_c.IN, sre_c.ANY, sre_c.CATEGORY}
    _REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT}
    _PARSER = True
except (ImportError, AttributeError):  # pragma: no cover - other Python versions
    _PARSER = False

#: Whether dense searches report runs (tests turn it off to compare).
ENABLED = _PARSER


@dataclass(frozen=True, slots=True)
class Run:
    """``count`` more candidates after ``template``: the k-th is ``template`` shifted by
    ``k * step`` characters (its span, its verdict)."""

    template: re.Match[str]
    step: int
    count: int


@functools.lru_cache(maxsize=256)
def reads(regex: re.Pattern[str]) -> tuple[int, int] | None:
    """How far before a match attempt's position and from it on ``regex`` can read: its
    lookbehinds (and a boundary's look at the character before), and its widest match with
    every lookaround counted as read; None when that is unbounded (or not known: a
    back-reference)."""
    if not _PARSER:
        return None
    try:
        items = sre_parse.parse(regex.pattern, regex.flags).data
        return _behind(items) + 1, _width(items)
    except (_Unknown, re.error, AttributeError, TypeError, ValueError):
        # (a parse tree this does not know, e.g. from another Python version: no runs)
        return None


class _Unknown(Exception):
    pass


def _width(items: list[tuple[Any, Any]]) -> int:
    """An upper bound of the characters ``items`` read, lookarounds included."""
    total = 0
    for op, av in items:
        if op in _ONE:
            total += 1
        elif op == sre_c.AT:
            total += 1  # (a boundary looks at the characters either side)
        elif op == sre_c.SUBPATTERN:
            total += _width(av[-1].data)
        elif op == sre_c.BRANCH:
            total += max(_width(branch.data) for branch in av[1])
        elif op in _REPEATS:
            _, hi, sub = av
            if hi == sre_c.MAXREPEAT:
                raise _Unknown
            total += hi * _width(sub.data)
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            total += _width(av[1].data)
        elif op == sre_c.ATOMIC_GROUP:
            total += _width(av.data)
        else:
            raise _Unknown
    return total


def _behind(items: list[tuple[Any, Any]]) -> int:
    """An upper bound of how far before its start ``items`` read: every lookbehind's width
    (each reads back from where it is, at most its width before the attempt's start)."""
    total = 0
    for op, av in items:
        if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            direction, sub = av
            if direction < 0:
                total += _width(sub.data)
            total += _behind(sub.data)
        elif op == sre_c.SUBPATTERN:
            total += _behind(av[-1].data)
        elif op == sre_c.BRANCH:
            total += max(_behind(branch.data) for branch in av[1])
        elif op in _REPEATS:
            total += _behind(av[2].data)
        elif op == sre_c.ATOMIC_GROUP:
            total += _behind(av.data)
    return total


#: The first stretch compared at once; each one that matches doubles the next.
_CHUNK = 64


def extent(text: str, lo: int, step: int) -> int:
    """Where the stretch from ``lo`` that repeats with period ``step`` ends: the largest ``hi``
    with ``text[lo : hi - step] == text[lo + step : hi]`` (at most ``len(text)``). Compared in
    chunks that double while they match, then halved where one does not: linear in the
    stretch."""
    last = len(text) - step
    i = lo
    size = _CHUNK
    while i < last:
        j = min(i + size, last)
        if text.startswith(text[i:j], i + step):
            i = j
            size *= 2
            continue
        while j - i > 1:
            mid = (i + j) // 2
            if text.startswith(text[i:mid], i + step):
                i = mid
            else:
                j = mid
        return i + step
    return len(text)

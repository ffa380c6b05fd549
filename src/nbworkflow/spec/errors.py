"""Problems found in a spec -> a short, safe ``SpecError``.

Everything a message echoes came from the user: it is escaped (a node id holding a terminal
escape must not drive the terminal), clipped, and repeated problems are summarised, so that the
size of the report does not grow with the size of a broken spec.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..exceptions import CycleError, SpecError, SpecIssue

MAX_LIKE_THIS = 2
"""Problems of one kind shown before the rest are summarised as "and N more like this"."""
MAX_ALL_SHOWN = 5
"""Up to this many problems of one kind are all shown."""
MAX_SHOWN = 60
"""Problems shown in all; the rest are counted."""
MAX_ECHO = 80
"""Characters of a user's value echoed in a message."""

# C0/C1 controls, DEL, bidi overrides and line/paragraph separators: anything that can move the
# cursor, recolour a terminal or reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape(text: str) -> str:
    """User text made safe to print: control characters become ``\\x1b``-style escapes."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int = MAX_ECHO) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any) -> str:
    """A user's value as a message quotes it: bounded, escaped, never failing (``repr`` of an
    int past Python's digit limit raises, and a huge mapping would print whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit number"
    if isinstance(value, (dict, list, tuple, set)):
        return f"{type_name(value)} of {len(value)}"
    if isinstance(value, str):
        return repr(escape(clip(value)))
    try:
        return escape(clip(repr(value)))
    except ValueError:  # pragma: no cover - any other repr that refuses
        return type(value).__name__


def type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        tuple: "a list",
        str: "text",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), type(value).__name__)


class Suggester:
    """Did-you-mean hints, bounded: a broken spec with thousands of typos must not cost
    thousands of scans over thousands of names (each answer is remembered, and after
    ``budget`` distinct questions the hints stop)."""

    def __init__(self, options: Iterable[str], budget: int = 20) -> None:
        self._by_len: dict[int, list[str]] = {}
        for option in dict.fromkeys(options):
            self._by_len.setdefault(len(option), []).append(option)
        self._seen: dict[str, str] = {}
        self._budget = budget

    def __call__(self, word: str) -> str:
        hit = self._seen.get(word)
        if hit is not None:
            return hit
        if self._budget <= 0 or len(word) > 200:
            return ""
        self._budget -= 1
        # ratio >= 0.6 needs lengths within a factor of 2; the nearest lengths are tried first
        lo, hi = (len(word) + 1) // 2, 2 * len(word)
        lengths = sorted(
            (n for n in self._by_len if lo <= n <= hi), key=lambda n: abs(n - len(word))
        )
        pool: list[str] = []
        for n in lengths:
            pool += self._by_len[n]
            if len(pool) >= 2000:
                break
        close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        hint = f" (did you mean '{escape(close[0])}'?)" if close else ""
        self._seen[word] = hint
        return hint


@functools.lru_cache(maxsize=1024)
def _suggest_field(word: str, options: tuple[str, ...]) -> str:
    return Suggester(options)(word)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A hint among a few fixed names (fields, node types); remembered per word."""
    return _suggest_field(word, tuple(options))


def mask_secrets(issues: list[SpecIssue], used: Mapping[str, str], listed: Any) -> list[SpecIssue]:
    """Error messages echo bad values ("got text '...'"): one that came from a secret
    variable is shown as ``${NAME}`` instead, which also says where it came from."""
    from ..sanitize import is_secret_name

    if isinstance(listed, str):
        listed = [listed]
    # ``secrets:`` may itself be what is broken (a number, nested lists): keep its names only
    names = {x for x in listed if isinstance(x, str)} if isinstance(listed, list) else set()
    masks = sorted(
        (
            (value, f"${{{name}}}")
            for name, value in used.items()
            if len(value) >= 4 and (name in names or is_secret_name(name))
        ),
        key=lambda vm: -len(vm[0]),
    )
    if not masks:
        return issues
    out = []
    for issue in issues:
        message = issue.message
        for value, mask in masks:
            message = message.replace(value, mask)
        out.append(replace(issue, message=message) if message != issue.message else issue)
    return out


_QUOTED = re.compile(r"'[^']*'|\d+")


def summarise(issues: list[SpecIssue]) -> list[SpecIssue]:
    """Sorted by place; problems that differ only in the names or numbers they quote are
    all shown up to ``MAX_ALL_SHOWN``; past that ``MAX_LIKE_THIS`` are shown and the rest
    counted; at most ``MAX_SHOWN`` shown in all."""
    issues = sorted(issues, key=lambda i: (i.line or 0, i.col or 0))
    kinds: dict[str, list[SpecIssue]] = {}
    for issue in issues:
        kinds.setdefault(_QUOTED.sub("_", issue.message), []).append(issue)
    kept: list[SpecIssue] = []
    summaries: list[SpecIssue] = []
    for group in kinds.values():
        if len(group) <= MAX_ALL_SHOWN:  # a few alike are clearer listed than counted
            kept += group
            continue
        kept += group[:MAX_LIKE_THIS]
        if len(group) > MAX_LIKE_THIS:
            more = len(group) - MAX_LIKE_THIS
            summaries.append(
                replace(
                    group[MAX_LIKE_THIS],
                    message=f"and {more:,} more like this ({clip(group[0].message, 70)})",
                    node_id=None,
                    path="",
                )
            )
    kept.sort(key=lambda i: (i.line or 0, i.col or 0))
    out = kept[:MAX_SHOWN] + summaries[:MAX_SHOWN]
    dropped = max(0, len(kept) - MAX_SHOWN) + max(0, len(summaries) - MAX_SHOWN)
    if dropped:
        out.append(
            SpecIssue(
                f"and {dropped:,} more problems of other kinds",
                issues[0].file,
                severity=issues[0].severity,
            )
        )
    return out


def safe_issue(issue: SpecIssue) -> SpecIssue:
    """Every field a person will read, escaped and bounded."""
    return replace(
        issue,
        message=escape(clip(issue.message, 600)),
        file=escape(clip(issue.file, 300)),
        path=escape(clip(issue.path, 200)),
        node_id=escape(clip(issue.node_id)) if issue.node_id is not None else None,
    )


def fail(issues: list[SpecIssue], cycle: list[str] | None = None) -> SpecError:
    """The one way a spec problem becomes an exception."""
    final = summarise([safe_issue(i) for i in issues])
    if cycle:
        return CycleError(final, cycle)
    return SpecError(final)

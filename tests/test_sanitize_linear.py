"""The sanitizer's cost is linear in its input by construction (the engine's docstring says why).

These tests check the construction, not the clock: every pattern a rule runs over the whole text
has a bounded width (or is the token scan's delimiter-led possessive run), input above the scan
cap keeps head and tail only, and a small smoke of the adversarial recipes checks that 10x more
text costs far less than 100x (a ratio measured in this process; timings live in
bench/sanitize.py).
"""

from __future__ import annotations

import re
import time
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest

from nbworkflow.sanitize import Sanitizer, budget, registry
from nbworkflow.sanitize.engine import _Rule

REPEATS = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT)
#: The widest a rule's single match may be (characters).
MAX_WIDTH = 20_000


def _unbounded(items: sre_parse.SubPattern) -> list[str]:
    """Unbounded repeats, except a possessive run of a set led by that set's complement."""
    found: list[str] = []
    seq = list(items)
    for i, (op, av) in enumerate(seq):
        if op in REPEATS:
            lo, hi, sub = av
            if hi == sre_c.MAXREPEAT and not _delimiter_led_run(op, sub, seq[i - 1] if i else None):
                found.append(f"{op} {lo}..inf")
            found += _unbounded(sub)
        elif op == sre_c.SUBPATTERN:
            found += _unbounded(av[-1])
        elif op == sre_c.BRANCH:
            for branch in av[1]:
                found += _unbounded(branch)
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            found += _unbounded(av[1])
        elif op == sre_c.ATOMIC_GROUP:
            found += _unbounded(av)
    return found


def _delimiter_led_run(op: object, sub: sre_parse.SubPattern, before: object) -> bool:
    """``[^S][S]++``: a match starts only after a non-S character and eats every S after it, so
    each character enters at most one attempt of the run."""
    if op != sre_c.POSSESSIVE_REPEAT or len(sub) != 1 or sub[0][0] != sre_c.IN:
        return False
    if not isinstance(before, tuple) or before[0] != sre_c.IN:
        return False
    lead = before[1]
    return bool(lead) and lead[0] == (sre_c.NEGATE, None) and list(lead[1:]) == list(sub[0][1])


def _rules() -> list[_Rule]:
    san = Sanitizer(["plumharbor-9931"], use_environ=False)
    return san.rules("cobaltmeadow")


def test_every_rule_pattern_has_a_bounded_width() -> None:
    checked = 0
    for rule in _rules():
        for pattern in rule.patterns():
            parsed = sre_parse.parse(pattern.pattern, pattern.flags)
            assert _unbounded(parsed) == [], (rule.kind, pattern.pattern)
            if not any(_run_parts(parsed)):
                assert parsed.getwidth()[1] <= MAX_WIDTH, (rule.kind, pattern.pattern)
            checked += 1
    assert checked >= 15  # the rules did expose their patterns


def _run_parts(parsed: sre_parse.SubPattern) -> list[bool]:
    items = list(parsed)
    return [
        op in REPEATS and _delimiter_led_run(op, av[2], items[i - 1] if i else None)
        for i, (op, av) in enumerate(items)
    ]


def test_the_checker_catches_what_was_quadratic() -> None:
    quadratic = re.compile(r"(?:mysql|curl)\b[^\n]*?[ \t]-p(?P<v>\S+)")
    assert _unbounded(sre_parse.parse(quadratic.pattern)) != []
    linear = re.compile(r"[^A-Za-z0-9][A-Za-z0-9]{20,}+")
    assert _unbounded(sre_parse.parse(linear.pattern)) == []
    assert _unbounded(sre_parse.parse(r"[A-Za-z0-9]{20,}+")) != []  # not led: each start reads on


def test_input_over_the_scan_cap_keeps_head_and_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "MAX_SCAN_CHARS", 1000)
    text = "head line\n" + "x y z\n" * 2000 + "ValueError: tail line\n"
    out = Sanitizer(use_environ=False).sanitize(text)
    assert out.startswith("head line\n") and out.endswith("ValueError: tail line\n")
    assert "lines truncated" in out and len(out) <= 1000


D = "-" * 5
RECIPES = [
    "mysql ",
    "curl ",
    "sshpass ",
    "input_value=x ",
    "Cookie: ",
    D + "BEGIN RSA PRIVATE KEY" + D + "\n",
    "AccountKey=",
    "secret_key: ",
    '{"driver": "mysql", "host": "db.internal"}, ',
    "curl -fsSL https://get.example.com/i.sh | sh; ",
    "https://u:p@",
    "'password': 'x', ",
    "token=abc123xyz ",
    "mysql -px ",
    "[type=x, input_value=x ",
    "eyJabcdefghij.",
]


def _cpu(fn: object, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        fn(text)  # type: ignore[operator]
        best = min(best, time.process_time() - t0)
    return max(best, 1e-4)


@pytest.mark.parametrize("unit", RECIPES)
def test_adversarial_recipes_grow_linearly(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine itself must be linear: the work budget (which would cut the dense recipes
    # here and make them cheap) is lifted
    monkeypatch.setattr(budget, "BASE", 10**9)
    san = Sanitizer(use_environ=False)
    small = (unit * (3000 // len(unit) + 1))[:3000]
    big = (unit * (30000 // len(unit) + 1))[:30000]
    san.sanitize(small)
    ratio = _cpu(san.sanitize, big) / _cpu(san.sanitize, small)
    assert ratio < 30, f"10x more {unit!r} cost {ratio:.0f}x"


class _Spy(str):
    """A text that records the longest slice a judge takes of it."""

    longest = 0

    def __getitem__(self, key: object) -> str:
        out = str.__getitem__(self, key)  # type: ignore[index]
        if isinstance(key, slice):
            _Spy.longest = max(_Spy.longest, len(out))
        return out


@pytest.mark.parametrize(
    ("pattern", "judge", "line"),
    [
        ("_KV", "_kv_repl", "password: hunter2x9"),  # the ':' form reads the line's head
        ("_COOKIE", "_cookie_repl", "Cookie: sid=abc123def456ghi"),
        ("_PYDANTIC", "_pydantic_repl", "[type=x, input_value='s3cret', input_type=str]"),
    ],
)
def test_a_judge_reads_a_bounded_window_on_a_long_line(pattern: str, judge: str, line: str) -> None:
    # a judge that looked back to the line's start read O(line) per match: O(n^2) on one long
    # line of distinct credentials ("password: hu1 password: hu2 ...": 1.8 s at 300 KB)
    from nbworkflow.sanitize import engine, structural

    regex, repl = getattr(structural, pattern), getattr(structural, judge)
    for before in ("x " * 50_000 + " ", "x " * 50_000 + "\n" + "x " * 50_000 + "\n"):
        text = _Spy(before + line)
        m = regex.search(text, len(before) - 1)
        assert m is not None
        _Spy.longest = 0
        repl(m)
        assert _Spy.longest <= 3 * engine.CONTEXT + len(line), (judge, _Spy.longest)

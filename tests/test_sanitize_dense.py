"""Dense anchor hits are searched in C (``sanitize.dense``); the output is the walk's.

Each text is sanitized twice: with every anchored rule forced onto the C search, and with the
per-anchor walk only. Random texts are built from the pieces the rules key on (secret words in
mixed case, separators, dashes, quotes, URLs, values), so both paths meet flags, ``name=value``
pairs, near misses and judged matches that overlap the next anchor.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from nbworkflow.sanitize import Sanitizer, dense, engine, periodic, vendors
from nbworkflow.sanitize.memo import Memo
from tests.support.secret_corpus import benign_texts, secret_cases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sanitize as bench  # bench/sanitize.py: the recipes

PIECES = [
    "password",
    "PASSWORD",
    "Passwd",
    "pwd",
    "secret",
    "token",
    "Token",
    "key",
    "KEY",
    "auth",
    "cred",
    "session",
    "sig",
    "dsn",
    "code",
    "code=",
    "identified by",
    "IDENTIFIED BY",
    "api_key",
    "apiKey",
    "db-password",
    "--",
    "-",
    "--db-",
    "-p",
    " -p",
    "-u",
    "--user",
    "mysql",
    "sshpass",
    "curl",
    "redis-cli",
    "=",
    ":",
    ": ",
    " ",
    "  ",
    "\t",
    "\n",
    "'",
    '"',
    ",",
    "', '",
    "=>",
    "->",
    "==",
    ":=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "://",
    "//",
    "@",
    "https://",
    "u:p@",
    "Authorization",
    "authorization: ",
    "Bearer ",
    "Basic ",
    "Cookie: ",
    "input_value=",
    "[type=x, ",
    "KeyError: ",
    "x",
    "abc",
    "hunter2",
    "S3cr3tPw0rd",
    "aB3dE5gH7jK9mN1pQ3sT",
    "0123",
    "sk-",
    "ghp_",
    "eyJ",
    "/home/bob",
    "$",
    "${X}",
    "None",
    "<redacted>",
    "é",
    "ß",
]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(5, 120)))


def _sanitize(san: Sanitizer, text: str, monkeypatch: pytest.MonkeyPatch, c_search: bool) -> str:
    with monkeypatch.context() as patch:
        # DENSE=0: no text is dense (the walk); huge: one hit makes any text dense (C search)
        patch.setattr(dense, "DENSE", 10**12 if c_search else 0)
        return san.sanitize(text)


@pytest.fixture
def san() -> Sanitizer:
    return Sanitizer(use_environ=False)


def test_c_search_and_walk_agree_on_random_text(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(14)
    for _ in range(1500):
        text = _random_text(rng)
        walked = _sanitize(san, text, monkeypatch, c_search=False)
        assert _sanitize(san, text, monkeypatch, c_search=True) == walked, text


def test_c_search_and_walk_agree_on_the_corpus(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [c.text for c in secret_cases()[::3]] + benign_texts()
    for text in texts:
        walked = _sanitize(san, text, monkeypatch, c_search=False)
        assert _sanitize(san, text, monkeypatch, c_search=True) == walked, text


def test_dense_flags_are_found_behind_their_dash(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the flag rule's candidates come from a search for the dash before the secret word; a
    # flag glued to a long judged value still has its own dash
    text = " ".join(
        ["--db-password hunter2x", "--token abc-def --key=1", "-" + "a" * 70 + "token x"] * 40
    )
    walked = _sanitize(san, text, monkeypatch, c_search=False)
    assert "hunter2x" not in walked  # (the case does exercise a redaction)
    assert _sanitize(san, text, monkeypatch, c_search=True) == walked


def test_dense_text_takes_the_c_search(san: Sanitizer, monkeypatch: pytest.MonkeyPatch) -> None:
    # the cause of the speed: on "token token ..." the flag rule's gate (Python) is never
    # asked, where the walk asks it at every word
    calls: list[int] = []
    from nbworkflow.sanitize import structural

    real = structural._cli_gate

    def counting(text: str, at: int) -> bool:
        calls.append(at)
        return real(text, at)

    chain = next(r for r in san._plan(()).rules if isinstance(r, engine._Chain) and r.leads)
    parts = tuple((rx, repl, counting if g is real else g) for rx, repl, g in chain.parts)
    patched = engine._Chain(
        chain.kind,
        chain.regex,
        chain.repl,
        anchors=chain.anchors,
        reach=chain.reach,
        parts=parts,
        leads=chain.leads,
    )
    text = "token " * 5000
    assert list(patched.spans(text, text, {}, Memo())) == []
    assert calls == []
    with monkeypatch.context() as patch:
        patch.setattr(dense, "DENSE", 0)
        assert list(patched.spans(text, text, {}, Memo())) == []
    assert len(calls) == 5000


def test_unsafe_case_insensitive_patterns_are_not_searched_lowered() -> None:
    import re

    assert dense.search_form(re.compile(r"(?i)AccountKey=\w"), True) is None
    assert dense.search_form(re.compile(r"key=[A-Z]"), True) is None  # case-sensitive
    form = dense.search_form(re.compile(r"(?i)key=[A-Za-z\S]"), True)
    assert form is not None and not form.flags & re.IGNORECASE


def test_token_runs_are_the_run_patterns_matches() -> None:
    # the token scan finds runs of 20 by a substring search in a flattened copy; the matches
    # must be the run pattern's own (base64 padding, "==" between runs, runs at the edges)
    rng = random.Random(7)
    alphabet = ["a", "Z", "9", "+", "/", "_", "-", "=", "==", " ", ".", "\n", "é"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) * rng.choice((1, 1, 3, 12, 25)) for _ in range(30))
        padded = "\n" + text
        got = [m.span() for m in vendors._runs(vendors._TOKEN_RUN, padded)]
        assert got == [m.span() for m in vendors._TOKEN_RUN.finditer(padded)], text


def _walked(
    text: str, regex: object, anchors: tuple[str, ...], gate: object
) -> list[tuple[int, int]]:
    """The per-anchor walk, written out: every anchor hit in order, none inside a match."""
    lower = text.lower()
    hits = sorted({i for a in anchors for i in range(len(lower)) if lower.startswith(a, i)})
    out: list[tuple[int, int]] = []
    last = 0
    for start in hits:
        if start < last or (gate is not None and not gate(text, start)):  # type: ignore[operator]
            continue
        m = regex.match(text, start)  # type: ignore[attr-defined]
        if m is not None:
            out.append(m.span())
            last = max(m.end(), start + 1)
    return out


def test_each_part_judges_the_walks_matches() -> None:
    # the judged matches themselves, not only the output: near misses of the anchors
    # ("psswd", "code:" where the anchor is "code="), and a flag value cut at its 512-character
    # bound inside a run of letters that a dash leads to another secret word
    chain = next(r for r in Sanitizer(use_environ=False)._plan(()).rules if getattr(r, "leads", ()))
    value = "x" * 455 + ".-" + "a" * 50
    texts = [
        "psswd=S3cr3tPw0rd code: Zq9Zq9Zq9 code=Zq9Zq9Zq9 pasword=S3cr3tPw0rd " * 3,
        f" --token {value}aaaaaaapassword zz --key -a1token q" * 3,
        " --db-password x --tokenkey y -" + "b" * 62 + "token z -" + "c" * 63 + "key w" * 2,
    ]
    rng = random.Random(3)
    texts += [_random_text(rng) for _ in range(300)]
    for text in texts:
        lower = text.lower()
        for (regex, _, gate), lead in zip(chain.parts, chain.leads, strict=True):
            search = dense.search_form(regex, True)
            assert search is not None
            got = [
                m.span()
                for m in dense.matches(lower, text, regex, search, chain.anchors, 0, gate, lead)
            ]
            assert got == _walked(text, regex, chain.anchors, gate), (regex.pattern[:40], text)


def test_c_search_and_walk_agree_on_lower_case_text(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a text lower-casing leaves as it is is its own lower-cased copy: the search's matches
    # are judged as found, not matched again on the text
    rng = random.Random(41)
    for _ in range(800):
        text = _random_text(rng).lower()
        walked = _sanitize(san, text, monkeypatch, c_search=False)
        assert _sanitize(san, text, monkeypatch, c_search=True) == walked, text


def test_command_words_are_found_as_in_the_lower_cased_line() -> None:
    # the short-flag rule looks for the command word ("mysql", "curl") in the line before the
    # flag with a case-insensitive ASCII search; "word in line.lower()" is what it must find,
    # the one character outside ASCII that lower-cases to an ASCII letter included
    from nbworkflow.sanitize import structural as s

    rng = random.Random(5)
    alphabet = ["mysql", "MySQL", "redis-cli", "redis-cl\u0130", "REDIS-CLI", "smbcl\u0130ent"]
    alphabet += ["SMBclient", "curl", "wGet", "x", "\n", " ", "\u0130", "\u212a", "i", "I"]
    alphabet += ["mongo", "smbclient", "mariadb", "mar\u0130adb", "sshpass", "-p"]
    searches = [
        (s._CLI_SHORT_WORDS, s._CLI_SHORT_WORDS_RE),
        (s._PASS_FLAG_WORDS, s._PASS_FLAG_RE),
        (
            tuple(w for w in s._PASS_FLAG_WORDS if w not in s._MYSQL_WORDS),
            s._PASS_FLAG_NOT_MYSQL_RE,
        ),
        (s._USER_FLAG_WORDS, s._USER_FLAG_RE),
    ]
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        at = rng.randint(0, len(text))
        head = text[s._command_head(text, at) : at].lower()
        for words, regex in searches:
            expected = any(word in head for word in words)
            assert (regex.search(text, s._command_head(text, at), at) is not None) == expected


def _with_runs(san: Sanitizer, text: str, monkeypatch: pytest.MonkeyPatch, runs: bool) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(periodic, "ENABLED", runs)
        return san.sanitize(text)


def _periodic_text(rng: random.Random, size: int) -> str:
    """Stretches repeating a unit of random pieces, broken by other pieces (a changed
    character, a newline, another unit) at random places: runs start and end everywhere."""
    parts: list[str] = []
    total = 0
    while total < size:
        # a unit like a credential (a secret word, a separator, a value) or random pieces
        unit = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 2)))
        if rng.random() < 0.8:
            unit += rng.choice(PIECES[:22]) + rng.choice(["=", ": ", " ", "': '", " -p"])
            unit += rng.choice(["x", "hunter2", "S3cr3tPw0rd", "u:p@h", "'abc'", ""]) + " "
        unit = unit or "x"
        stretch = unit * rng.randint(size // len(unit) // 4 + 1, size // len(unit) + 1)
        if rng.random() < 0.5:  # one character changed inside the stretch
            at = rng.randrange(len(stretch))
            stretch = stretch[:at] + rng.choice("x=:'\n ") + stretch[at + 1 :]
        parts.append(stretch[: rng.randint(len(stretch) // 2, len(stretch))])
        total += len(parts[-1])
    return "".join(parts)[:size]


def _count_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counts: list[int] = []
    real = dense._searched

    def counting(*args: object) -> object:
        for item in real(*args):  # type: ignore[arg-type]
            if isinstance(item, periodic.Run):
                counts.append(item.count)
            yield item

    monkeypatch.setattr(dense, "_searched", counting)
    return counts


def test_runs_change_no_output_on_repeating_text(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # candidates repeating the last one in a repeating stretch are counted, not searched and
    # judged again: the output is the same, also where a stretch ends or breaks, near a
    # text's ends, and where the budget cuts (the long texts)
    rng = random.Random(23)
    counts = _count_runs(monkeypatch)
    sizes = [rng.choice((2_000, 8_000, 20_000)) for _ in range(100)] + [60_000, 150_000]
    for size in sizes:
        text = _periodic_text(rng, size)
        plain = _with_runs(san, text, monkeypatch, runs=False)
        assert _with_runs(san, text, monkeypatch, runs=True) == plain, text[:200]
    # (not vacuous: runs were taken, of many candidates)
    assert len(counts) > 40 and sum(counts) > 10_000, (len(counts), sum(counts))


@pytest.mark.parametrize("name", ["secret_key:", "mysql -px", "'password': 'x'", "https://u:p@"])
def test_runs_change_no_output_on_the_recipes(
    san: Sanitizer, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = bench.RECIPES[name]
    for size in (10_000, 100_000):
        text = (unit * (size // len(unit) + 1))[:size]
        for edited in (text, text[:5000] + "\n" + text[5001:], "x" + text[1:]):
            plain = _with_runs(san, edited, monkeypatch, runs=False)
            assert _with_runs(san, edited, monkeypatch, runs=True) == plain


def test_runs_change_no_output_on_realistic_text(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mix = bench.build_mix(size=200_000)
    plain = _with_runs(san, mix, monkeypatch, runs=False)
    assert _with_runs(san, mix, monkeypatch, runs=True) == plain


def test_runs_change_no_output_on_the_corpus(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [c.text for c in secret_cases()[::3]] + benign_texts()
    # each case repeated on one line too: a run needs repeats
    texts += [" ".join([c.text.replace("\n", " ")] * 40) for c in secret_cases()[::25]]
    for text in texts:
        plain = _with_runs(san, text, monkeypatch, runs=False)
        assert _with_runs(san, text, monkeypatch, runs=True) == plain, text[:200]


def test_a_stretch_repeats_as_far_as_a_plain_comparison_says() -> None:
    rng = random.Random(8)
    for _ in range(3000):
        unit = "".join(rng.choice("ab") for _ in range(rng.randint(1, 6)))
        text = unit * rng.randint(0, 60) + "".join(rng.choice("abc") for _ in range(5))
        text = "".join(rng.choice("ab") for _ in range(rng.randint(0, 5))) + text
        lo, step = rng.randint(0, len(text)), rng.randint(1, 8)
        hi = lo + step
        while hi < len(text) and text[hi - step] == text[hi]:
            hi += 1
        assert periodic.extent(text, lo, step) == min(
            max(hi, len(text) if lo + step >= len(text) else hi), len(text)
        ), (text, lo, step)


def test_pattern_reads_bound_the_widest_match() -> None:
    import re

    assert periodic.reads(re.compile(r"(?<![a-z])ab(?=cd){1,3}")) == (2, 9)
    assert periodic.reads(re.compile(r"a{1,5}")) == (1, 5)
    assert periodic.reads(re.compile(r"a+")) is None  # unbounded
    assert periodic.reads(re.compile(r"(a)\1")) is None  # a back-reference: not known


def _windows(items: list[object], reach: tuple[int, int]) -> list[tuple[int, int, str]]:
    """Each candidate's span and the window its judge reads; a run's repeats get the
    template's window, which is what the memo gives them."""
    out: list[tuple[int, int, str]] = []
    for item in items:
        if isinstance(item, periodic.Run):
            s, e = item.template.span()
            window = out[-1][2]
            out += [
                (s + k * item.step, e + k * item.step, window) for k in range(1, item.count + 1)
            ]
            continue
        s, e = item.span()  # type: ignore[attr-defined]
        text = item.string  # type: ignore[attr-defined]
        out.append((s, e, text[max(s - reach[0], 0) : e + reach[1]]))
    return out


def test_a_run_claims_only_what_its_candidates_read() -> None:
    # tight patterns and reaches (what they read is what the bound says), so a run one
    # repeat too long, or a bound one character short, reads past the repeating stretch
    import re

    rng = random.Random(12)
    patterns = [r"a[0-9]", r"a[0-9]{1,3}(?=b)", r"(?<=[xy])a[0-9]", r"a[0-9]?\b"]
    for _ in range(4000):
        unit = "".join(rng.choice("aa01bxy ") for _ in range(rng.randint(1, 5)))
        text = unit * rng.randint(1, 30)
        at = rng.randrange(len(text))
        text = text[:at] + rng.choice("a0bx ") + text[at + 1 :] + unit * rng.randint(0, 5)
        regex = re.compile(rng.choice(patterns))
        reach = (rng.randint(0, 3), rng.randint(0, 3))
        got = list(dense.with_runs(text, text, regex, regex, ("a",), 0, None, None, reach))
        want = list(dense.matches(text, text, regex, regex, ("a",), 0, None))
        assert _windows(got, reach) == _windows(want, reach), (text, regex.pattern, reach)


def _merged_step_by_step(spans: list[tuple[int, int, int, str]]) -> list[tuple[int, int, str]]:
    out: list[list[object]] = []
    for start, end, rank, marker in sorted(spans):
        if out and start <= out[-1][1]:  # type: ignore[operator]
            last = out[-1]
            last[1] = max(last[1], end)  # type: ignore[call-overload]
            if rank < last[2]:  # type: ignore[operator]
                last[2], last[3] = rank, marker
        else:
            out.append([start, end, rank, marker])
    return [(s, e, m) for s, e, _, m in out]  # type: ignore[misc]


def test_spans_apart_merge_as_step_by_step() -> None:
    # merge's shortcut (no span overlaps or touches the next: built without a Python step)
    rng = random.Random(4)
    for _ in range(3000):
        spans = []
        at = 0
        for _ in range(rng.randint(0, 12)):
            at += rng.randint(0, 4)
            spans.append((at, at + rng.randint(1, 4), rng.randint(0, 3), rng.choice("ab")))
            at += rng.choice((1, 3, 5))
        rng.shuffle(spans)
        assert engine.merge(list(spans)) == _merged_step_by_step(spans), spans


def test_one_marker_verdicts_align_as_the_general_path() -> None:
    # _judged_list's shortcut for a replacement holding one marker: the spans align gives,
    # also when the kept text before and after the marker overlap in the match
    import re

    rng = random.Random(6)
    marker = "[REDACTED:credential]"
    for _ in range(5000):
        text = "".join(rng.choice("ab=:'") for _ in range(rng.randint(1, 12)))
        m = re.compile(r".+").match(text)
        assert m is not None
        whole = m.group(0)
        i, j = sorted(rng.randint(0, len(whole)) for _ in range(2))
        pieces = [whole[:i], marker, whole[j:]]
        if rng.random() < 0.3:
            pieces[rng.choice((0, 2))] += rng.choice(("a", "b", marker))
        replacement = "".join(pieces)
        got = engine._judged_list(m, lambda _m, r=replacement: r)
        assert got == list(engine._judged(m, lambda _m, r=replacement: r)), (whole, replacement)


def test_without_re_s_private_parser_there_are_no_runs_and_no_error(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``periodic`` reads pattern widths with ``re._parser``, which is private: a Python
    without it must lose only the shortcut (the import is guarded; ``reads`` says unknown)."""
    monkeypatch.setattr(periodic, "_PARSER", False)
    assert periodic.reads(re.compile(r"secret_key:[ ]{0,3}(?P<v>\w{1,40})  # unseen")) is None
    text = "secret_key: " * 900
    monkeypatch.setattr(periodic, "ENABLED", False)
    assert san.sanitize(text) == text

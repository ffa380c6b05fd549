"""Patterns rewritten for speed match exactly what they matched before.

Each old pattern is kept here as written before the change (the oracle) and compared with the
new one, at every position of random text built to reach its branches and of the corpus.
"""

from __future__ import annotations

import random
import re

from nbworkflow.sanitize import dense, structural
from tests.support.secret_corpus import benign_texts, secret_cases

#: ``structural._KV_PAIR`` before its "keyerror" check moved onto the word "key".
_OLD_KV_PAIR = re.compile(
    r"""(?ix)
    (?!keyerror)
    (?P<kw>pass(?:word|wd|phrase)?|pa?s{1,2}w(?:or|ro|o|r)?d|pwd|secret|token|key|auth|credential|
        cred|session|sessid|sig|dsn|code)
    (?P<rest>[a-z0-9_.-]{0,64})
    (?P<q>["']?)
    (?P<sep>[ \t]{0,8}(?::=|=>|==|=|:|->)[ \t]{0,8})
    (?P<v>"(?:[^"\\\n]|\\.){0,2000}"|'(?:[^'\\\n]|\\.){0,2000}'|b'(?:[^'\\\n]|\\.){0,2000}'
        |b"(?:[^"\\\n]|\\.){0,2000}"
        |\$?\{[^{}\n]{0,200}\}|[^\s"'`,;&)\]}>]{1,2000})
    """
)
_OLD_KV = re.compile(
    _OLD_KV_PAIR.pattern.rstrip()
    + r"""(?P<tail>[,;&)\]}>][^\s"'`]{1,128}+(?=[ \t]{0,8}(?:\r?\n|\Z)))?""",
    _OLD_KV_PAIR.flags,
)

_PIECES = [
    *[
        "key",
        "KEY",
        "Key",
        "keyerror",
        "KeyError",
        "KEYERROR",
        "keyErr",
        "error",
        "token",
        "pass",
        "password",
        "pwd",
    ],
    *[
        "secret",
        "auth",
        "=",
        ":",
        "abc123",
        "x",
        "_",
        "-",
        ".",
        ";",
        "{a}",
        "$",
        "keyerrorkey=",
        "ke",
        "y",
    ],
    ": ",
    " = ",
    "'",
    '"',
    "\n",
    " ",
]


def _texts() -> list[str]:
    rng = random.Random(41)
    out = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 30))) for _ in range(1500)]
    # (the corpus texts that hold a word the patterns start with)
    corpus = [c.text for c in secret_cases()] + benign_texts()
    out += [t for t in corpus if re.search("(?i)key|pass|token|secret|auth|pwd", t)]
    return out


def _same(old: re.Pattern[str], new: re.Pattern[str], text: str) -> None:
    # a match tried at every position; a search from the start and on from each match's end
    for pos in range(len(text) + 1):
        a, b = old.match(text, pos), new.match(text, pos)
        assert (a and (a.span(), a.groupdict())) == (b and (b.span(), b.groupdict())), (text, pos)
    pos = 0
    while pos <= len(text):
        a, b = old.search(text, pos), new.search(text, pos)
        assert (a and (a.span(), a.groupdict())) == (b and (b.span(), b.groupdict())), (text, pos)
        if a is None:
            break
        pos = max(a.end(), a.start() + 1)


def test_the_kv_patterns_match_as_before() -> None:
    lowered_old = dense.search_form(_OLD_KV, True)
    lowered_new = dense.search_form(structural._KV, True)
    assert lowered_old is not None and lowered_new is not None
    for text in _texts():
        _same(_OLD_KV_PAIR, structural._KV_PAIR, text)
        _same(_OLD_KV, structural._KV, text)
        _same(lowered_old, lowered_new, text.lower())

"""Value shapes: placeholders that look like tokens, names that look like values, opaque values.

Secret scanners' documented false positives are mostly of three kinds, and so are the values a
program prints next to a secret-ish word: a token format filled with a dummy (``ghp_xxxx...``,
``AKIA...EXAMPLE``, ``glc_1111...``, an alphabet), a code identifier (``kVK_Return.u16``,
``hf_requiredCharacteristicTypesForDisplayMetadata``), or a real random value. These checks
run on one value (bounded length), never on the whole text.
"""

from __future__ import annotations

import functools
import re
from itertools import pairwise

_WORD_PIECES = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_VOWELS = frozenset("aeiouyAEIOUY")
_ASC = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = frozenset("0123456789")
#: Shapes are judged on a value's first 512 characters (a judge's cost stays bounded).
_MAX_VALUE = 512


_RUN_OF_5 = re.compile(r"(.)\1{4}", re.S)
_SEQ_3 = re.compile(
    "|".join(_ASC[i : i + 3] for i in range(24))
    + "|"
    + "|".join(("0123456789" * 2)[i : i + 3] for i in range(10))
)


def _longest_sequence(value: str) -> int:
    """The longest run of consecutive letters or digits (abcdef, 789012: wrapping digits)."""
    low = value.lower()
    if _SEQ_3.search(low) is None:
        return min(len(value), 2)  # no three in a row: the common case, at C speed
    best = run = 1
    for a, b in pairwise(low):
        step = (a in _DIGITS and b in _DIGITS and (int(b) - int(a)) % 10 == 1) or (
            a in _ASC and b in _ASC and ord(b) - ord(a) == 1
        )
        run = run + 1 if step else 1
        best = max(best, run)
    return best if value else 0


def _periodic(value: str, max_period: int = 4) -> bool:
    """``123123123123``, ``abababab``: a short unit repeated."""
    top = min(max_period, len(value) // 3)
    # a period p has value[p] == value[0]: most values (a token, a word) have no such p, which
    # one C test finds without the slices
    if top < 1 or value[0] not in value[1 : top + 1]:
        return False
    # (period p: each character equals the one p before it, two slices compared in C; a
    # loop, not any(): a generator costs more than the comparisons on a short value)
    for p in range(1, top + 1):  # noqa: SIM110
        if value[p:] == value[:-p]:
            return True
    return False


#: Every run of 12 consecutive letters or (wrapping) digits: ``_longest_sequence`` reaches 12
#: only in a value holding one of these, so the walk runs only there.
_SEQ_12 = re.compile(
    "|".join(_ASC[i : i + 12] for i in range(len(_ASC) - 11))
    + "|"
    + "|".join(("0123456789" * 3)[i : i + 12] for i in range(10))
)


@functools.lru_cache(maxsize=2048)
def is_dummy(value: str) -> bool:
    """A token-shaped placeholder: a long run of one character (``xxxx``, ``0000``, ``####``),
    mostly an alphabet or counting sequence, a short unit repeated, or AWS's documented
    example key."""
    core = value[:_MAX_VALUE].strip("=")
    if not core:
        return True
    if _RUN_OF_5.search(core) or _periodic(core):
        return True
    # (a run of 12 needs 12 characters: a shorter value, most tokens' counters, skips both)
    if len(core) >= 12 and _SEQ_12.search(core.lower()) is not None:
        seq = _longest_sequence(core)
        if seq >= 12 and 2 * seq > len(core):
            return True
    return core.endswith("EXAMPLE")


@functools.lru_cache(maxsize=2048)
def wordish(value: str) -> bool:
    """Made of words: every alphabetic piece (split at case changes, digits and separators)
    has a vowel or is at most 3 letters, digits come in short groups at piece ends, and no
    piece alternates letters and digits. ``SalesResults-1.2``, ``DOC_Vector_5_32``,
    ``kVK_Return.u16``, ``jetbrains.mps.v8_elimination`` are; ``su9OL59biWiJu7`` is not."""
    value = value[:_MAX_VALUE]
    if _NOT_WORDS.search(value) is not None:
        return False
    # (the pieces of the whole value are those of its chunks between separators: no piece,
    # and no look ahead of one, reads a character outside A-Za-z0-9)
    letters = 0
    for piece in _WORD_PIECES.findall(value):
        if piece.isdigit():
            continue  # (four digits at most: longer runs were found above)
        letters += len(piece)
        if len(piece) > 3 and not any(c in _VOWELS for c in piece):
            return False
        if len(piece) > 5 and piece.isupper() and _vowel_share(piece) < 0.2:
            return False
    return letters > 0


def _vowel_share(piece: str) -> float:
    return sum(c in _VOWELS for c in piece) / len(piece)


#: Not words, whatever the rest: letters and digits alternating twice without a separator
#: (``a2b``, ``1a2``), or five digits in a row.
_NOT_WORDS = re.compile(r"[0-9][A-Za-z]+[0-9]|[A-Za-z][0-9]+[A-Za-z]|[0-9]{5}")


#: (``\s`` is ``str.isspace``: ``tests/test_sanitize_judges2.py`` checks every code point)
_SPACE = re.compile(r"\s")
_ASCII_DIGIT = re.compile(r"[0-9]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NUMBERISH = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]{1,64}|[0-9][0-9_.,:]{0,64})")


@functools.lru_cache(maxsize=2048)
def opaque(value: str) -> bool:
    """A value that reads as a credential even with no name before it: 8+ characters without
    spaces, not a number, path, URL, placeholder or code name; letters mixed with digits (or
    symbols, or base64 padding), as generated keys and passwords are."""
    n = len(value)
    if n < 8 or n > 512 or _SPACE.search(value) is not None:
        return False
    if _NUMBERISH.fullmatch(value) or "://" in value or value.startswith(("/", "~/", "./", "$")):
        return False
    if is_dummy(value):
        return False
    if wordish(value) and not punctuated(value):
        return False
    # (an ASCII letter or digit found in C spares the walks over the characters)
    if _ASCII_LETTER.search(value) is None and not any(c.isalpha() for c in value):
        return False
    if _ASCII_DIGIT.search(value) is not None:
        return True
    symbols = any(not c.isalnum() and c not in "_-." for c in value)
    return (symbols and n >= 10) or value.endswith("=")


_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}
_PUNCTUATION = frozenset("!#$%&()*<>?@[]^{}~|")
_SYMBOLS = re.escape("".join(sorted(_PUNCTUATION)))
#: Four of ``_PUNCTUATION``, anywhere: counted in C (the repeat cannot backtrack into itself).
_FOUR_SYMBOLS = re.compile(f"(?:[^{_SYMBOLS}]*[{_SYMBOLS}]){{4}}")


def balanced(value: str) -> bool:
    """Whether the value's brackets open and close in order (code and templates do)."""
    stack: list[str] = []
    for c in value[:_MAX_VALUE]:
        if c in "([{<":
            stack.append(c)
        elif c in _BRACKETS and (not stack or stack.pop() != _BRACKETS[c]):
            return False
    return not stack


def punctuated(value: str) -> bool:
    """Words between many symbols with brackets that do not pair up (``{{h}o)p${e]nob(...``):
    a typed password, not a code name or a template."""
    return _FOUR_SYMBOLS.match(value, 0, _MAX_VALUE) is not None and not balanced(value)


def vendor_dummy(body: str) -> bool:
    """What follows a vendor prefix is a placeholder: a dummy, digits only, or words with no
    digit (``hf_requiredCharacteristicTypesForDisplayMetadata``, ``xoxb-my-bot-token``)."""
    core = body.strip("-_.")
    if is_dummy(core) or not any(c.isalpha() for c in core):
        return True
    if any(c in _DIGITS for c in core) or not wordish(core):
        return False
    # random mixed case splits into many 1-2 letter pieces (xqPvX_LwDiS) that pass as words
    pieces = _WORD_PIECES.findall(core[:_MAX_VALUE])
    return sum(map(len, pieces)) >= 3 * len(pieces)

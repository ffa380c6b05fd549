"""The entropy fallback: whether a token reads like a machine-generated secret."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter

from .markers import _words

# -- entropy -----------------------------------------------------------------------------------
_HEXISH = re.compile(r"(?:0x)?[0-9a-fA-F]+(?:[-_][0-9a-fA-F]+)*")
_WORDISH = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{4,}")
#: Identifier prefixes that mark public ids, not secrets (request / message / tool-call ids).
#: Google API keys (AIza...) are public by design (shipped in web and mobile clients, limited
#: by referrer): redacted when named (key=, api_key:) or after a credential word, not alone.
_PUBLIC_ID_PREFIXES = tuple(
    sorted(
        _words(
            "req_ msg_ msgbatch_ toolu_ srvtoolu_ chatcmpl- call_ file_ file- batch_ asst_ "
            "thread_ run_ step_ resp_ org- proj_ evt_ cus_ sub_ ch_ pi_ in_ wrkspc_ apikey_ user_ "
            "acct_ AIza"
        )
    )
)


def _entropy(token: str) -> float:
    n = len(token)
    return -sum(k / n * math.log2(k / n) for k in Counter(token).values())


_DIGIT = re.compile(r"[0-9]")
_TYPED_ID = re.compile(r"[a-z]{2,12}_01[A-Za-z0-9]{18,}$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@functools.lru_cache(maxsize=2048)
def _looks_random(token: str, *, min_len: int = 20) -> bool:
    """Whether a token reads like a machine-generated secret rather than a word, identifier,
    path, hex digest or UUID. Cheapest (C-level) checks first: it runs for every long token.

    Tuned on 18,000 distinct long tokens from the source of ~150 packages (about 20 flagged)
    against random base62 tokens (93% of 20-character and 99% of 40+-character ones caught).
    """
    core = token.rstrip("=")
    if "-" in core and _UUID.search(core):
        core = _UUID.sub("", core)  # a timestamp glued to a UUID is an id, not a secret
    n = len(core)
    if n < min_len or core.startswith(_PUBLIC_ID_PREFIXES) or _HEXISH.fullmatch(core):
        return False
    if _TYPED_ID.match(core):
        return False  # msg_01..., rlg_01...: typed public ids (Anthropic style)
    has_upper = core.lower() != core
    has_lower = core.upper() != core
    has_digit = _DIGIT.search(core) is not None
    classes = has_digit + has_upper + has_lower
    if classes < 2 or (not has_digit and n < 32) or (classes == 2 and n < 32):
        return False
    separators = core.count("_") + core.count("-") + core.count("/")
    if separators / n > (0.05 if classes == 2 else 0.15) or core.count("_") >= 3:
        return False  # snake_case names, versions like 5.10.81-android12-9-00001
    low = core.lower()
    if ("abcdef" in low and "ghijkl" in low) or "0123456" in core:
        return False  # an alphabet, not a key
    wordish = sum(map(len, _WORDISH.findall(core))) / n
    if wordish > 0.45:
        letters = sum(c.isalpha() for c in core)
        vowels = sum(c in "aeiouAEIOU" for c in core)
        if vowels >= 0.25 * letters:
            return False  # words with vowels: CamelCase or English, not base62 noise
    return _entropy(core) >= (3.6 if classes == 3 else 3.9)

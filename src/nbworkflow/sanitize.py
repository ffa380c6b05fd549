"""The one redactor every error passes through before it reaches the model, a log or a screen.

``sanitize(text)`` removes credentials from free text (tracebacks, stderr, HTTP error bodies,
config dumps) and replaces each with a marker that says what was there::

    postgres://app:[REDACTED:url-credentials]@db:5432/crm
    Authorization: Bearer [REDACTED:bearer-token]
    ~/project/etl.py, line 12

Layers, in the order they run (a later layer never looks inside an earlier layer's marker):

1. exact values: registered secrets, ``known_secrets=`` and the values of the current process's
   secret-looking environment variables (``is_secret_name``); the only way to catch opaque secrets;
2. user patterns added with ``add_pattern``;
3. PEM private key blocks;
4. vendor token formats (Anthropic, OpenAI, AWS, GitHub, GitLab, Slack, Stripe, Google, JWT, ...)
   and, in the same scan over long tokens, the entropy fallback for random-looking ones (hex
   digests, UUIDs, identifiers and paths survive; a random value after a secret name gets that
   name's kind);
5. structural rules: credentials in URLs, Authorization / Cookie headers, ``name=value`` pairs whose
   name looks secret (text, JSON, dict reprs, env dumps, query strings, YAML), CLI arguments,
   pydantic ``input_value=`` echoes, SQL ``IDENTIFIED BY``;
6. home directories replaced by ``~``.

Redaction runs to a fixed point, so ``sanitize(sanitize(x)) == sanitize(x)``; markers never match
any rule. Exception types, messages, file names, line numbers and placeholders (``password=None``,
``${API_KEY}``, ``KeyError: 'OPENAI_API_KEY'``) survive. ``max_chars`` keeps the head and the tail
(where the exception line is) and says how much was cut.

Pure: standard library only, every regex compiled once; rules whose trigger substring is
absent are skipped, and rules that would scan every position are only matched where their
anchor substring occurs (see ``_Rule``). About 5 ms per 100 KB (``bench/sanitize.py``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import json
import math
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = [
    "Sanitizer",
    "add_pattern",
    "is_secret_name",
    "main",
    "redact_values",
    "redaction_kinds",
    "register_secret",
    "sanitize",
    "truncate_middle",
    "value_redactor",
]

MARKER_PREFIX = "[REDACTED:"
_MARKER_RE = re.compile(r"\[REDACTED:[A-Za-z0-9_.:-]+\]")
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_MAX_PASSES = 6


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Values never worth redacting everywhere, even when a secret-named variable holds them.
_TRIVIAL_VALUES = _words(
    "true false yes no on off none null nil undefined default disabled enabled "
    "localhost changeme redacted secret password token test dummy example"
)
_MIN_ENV_SECRET = 6
_MIN_KNOWN_SECRET = 4


def _marker(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


# ---------------------------------------------------------------------------------------------
# Secret names
# ---------------------------------------------------------------------------------------------

_NAME_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_SECRET_WORDS = _words(
    "PASSWORD PASSWORDS PASSWD PASSPHRASE PASS PWD SECRET SECRETS TOKEN CREDENTIAL CREDENTIALS "
    "CREDS AUTH APIKEY SESSIONID SESSID COOKIE COOKIES DSN"
)
_KEY_QUALIFIERS_NOT_SECRET = _words(
    "PRIMARY FOREIGN SORT PARTITION CACHE LOOKUP DICT MAP ROW COLUMN SHORTCUT HOT PUBLIC PUB "
    "FIELD SEARCH GROUP UNIQUE COMPOSITE IDEMPOTENCY OBJECT REGISTRY SSH_HOST HASH RANGE INDEX "
    "SHARD ROUTING JOIN DEDUP SEED MONKEY WEBSOCKET SOCKET IDEMPOTENT"
)
#: A secret word followed by one of these names something about the secret, not the secret.
_SUFFIX_NOT_SECRET = _words(
    "ID IDS FILE PATH DIR NAME NAMES TYPE TYPES SIZE LEN LENGTH COUNT COUNTS LIMIT LIMITS MIN "
    "MAX FORMAT ALGORITHM ALG ALIAS URL URI ENDPOINT EXPIRY EXPIRES EXPIRATION TTL USAGE BUDGET "
    "POLICY RESET HASHER HASHERS VALIDATORS VALIDATOR PROMPT REQUIRED CHANGED ENABLED DISABLED "
    "METHOD METHODS MODE PROVIDER PROVIDERS BACKEND BACKENDS ERROR ERRORS EXCEPTION WARNING "
    "FIELD FIELDS HEADER LOCATION HINT STRENGTH PATTERN REGEX CLASS ENV VAR VARS STORE STORAGE "
    "MANAGER HANDLER HANDLERS TIMEOUT RETRIES DOMAIN SECURE SAMESITE HTTPONLY AGE INDEX ENCODING "
    "COST COSTS PER BOARD RING CHAIN STATE STATUS STR FROM TO OF"
)
#: A secret word preceded by one of these is a count or a setting (max_tokens, input_tokens).
_PREFIX_NOT_SECRET = _words(
    "MAX MIN NUM TOTAL INPUT OUTPUT COMPLETION PROMPT CACHED REASONING N TOKENIZERS USE NO "
    "REQUIRE REQUIRES SHOW HIDE FORGOT RESET"
)
_KEY_PREFIXES = tuple(
    sorted(
        _words(
            "API ACCESS SECRET PRIVATE AUTH SIGNING MASTER ENCRYPTION CRYPT LICENSE SERVICE "
            "ACCOUNT CLIENT DEPLOY WEBHOOK SESSION SHARED STORAGE ADMIN"
        )
    )
)
_EXACT_NOT_SECRET = frozenset({"PWD", "OLDPWD", "TOKENIZERS_PARALLELISM", "JPY_SESSION_NAME"})
_CONNECTION_URL = re.compile(
    r"(?:DATABASE|DB|POSTGRES(?:QL)?|PG|MYSQL|MARIADB|MONGO(?:DB)?|REDIS|AMQP|RABBITMQ|BROKER|"
    r"CELERY_BROKER|CELERY_RESULT_BACKEND|SQLALCHEMY_DATABASE|CACHE|ELASTICSEARCH|KAFKA|SMTP)"
    r"(?:_[A-Z0-9]+)*_(?:URL|URI|DSN)$"
)


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a variable / environment variable / field NAME looks like it holds a secret.

    ``OPENAI_API_KEY``, ``GITHUB_TOKEN``, ``client_secret``, ``PGPASSWORD``, ``DATABASE_URL``,
    ``JUPYTER_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``apiKey`` are secret names;
    ``TOKENIZERS_PARALLELISM``, ``KEYBOARD``, ``max_tokens``, ``PWD``, ``PASSWORD_MIN_LENGTH``,
    ``primary_key``, ``KeyError`` are not.
    """
    stripped = name.strip().strip("\"'$-{}")
    if not stripped:
        return False
    upper = stripped.upper().replace("-", "_").replace(".", "_")
    if upper in _EXACT_NOT_SECRET:
        return False
    if _CONNECTION_URL.search(upper) or upper.endswith(("CONNECTION_STRING", "CONN_STR")):
        return True
    words = [w.upper() for w in _NAME_WORDS.findall(stripped)]
    if not words:
        return False
    found = False
    for i, word in enumerate(words):
        if not _is_secret_word(word, words, i):
            continue
        if word in ("SESSION", "SESSIONS"):
            found = True  # SESSION counts only as SESSION_ID / SESSION_KEY, checked already
            continue
        nxt = words[i + 1] if i + 1 < len(words) else ""
        prev = words[i - 1] if i > 0 else ""
        if nxt in _SUFFIX_NOT_SECRET or prev in _PREFIX_NOT_SECRET:
            return False
        found = True
    return found


#: PASS alone is a count or a verb (last_pass, bypass) unless it belongs to an account.
_PASS_OWNERS = _words(
    "DB SMTP MYSQL PG POSTGRES USER ADMIN ROOT FTP SFTP HTTP PROXY BASIC LDAP SSH REDIS MAIL "
    "EMAIL IMAP API APP SERVICE ACCOUNT RABBITMQ AMQP MONGO SQL AUTH LOGIN"
)


def _is_secret_word(word: str, words: list[str], i: int) -> bool:
    if word == "PASS":
        return len(words) == 1 or (i == len(words) - 1 and words[i - 1] in _PASS_OWNERS)
    if word in _SECRET_WORDS:
        if word == "AUTH" and i + 1 < len(words) and words[i + 1] not in ("TOKEN", "KEY"):
            return words[i + 1] in ("PASS", "PASSWORD", "HEADER_VALUE")
        return True
    if word.startswith(("PASSWORD", "PASSWD")) or word.endswith(("PASSWORD", "PASSWD")):
        return True
    if word.startswith("SECRET") and not word.startswith("SECRETAR"):
        return True
    if word.endswith(("TOKEN", "SECRET")) and len(word) > 5:
        return True
    if word in ("KEY", "KEYS"):
        prev = words[i - 1] if i > 0 else ""
        return prev not in _KEY_QUALIFIERS_NOT_SECRET
    if word.endswith("KEY") and word.startswith(_KEY_PREFIXES):
        return True
    return word in ("SESSION", "SESSIONS") and i + 1 < len(words) and words[i + 1] in ("ID", "KEY")


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

Replacer = Callable[[re.Match[str]], str]


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
    """For exact values: replaced with ``str.replace`` (C speed) instead of the regex."""
    anchors: tuple[str, ...] = ()
    """Lower-case literals where a match can start (``offset`` characters before them)."""
    offset: int = 0
    more: tuple[tuple[re.Pattern[str], Replacer], ...] = ()
    """Further (regex, replacer) pairs tried at the same anchors when the first does not
    redact: rules sharing anchors share one search."""
    exact_anchors: bool = False
    """Find ``anchors`` in the original text (case-sensitive) rather than the lower-cased one."""

    def applies(self, text: str, lower: str) -> bool:
        if not self.triggers and not self.case_sensitive_triggers:
            return True
        return any(t in lower for t in self.triggers) or any(
            t in text for t in self.case_sensitive_triggers
        )

    def present(self, text: str, lower: str) -> bool:
        """Whether the rule can match anywhere in ``text`` (triggers and anchors)."""
        if not self.applies(text, lower):
            return False
        haystack = text if self.exact_anchors else lower
        return not self.anchors or any(a in haystack for a in self.anchors)

    def apply(self, text: str, lower: str) -> str:
        if self.literal is not None:
            return text.replace(self.literal, _marker(self.kind))
        if not self.anchors:
            return self.regex.sub(self.repl, text)
        positions: list[int] = []
        haystack = text if self.exact_anchors else lower
        for anchor in self.anchors:
            i = haystack.find(anchor)
            while i >= 0:
                positions.append(i - self.offset)
                i = haystack.find(anchor, i + 1)
        if not positions:
            return text
        positions.sort()
        out: list[str] = []
        last = 0
        pairs = ((self.regex, self.repl), *self.more)
        for start in positions:
            if start < last or start < 0:
                continue
            for regex, repl in pairs:
                m = regex.match(text, start)
                if m is None:
                    continue
                replacement = repl(m)
                if replacement != m.group(0):
                    out.append(text[last:start])
                    out.append(replacement)
                    last = m.end()
                    break
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)


def _whole(kind: str) -> Replacer:
    marker = _marker(kind)
    return lambda m: marker


def _group(kind: str, group: str | int = "v") -> Replacer:
    """Replace only one group of the match, keeping the context around it."""
    marker = _marker(kind)

    def repl(m: re.Match[str]) -> str:
        start, end = m.span(group)
        if start < 0:
            return m.group(0)
        base = m.start()
        whole = m.group(0)
        return whole[: start - base] + marker + whole[end - base :]

    return repl


# -- private keys ------------------------------------------------------------------------------
# A whole block (also inside JSON with escaped "\n"), or a block cut short by a truncation:
# then the BEGIN line and the base64 / header lines that follow it.
_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[A-Za-z0-9+/=\s\\:,.-]*?-----END (?P=label)PRIVATE KEY(?: BLOCK)?-----"
    r"|(?:(?:\s|\\[nr])+(?:[A-Za-z0-9+/]{16,}={0,2}|(?:Proc-Type|DEK-Info|Comment):[^\n\\]*))*)"
)

# -- vendor tokens -----------------------------------------------------------------------------
# Token-shaped formats are found by one scan over runs of token characters (see _TOKEN_RUN),
# dispatched on their prefix: one regex pass instead of one substring search per vendor prefix.
_E = r"(?![A-Za-z0-9_])"  # token end

_VENDOR_TOKENS: list[tuple[str, str, tuple[str, ...]]] = [
    ("anthropic-key", r"sk-ant-[A-Za-z0-9_-]{20,}", ("sk-ant-",)),
    ("openai-key", r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}", ("sk-",)),
    ("openai-key", r"sk-[A-Za-z0-9]{20,}" + _E, ("sk-",)),
    (
        "aws-access-key",
        r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}" + _E,
        (
            *("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA"),
            *("AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA"),
        ),
    ),
    (
        "github-token",
        r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,255}" + _E,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    ("github-token", r"github_pat_[A-Za-z0-9_]{22,255}", ("github_pat_",)),
    (
        "gitlab-token",
        r"gl(?:pat|ptt|dt|rt|soat|cbt|ft|imt|agent|oas|ffct)-[A-Za-z0-9_-]{20,}",
        ("gl",),
    ),
    ("gitlab-token", r"GR1348941[A-Za-z0-9_-]{20,}", ("GR1348941",)),
    ("slack-token", r"xox[abposer]-[A-Za-z0-9-]{10,}", ("xox",)),
    ("slack-token", r"xapp-\d-[A-Za-z0-9-]{10,}", ("xapp-",)),
    (
        "stripe-key",
        r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
    ),
    ("stripe-key", r"whsec_[A-Za-z0-9]{24,}", ("whsec_",)),
    ("google-api-key", r"AIza[0-9A-Za-z_-]{35}" + _E, ("AIza",)),
    ("google-oauth-secret", r"GOCSPX-[0-9A-Za-z_-]{20,}", ("GOCSPX-",)),
    ("google-refresh-token", r"1//0[0-9A-Za-z_-]{30,}", ("1//0",)),
    ("huggingface-token", r"hf_[A-Za-z0-9]{30,}" + _E, ("hf_",)),
    ("npm-token", r"npm_[A-Za-z0-9]{36}" + _E, ("npm_",)),
    ("pypi-token", r"pypi-AgE[A-Za-z0-9_-]{50,}", ("pypi-",)),
    ("twilio-key", r"SK[0-9a-fA-F]{32}" + _E, ("SK",)),
    ("mailgun-key", r"key-[0-9a-f]{32}" + _E, ("key-",)),
    ("digitalocean-token", r"do[opr]_v1_[a-f0-9]{64}" + _E, ("dop_", "doo_", "dor_")),
    ("databricks-token", r"dapi[a-f0-9]{32}(?:-\d)?" + _E, ("dapi",)),
    ("shopify-token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _E, ("shp",)),
    ("groq-key", r"gsk_[A-Za-z0-9]{40,}" + _E, ("gsk_",)),
    ("replicate-token", r"r8_[A-Za-z0-9]{30,}" + _E, ("r8_",)),
    ("xai-key", r"xai-[A-Za-z0-9]{60,}" + _E, ("xai-",)),
    ("perplexity-key", r"pplx-[A-Za-z0-9]{40,}" + _E, ("pplx-",)),
    ("langsmith-key", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}" + _E, ("lsv2_",)),
    ("atlassian-token", r"ATATT3[A-Za-z0-9_-]{40,}", ("ATATT3",)),
    ("linear-key", r"lin_api_[A-Za-z0-9]{40}" + _E, ("lin_api_",)),
    ("notion-token", r"(?:secret|ntn)_[A-Za-z0-9]{43}" + _E, ("secret_", "ntn_")),
]
_VENDOR_COMPILED = [(kind, re.compile(p), prefixes) for kind, p, prefixes in _VENDOR_TOKENS]
_VENDOR_PREFIXES = tuple(dict.fromkeys(p for _, _, ps in _VENDOR_TOKENS for p in ps))

_B = r"(?<![A-Za-z0-9_])"  # token start: not preceded by a token character
#: Formats with '.', ':' or a URL around them, found by their own anchor.
_VENDOR_ANCHORED: list[tuple[str, str, tuple[str, ...]]] = [
    ("jwt", _B + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", ("eyJ",)),
    ("google-oauth-token", _B + r"ya29\.[0-9A-Za-z_-]{20,}", ("ya29.",)),
    ("sendgrid-key", _B + r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", ("SG.",)),
    (
        "slack-webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}",
        ("https://hooks.slack.com/",),
    ),
    (
        "discord-webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{20,}",
        ("https://discord", "https://ptb.discord", "https://canary.discord"),
    ),
]
_TELEGRAM = re.compile(r"(?:(?<=bot)|(?<![A-Za-z0-9_]))\d{8,10}:AA[A-Za-z0-9_-]{33}" + _E)
_AZURE = re.compile(r"(?i)(?:AccountKey|SharedAccessKey)=(?P<v>[A-Za-z0-9+/]{20,}={0,2})")

# A maximal run of token characters, led by one delimiter: the engine then only tries the
# positions after a delimiter (a leading lookbehind makes it try all of them: 3x slower). The
# scans run over "\n" + text so a token at the very start has its delimiter too.
_TOKEN_RUN = re.compile(r"[^A-Za-z0-9+/_-][A-Za-z0-9+/_-]{20,}+={0,2}+")


def _vendor_piece(piece: str) -> str:
    if not piece.startswith(_VENDOR_PREFIXES):
        return piece
    for kind, regex, prefixes in _VENDOR_COMPILED:
        if piece.startswith(prefixes):
            m = regex.match(piece)
            if m:
                return _marker(kind) + piece[m.end() :]
    return piece


def _token_repl(m: re.Match[str]) -> str:
    """Vendor formats by prefix, then the entropy fallback, for one run of token characters.
    A run holding '/' (a path, a URL, base64) is judged whole, then piece by piece. Runs for
    every long token (hundreds per 100 KB of traceback): keep the common path cheap."""
    token = m.group(0)
    body = token[1:]  # token[0] is the delimiter the scan is led by
    vendor = body.startswith(_VENDOR_PREFIXES)
    if vendor:
        new = _vendor_piece(body)
        if new != body:
            return token[0] + _token_tail(new)
    if "/" not in body:
        return token[0] + _random_marker(m) if _looks_random(body) else token
    path = _PATH_WORD.search(body) is not None
    if not vendor and not path and _looks_random(body):
        return token[0] + _random_marker(m)
    if not _LONG_PIECE.search(body):
        return token  # 11/site-packages/httpx/_client: no piece long enough to matter
    pieces = body.split("/")
    changed = False
    for i, piece in enumerate(pieces):
        if len(piece) >= 16:
            new = _token_piece(piece)
            if new != piece:
                pieces[i] = new
                changed = True
    return token[0] + "/".join(pieces) if changed else token


_VALUE_OPENERS = frozenset(" \t\"'")


def _random_marker(m: re.Match[str]) -> str:
    """``[REDACTED:high-entropy]``, or the kind its name gives when the token is the value of
    a secret-named pair (``aws_secret_access_key = <random>`` -> ``aws-secret-key``)."""
    text = m.string
    j = m.start() + 1
    word = text[max(j - 7, 0) : j].lower()
    if word.endswith("bearer "):
        return _marker("bearer-token")
    if word.endswith("token "):
        return _marker("token")
    if word.endswith("basic "):
        return _marker("basic-auth")
    while j > 0 and text[j - 1] in _VALUE_OPENERS:
        j -= 1
    if j == 0 or text[j - 1] not in "=:":
        return _marker("high-entropy")
    j -= 1
    while j > 0 and text[j - 1] in _VALUE_OPENERS:
        j -= 1
    end = j
    while j > 0 and text[j - 1] in _NAME_CHARS:
        j -= 1
    name = text[j:end].strip(".-")
    if end > j and is_secret_name(name):
        return _marker(_kind_for(name))
    return _marker("high-entropy")


#: A path component that is a word: the run is a path or URL, judged piece by piece.
_PATH_WORD = re.compile(r"(?:^|/)(?:[A-Za-z]?[a-z]{2,}|[a-z]+[-_.][a-z]+)(?:/|$)")
_LONG_PIECE = re.compile(r"[^/]{16}")


def _token_tail(text: str) -> str:
    """After a vendor token matched a run's prefix, judge what follows it on its own."""
    marker_end = text.index("]") + 1
    rest = text[marker_end:]
    if len(rest) < 16:
        return text
    return text[:marker_end] + rest[0] + _token_piece(rest[1:]) if rest[0] in "/+-" else text


def _token_piece(piece: str) -> str:
    new = _vendor_piece(piece)
    if new == piece and _looks_random(piece):
        return _marker("high-entropy")
    return new


@dataclass(frozen=True)
class _ScanRule(_Rule):
    """One regex pass over every run of token characters (vendor formats and entropy)."""

    def apply(self, text: str, lower: str) -> str:
        return self.regex.sub(self.repl, "\n" + text)[1:]


def _vendor_rules() -> list[_Rule]:
    rules: list[_Rule] = []
    for kind, pattern, anchors in _VENDOR_ANCHORED:
        # one cheap trigger search first when a format has several anchors
        triggers = ("/api/webhooks/",) if kind == "discord-webhook" else ()
        rules.append(
            _Rule(
                kind,
                re.compile(pattern),
                _whole(kind),
                case_sensitive_triggers=triggers,
                anchors=anchors,
                exact_anchors=True,
            )
        )
    rules.append(
        _Rule(
            "telegram-bot-token",
            _TELEGRAM,
            _whole("telegram-bot-token"),
            case_sensitive_triggers=(":AA",),
        )
    )
    rules.append(
        _Rule(
            "azure-key",
            _AZURE,
            _group("azure-key"),
            triggers=("key=",),
            anchors=("accountkey=", "sharedaccesskey="),
        )
    )
    # after the formats with '.' or ':' (a JWT's parts would pass for random tokens)
    rules.append(_ScanRule("vendor", _TOKEN_RUN, _token_repl))
    return rules


# -- structure ---------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"""(?ix)
    (?:none|null|nil|undefined|true|false|n/?a|empty|unset|missing|required|optional|
       \*+|x{3,}|\.{3}|…|-+|_+|\?+|0|
       <[^<>]*>|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|%\([^)]*\)[sdr]|%[sdr]|
       \{[A-Za-z_0-9.!:\[\]'"]*\}|\{\{[^}]*\}\}|
       your[_-]?\w*|my[_-]?(?:secret|password|token|api[_-]?key)|
       pass(?:word|wd)?|pwd|secret|token|api[_-]?key|username|user|changeme|
       (?:[^<>]*<[^<>]+>)+[^<>]*|
       <redacted>|redacted|\*\*\*\w*)
    """
)
_IDENT_CHAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PY_WORDS = _words(
    "lambda None True False self cls str bytes int float bool dict list tuple set len repr "
    "object Any Optional SecretStr Secret getpass input os sys env environ settings config "
    "kwargs args request req response resp"
)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1]
    return value


def _is_placeholder(value: str) -> bool:
    inner = _unquote(value).strip()
    if not inner:
        return True
    if inner[:2] in ("f'", 'f"', "b'", 'b"', "r'", 'r"') and "{" in inner:
        return True
    return bool(_PLACEHOLDER.fullmatch(inner))


def _code_like(name: str, value: str, after: str) -> bool:
    """An unquoted value that is a Python expression (``token=self.token``, ``key=len``,
    ``password=getpass()``, ``api_key=os.environ[...]``) rather than a literal secret."""
    call = re.match(r"([A-Za-z_][\w.]*)[(\[]", value)
    if call and _IDENT_CHAIN.fullmatch(call.group(1)):
        return True  # os.environ[...], getpass(...)
    if not _IDENT_CHAIN.fullmatch(value):
        return False
    if after[:1] in ("(", "["):
        return True
    if value in _PY_WORDS or value.split(".", 1)[0] in _PY_WORDS:
        return True
    if "." in value and not any(c.isdigit() for c in value):
        return True
    low = value.lower()
    if low == name.lower().lstrip("-") or is_secret_name(value):
        return True
    # ambiguous names (sorted(key=len), check(auth=basic)): a plain word is code
    bare = name.lower().lstrip("-").strip("\"'")
    return bare in ("key", "auth", "pass", "session", "sig", "cookie", "secret") and value.isalpha()


_KIND_BY_WORD = (
    ("aws", "secret", "aws-secret-key"),
    ("pass", "", "password"),
    ("pwd", "", "password"),
    ("private", "key", "private-key"),
    ("secret", "", "secret"),
    ("token", "", "token"),
    ("cookie", "", "cookie"),
    ("session", "key", "signing-key"),
    ("session", "", "session"),
    ("sessid", "", "session"),
    ("key", "", "api-key"),
    ("sig", "", "signature"),
    ("dsn", "", "url-credentials"),
    ("code", "", "oauth-code"),
    ("auth", "", "authorization"),
)


def _kind_for(name: str) -> str:
    low = name.lower()
    for a, b, kind in _KIND_BY_WORD:
        if a in low and b in low:
            return kind
    return "credential"


_QUERY_NAMES = _words(
    "sig signature code key apikey api_key access_token refresh_token id_token token auth "
    "password pass pwd secret client_secret x-amz-signature x-amz-credential "
    "x-amz-security-token x-goog-signature x-goog-credential sessionid session_id"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

# name ... separator ... value; anchored on the secret word so the regex skips most text fast
_KV = re.compile(
    r"""(?ix)
    (?P<kw>pass(?:word|wd|phrase)?|pwd|secret|token|key|auth|credential|cred|session|sessid|
        sig|dsn|code)
    (?P<rest>[a-z0-9_.-]*)
    (?P<q>["']?)
    (?P<sep>[ \t]*(?::=|=>|==|=|:|->)[ \t]*)
    (?P<v>"(?:[^"\\\n]|\\.){0,2000}"|'(?:[^'\\\n]|\\.){0,2000}'|b'(?:[^'\\\n]|\\.){0,2000}'
        |b"(?:[^"\\\n]|\\.){0,2000}"
        |\$?\{[^{}\n]{0,200}\}|[^\s"'`,;&)\]}>]{1,2000})
    """
)


def _kv_repl(m: re.Match[str]) -> str:
    text = m.string
    start = m.start()
    # the regex starts at the secret word; walk back to the start of the name
    i = start
    while i > 0 and text[i - 1] in _NAME_CHARS:
        i -= 1
    name_start = i
    quote_before = text[i - 1] if i > 0 else ""
    name = text[name_start:start] + m.group("kw") + m.group("rest")
    bare = name.strip(".-").rsplit(".", 1)[-1]  # self.api_key -> api_key
    q = m.group("q")
    sep = m.group("sep").strip()
    value = m.group("v")
    if sep == "==" or sep == "->":
        return m.group(0)
    if q and quote_before != q:
        return m.group(0)
    in_query = quote_before in ("?", "&", ";") and sep == "="
    if in_query:
        secret = bare.lower() in _QUERY_NAMES or is_secret_name(bare)
    else:
        secret = is_secret_name(bare)
    if not secret:
        return m.group(0)
    if bare.upper() in ("PWD", "OLDPWD") and _unquote(value)[:1] in ("/", "~", ""):
        return m.group(0)
    if _is_placeholder(value):
        return m.group(0)
    quoted = value[:1] in ("'", '"') or value[:2] in ("b'", 'b"')
    inner = _unquote(value[1:] if value[:2] in ("b'", 'b"') else value)
    if quoted and _ENV_NAME.fullmatch(inner) and is_secret_name(inner):
        return m.group(0)  # api_key_var = "OPENAI_API_KEY": the name of a secret
    if _kind_for(bare) not in _ALWAYS_SECRET_KINDS and not _credential_like(inner):
        return m.group(0)  # token="#dcdccc", key="bash-language-server": not credentials
    if not quoted:
        after = text[m.end() : m.end() + 1]
        if _code_like(bare, value, after):
            return m.group(0)
        fake_marker = value.startswith(MARKER_PREFIX)  # trusted markers never get here
        if not fake_marker and (value[:1] in ("(", "[", "{", "<") or value.endswith(":")):
            return m.group(0)
        if sep != ":" and not bare.isupper() and _PLAIN_IDENT.fullmatch(value):
            return m.group(0)  # key=literal_sort_key: a variable, in code-style naming
        if sep == ":":
            # `password: hunter2` only as a header / YAML line of its own; a ':' in prose
            # ("password: must be 8 characters") is not a key-value pair.
            line_start = text.rfind("\n", 0, name_start) + 1
            head = text[line_start:name_start].strip()
            line_end = text.find("\n", m.end())
            tail = text[m.end() : len(text) if line_end < 0 else line_end].strip()
            if head.strip("-#> ") or tail:
                return m.group(0)
    marker = _marker(_kind_for(name.strip(".-")))
    vstart = m.start("v") - start
    whole = m.group(0)
    if quoted:
        opener = value[:2] if value[:2] in ("b'", 'b"') else value[0]
        return whole[:vstart] + opener + marker + value[-1]
    return whole[:vstart] + marker


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{2,}")
_PLAIN_IDENT = re.compile(r"[A-Za-z_]+")
#: Names whose values are secrets even when they read like words (passwords often do).
_ALWAYS_SECRET_KINDS = frozenset({"password", "secret", "aws-secret-key", "credential"})


def _credential_like(value: str) -> bool:
    """Token-ish: a digit and 8+ characters, or random-looking. ``key="bash-language-server"``
    and ``token='#dcdccc'`` are not; real API keys, tokens and session ids are."""
    value = value.strip()
    if _NUMBER.fullmatch(value) or "%s" in value or "%(" in value or "{}" in value:
        return False  # TOKEN_ADJUST = 0x00000020, "--token=%s": numbers and templates
    if len(value) >= 8 and _DIGIT.search(value) and " " not in value:
        return True
    return _looks_random(value, min_len=16)


_NUMBER = re.compile(r"0[xX][0-9a-fA-F_]+|[0-9][0-9_.]*")


def _prev_char(m: re.Match[str], at: int | None = None) -> str:
    i = m.start() if at is None else at
    return m.string[i - 1] if i > 0 else ""


def _keep_prefix(m: re.Match[str], group: str, marker: str, suffix: str = "") -> str:
    """The match up to ``group``, then the marker (the group's text is dropped)."""
    return m.group(0)[: m.start(group) - m.start()] + marker + suffix


_URL_CREDS = re.compile(
    r"://(?P<user>[^\s:/?#@'\"<>\[\]]*):(?P<v>[^\s/?#'\"<>]+)@(?=[^\s@/'\"<>]*(?:[\s/?#'\"<>]|$))"
)


def _url_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if not _prev_char(m).isalnum() or _is_placeholder(value):
        return m.group(0)
    if value.isdigit() and not m.group("user"):
        return m.group(0)  # "://:8080@" is not a password
    return f"://{m.group('user')}:{_marker('url-credentials')}@"


_URL_TOKEN_USER = re.compile(r"://(?P<v>[A-Za-z0-9_.~-]{16,})@")


def _url_token_repl(m: re.Match[str]) -> str:
    if not _prev_char(m).isalnum() or not _looks_random(m.group("v"), min_len=16):
        return m.group(0)
    return f"://{_marker('url-credentials')}@"


_AUTH_HEADER = re.compile(
    r"""(?ix)
    authorization(?P<q>["']?)(?P<sep>[ \t]*[:=][ \t]*)(?P<q2>["']?)
    (?:(?P<scheme>bearer|basic|token|digest|negotiate|ntlm|bot|apikey|api-key|sso-key|key|
        aws4-hmac-sha256|hawk|otp)[ \t]+)?
    (?P<v>[^\s"',()\[\]{}`]+(?:[ \t]*,[ \t]*[A-Za-z][\w-]*=[^\s,"']+)*)
    """
)


def _auth_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if _prev_char(m).isalnum() or _is_placeholder(value) or value.startswith("{"):
        return m.group(0)
    scheme = (m.group("scheme") or "").lower()
    kind = {"bearer": "bearer-token", "basic": "basic-auth"}.get(scheme, "authorization")
    if len(value) < 6 or not (scheme or _credential_like(value)):
        return m.group(0)  # "Authorization: Bearer `...`", authorization: str
    if not scheme and (
        (len(value) < 8 and value.isalpha())
        or _code_like("authorization", value, m.string[m.end() : m.end() + 1])
        or _PLAIN_IDENT.fullmatch(value)
    ):
        return m.group(0)  # "authorization: required", authorization=authorization
    return _keep_prefix(m, "v", _marker(kind))


_BEARER = re.compile(r"(?i)bearer[ \t]+(?P<v>[A-Za-z0-9\-._~+/]{8,}=*)")


def _bearer_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    prev = _prev_char(m)
    if prev and (prev.isalnum() or prev in "_-"):
        return m.group(0)
    has_digit = any(c.isdigit() for c in value)
    mixed = value != value.lower() and value != value.upper()
    if not has_digit and not (mixed and len(value) >= 20):
        return m.group(0)  # "Bearer authentication failed" is prose
    return _keep_prefix(m, "v", _marker("bearer-token"))


_BASIC = re.compile(r"Basic[ \t]+(?P<v>[A-Za-z0-9+/]{6,}={0,2})(?![\w+/=])")


def _basic_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    prev = _prev_char(m)
    if prev and (prev.isalnum() or prev in "_-"):
        return m.group(0)
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    try:
        pair = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return m.group(0)
    if ":" not in pair or not pair.isprintable():
        return m.group(0)  # only base64("user:password") is a Basic credential
    return _keep_prefix(m, "v", _marker("basic-auth"))


_COOKIE = re.compile(
    r"""(?ix)
    cookie(?P<q>["']?)[ \t]*[:=][ \t]*
    (?P<v>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\n"']+)
    """
)


_COOKIE_PAIR = r"[\w!#$%&*+.^`|~-]+=[^;\s]*"
_COOKIE_SHAPE = re.compile(_COOKIE_PAIR + r"(?:;[ \t]*[\w!#$%&*+.^`|~-]+(?:=[^;\s]*)?)*;?")


def _cookie_repl(m: re.Match[str]) -> str:
    text = m.string
    start = m.start()
    if text[max(start - 4, 0) : start].lower() == "set-":
        start -= 4
    before = text[start - 1] if start > 0 else ""
    value = m.group("v")
    quoted = value[:1] in ("'", '"')
    if m.group("q"):
        if before != m.group("q") or not quoted:
            return m.group(0)
    else:
        line_start = text.rfind("\n", 0, start) + 1
        head = text[line_start:start]
        if (
            head.strip(" \t>*-")
            and not head.rstrip().endswith(("-H", "--header"))
            and (before not in ("'", '"'))
        ):
            return m.group(0)
    if _is_placeholder(value) or ("=" not in value and len(value) < 16):
        return m.group(0)
    if value.rstrip().endswith("="):
        return m.group(0)  # "Cookie: sid=" + a marker: the value is already redacted
    if not _COOKIE_SHAPE.fullmatch(_unquote(value).strip()):
        return m.group(0)  # `cookie: str | None = ...` is code, not a header
    if quoted:
        return _keep_prefix(m, "v", value[0] + _marker("cookie") + value[-1])
    return _keep_prefix(m, "v", _marker("cookie"))


_CLI_FLAG = re.compile(
    r"""(?ix)
    (?:password|passwd|passphrase|pass|pwd|secret|token|key)[a-z0-9-]*
    (?P<sep>[ \t]+|["'],[ \t]*)(?!-)(?P<v>"[^"\n]*"|'[^'\n]*'|[^\s"']+)
    """
)


def _cli_repl(m: re.Match[str]) -> str:
    text = m.string
    i = m.start()
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] == "-"):
        i -= 1
    if text[i : i + 1] != "-" or (i > 0 and not (text[i - 1].isspace() or text[i - 1] in "'\"")):
        return m.group(0)  # only `--password x` / `-token x` as a command-line argument
    flag = text[i : m.start("sep")].lstrip("-")
    value = m.group("v")
    if "," in m.group("sep") and value[:1] not in ("'", '"'):
        return m.group(0)  # ['--token', 'x'] is an argv list; "--token", type=str is code
    if not is_secret_name(flag) or _is_placeholder(value):
        return m.group(0)
    if _IDENT_CHAIN.fullmatch(value) and (value in _PY_WORDS or is_secret_name(value)):
        return m.group(0)
    marker = _marker(_kind_for(flag))
    if value[:1] in ("'", '"') and len(value) >= 2:
        marker = value[0] + marker + value[-1]
    return _keep_prefix(m, "v", marker)


_CLI_SHORT = re.compile(
    r"""(?x)
    (?:mysqldump|mysqladmin|mysql|mariadb-dump|mariadb)\b[^\n]*?[ \t]-p(?P<v>[^\s-]\S*)
    |(?:sshpass|redis-cli|mongosh|mongo|smbclient)\b[^\n]*?[ \t'"]-[pa](?:[ \t]+|["'],[ \t]*)["']?
        (?P<v2>[^\s'"-][^\s'"]*)
    |(?:curl|wget)\b[^\n]*?[ \t](?:-u|--user|--proxy-user)[ \t=]+["']?[^\s:"']+:(?P<v3>[^\s"']+)
    """
)


def _cli_short_repl(m: re.Match[str]) -> str:
    prev = _prev_char(m)
    if prev and (prev.isalnum() or prev in "_-"):
        return m.group(0)
    for group in ("v", "v2", "v3"):
        if m.group(group) is not None:
            if _is_placeholder(m.group(group)):
                return m.group(0)
            return _keep_prefix(
                m, group, _marker("password"), m.group(0)[m.end(group) - m.start() :]
            )
    return m.group(0)


_PYDANTIC = re.compile(
    r"input_value=(?P<v>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|[^\n]*?)(?=, input_type=)"
)


def _pydantic_repl(m: re.Match[str]) -> str:
    # pydantic v2: "<loc>\n  <message> [type=..., input_value=..., input_type=...]"
    text = m.string
    line_start = text.rfind("\n", 0, m.start()) + 1
    if "[type=" not in text[line_start : m.start()] or line_start == 0:
        return m.group(0)
    loc = text[text.rfind("\n", 0, line_start - 1) + 1 : line_start - 1]
    parts = re.split(r"[.\s]+", loc.strip())
    field = next((p for p in reversed(parts) if is_secret_name(p)), None)
    value = m.group("v")
    if field is None or _is_placeholder(value):
        return m.group(0)
    return _keep_prefix(m, "v", _marker(_kind_for(field)))


_SQL = re.compile(r"(?i)(?:identified[ \t]+by|password)[ \t]+(?P<v>'[^'\n]+')")


def _sql_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if _prev_char(m).isalnum() or _is_placeholder(value):
        return m.group(0)
    return _keep_prefix(m, "v", "'" + _marker("password") + "'")


_KV_ANCHORS = tuple(
    sorted(_words("pass pwd secret token key auth cred sess sig dsn code= identified"))
)


# -- entropy -----------------------------------------------------------------------------------
_HEXISH = re.compile(r"(?:0x)?[0-9a-fA-F]+(?:[-_][0-9a-fA-F]+)*")
_WORDISH = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{4,}")
#: Identifier prefixes that mark public ids, not secrets (request / message / tool-call ids).
_PUBLIC_ID_PREFIXES = tuple(
    sorted(
        _words(
            "req_ msg_ msgbatch_ toolu_ srvtoolu_ chatcmpl- call_ file_ file- batch_ asst_ "
            "thread_ run_ step_ resp_ org- proj_ evt_ cus_ sub_ ch_ pi_ in_ wrkspc_ apikey_ user_ "
            "acct_"
        )
    )
)


def _entropy(token: str) -> float:
    n = len(token)
    return -sum(k / n * math.log2(k / n) for k in Counter(token).values())


_DIGIT = re.compile(r"[0-9]")
_TYPED_ID = re.compile(r"[a-z]{2,12}_01[A-Za-z0-9]{18,}$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


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


# -- home paths --------------------------------------------------------------------------------
# The lookbehinds sit after the leading '/', so the engine still scans for that literal; they
# keep /srv/home/x and ./home/x (not home directories) and accept file:///home/x.
_HOME_POSIX = re.compile(
    r"/(?:(?<=file:///)|(?<![\w./~-]/))(?:home|Users)/(?!~)[\w.@+-]{1,64}(?![\w.@+-])"
)
_HOME_ROOT = re.compile(r"/(?:(?<=file:///)|(?<![\w./~-]/))root(?=/|[\s'\":,)\]]|$)")
_HOME_WINDOWS = re.compile(
    r"(?i)[A-Z]:(?:\\\\|\\|/)(?:Users|Documents and Settings)(?:\\\\|\\|/)"
    r"(?!(?:Public|Default|All Users)(?:\\|/|$))[^\\/\s'\":*?<>|]{1,64}(?=\\|/|[\s'\":,)\]]|$)"
)


def _tilde_unless_inside_path(m: re.Match[str]) -> str:
    prev = _prev_char(m)
    inside = bool(prev) and (prev.isalnum() or prev in "_./~-")
    if inside and m.string[max(m.start() - 7, 0) : m.start()] != "file://":
        return m.group(0)  # /srv/home/x, ./home/x: not a home directory
    return "~"


def _tilde_after_non_word(m: re.Match[str]) -> str:
    prev = _prev_char(m)
    return m.group(0) if prev.isalnum() or prev == "_" else "~"


def _tilde(m: re.Match[str]) -> str:
    return "~"


def _home_rules() -> list[_Rule]:
    windows = (":\\users", ":/users", ":\\\\users", ":\\documents and settings")
    return [
        _Rule("home", _HOME_POSIX, _tilde, case_sensitive_triggers=("/home/", "/Users/")),
        _Rule("home", _HOME_ROOT, _tilde, case_sensitive_triggers=("/root",)),
        _Rule(
            "home",
            _HOME_WINDOWS,
            _tilde_after_non_word,
            triggers=("users", "documents and settings"),
            anchors=windows,
            offset=1,
        ),
    ]


def _home_value_rule() -> _Rule | None:
    home = os.path.expanduser("~")
    if (
        len(home) < 4
        or home == "/root"
        or _HOME_POSIX.fullmatch(home)
        or _HOME_WINDOWS.fullmatch(home)
    ):
        return None
    regex = re.compile(re.escape(home) + r"(?![\w.@+-])")
    return _Rule("home", regex, _tilde_unless_inside_path, case_sensitive_triggers=(home,))


def _structural_rules() -> list[_Rule]:
    return [
        _Rule(
            "url-credentials",
            _URL_CREDS,
            _url_repl,
            anchors=("://",),
            exact_anchors=True,
            more=((_URL_TOKEN_USER, _url_token_repl),),
        ),
        _Rule("authorization", _AUTH_HEADER, _auth_repl, anchors=("authorization",)),
        _Rule("cookie", _COOKIE, _cookie_repl, anchors=("cookie",)),
        _Rule("bearer-token", _BEARER, _bearer_repl, anchors=("bearer",)),
        _Rule("basic-auth", _BASIC, _basic_repl, anchors=("Basic",), exact_anchors=True),
        _Rule("password", _PYDANTIC, _pydantic_repl, anchors=("input_value=",), exact_anchors=True),
        _Rule(
            "password",
            _CLI_SHORT,
            _cli_short_repl,
            anchors=("mysql", "mariadb", "sshpass", "redis-cli", "mongo", "curl", "wget"),
        ),
        # SQL literals, command-line flags and name=value pairs share their anchors
        _Rule(
            "credential",
            _SQL,
            _sql_repl,
            anchors=_KV_ANCHORS,
            more=((_CLI_FLAG, _cli_repl), (_KV, _kv_repl)),
        ),
    ]


_BUILTIN_RULES: list[_Rule] = [
    _Rule("private-key", _PEM, _whole("private-key"), case_sensitive_triggers=("PRIVATE KEY",)),
    *_vendor_rules(),
    *_structural_rules(),
]

_HOME_RULES = _home_rules()

_KINDS = (
    "secret",
    "env:<VARNAME>",
    "private-key",
    *dict.fromkeys(kind for kind, _, _ in _VENDOR_TOKENS),
    *dict.fromkeys(kind for kind, _, _ in _VENDOR_ANCHORED),
    "telegram-bot-token",
    "azure-key",
    "url-credentials",
    "authorization",
    "bearer-token",
    "basic-auth",
    "cookie",
    *dict.fromkeys(kind for _, _, kind in _KIND_BY_WORD),
    "credential",
    "high-entropy",
)


def redaction_kinds() -> list[str]:
    """The marker kinds the built-in layers produce (``[REDACTED:<kind>]``), plus the names of
    patterns added with ``add_pattern``."""
    return list(dict.fromkeys([*_KINDS, *(r.kind for r in _DEFAULT._patterns)]))


# ---------------------------------------------------------------------------------------------
# Exact values
# ---------------------------------------------------------------------------------------------


def _variants(value: str) -> list[str]:
    """The value as it may appear in text: verbatim, URL-encoded, JSON-escaped, repr-escaped."""
    out = [value]
    for variant in (quote(value, safe=""), json.dumps(value)[1:-1], repr(value)[1:-1]):
        if variant != value:
            out.append(variant)
    return out


def _usable(value: str, min_len: int) -> bool:
    stripped = value.strip()
    if len(stripped) < min_len or MARKER_PREFIX in value:
        return False
    low = stripped.lower()
    if low in _TRIVIAL_VALUES:
        return False
    return not (stripped.isdigit() and len(stripped) < 8)


def _looks_like_path(value: str) -> bool:
    if "@" in value or "://" in value:
        return False
    return value.startswith(("/", "~", "./")) or re.match(r"[A-Za-z]:[\\/]", value) is not None


_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^@\s/]+)@")
_env_lock = threading.Lock()
_env_cache: tuple[dict[Any, Any], tuple[tuple[str, str], ...]] = ({}, ())


def _environ_raw() -> dict[Any, Any]:
    """The environment as CPython keeps it (``os.environ._data``, undecoded): comparing it with
    a saved copy is one C-level dict comparison, not 2 decodes per variable."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _env_secrets() -> tuple[tuple[str, str], ...]:
    """(value, kind) for the current environment's secret-looking variables; recomputed only
    when the environment changes (a dict comparison, about a microsecond)."""
    global _env_cache
    raw = _environ_raw()
    cached_raw, cached = _env_cache
    if raw == cached_raw:
        return cached
    snapshot = dict(raw)
    found: list[tuple[str, str]] = []
    for name, value in os.environ.items():
        if not is_secret_name(name) or not _usable(value, _MIN_ENV_SECRET):
            continue
        value = value.strip()
        if _looks_like_path(value):
            continue
        if "://" in value:
            # DATABASE_URL & co: the password is the secret; host and database name stay
            # readable (and a URL without credentials holds no secret at all)
            userinfo = _URL_PASSWORD.match(value)
            if userinfo is None or not _usable(userinfo.group(1), _MIN_KNOWN_SECRET):
                continue
            value = userinfo.group(1)
        kind = "env:" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        found.extend((variant, kind) for variant in _variants(value))
    result = tuple(found)
    with _env_lock:
        _env_cache = (snapshot, result)
    return result


def _exact_rule(value: str, kind: str) -> _Rule:
    marker = _marker(kind)
    return _Rule(
        kind,
        re.compile(re.escape(value)),
        lambda m: marker,
        case_sensitive_triggers=(value,),
        literal=value,
    )


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------


Splitter = re.Pattern[str]


@functools.lru_cache(maxsize=64)
def _marker_splitter(kinds: frozenset[str]) -> Splitter:
    """Splits a text into segments and the markers of the given kinds (captured).

    Only markers of kinds this sanitizer produces are trusted and kept as they are: a
    "[REDACTED:<anything>]" in the input could otherwise smuggle a secret through.
    """
    alternation = "|".join(re.escape(k) for k in sorted(kinds, key=len, reverse=True))
    return re.compile(r"(\[REDACTED:(?:" + alternation + r")\])")


def _run(text: str, rules: Sequence[_Rule], i: int, split: Splitter) -> str:
    """Apply rules[i:] to a text that holds no marker; the markers a rule inserts are split off
    so that later rules never look inside (or across) them."""
    n = len(rules)
    lower = _lower(text)
    while i < n:
        rule = rules[i]
        i += 1
        if not rule.applies(text, lower):
            continue
        new = rule.apply(text, lower)
        if new == text:
            continue
        if MARKER_PREFIX in new:
            # the later rules run per segment; drop once those with no trigger in the whole
            # text instead of asking every segment (many segments x many rules otherwise)
            new_lower = _lower(new)
            rest = [r for r in rules[i:] if r.present(new, new_lower)]
            parts = split.split(new)
            return "".join(
                p if k % 2 else (_run(p, rest, 0, split) if p else p) for k, p in enumerate(parts)
            )
        text = new
        lower = _lower(text)
    return text


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _lower(text: str) -> str:
    """Lower-cased text with the same length as ``text`` (anchor positions index both)."""
    lower = text.lower()
    # a few characters lower-case to two ("İ" -> "i̇"); fall back to ASCII-only lowering
    return lower if len(lower) == len(text) else text.translate(_ASCII_LOWER)


def _pass(text: str, rules: Sequence[_Rule], split: Splitter) -> str:
    if MARKER_PREFIX not in text:
        return _run(text, rules, 0, split)
    parts = split.split(text)
    return "".join(
        p if k % 2 else (_run(p, rules, 0, split) if p else p) for k, p in enumerate(parts)
    )


def _settle(text: str, rules: Sequence[_Rule], split: Splitter) -> str:
    """Run the rules again where the last pass changed something, until nothing changes.

    A marker shortens the text a rule sees (a rule never looks into a marker), so a rule that
    ran before a later rule's marker existed may now match next to it: redaction is repeated
    to a fixed point, which makes ``sanitize`` idempotent. Every rule's context is its own
    line (or the one before), so only lines holding a marker or a ``~`` and their neighbours
    are passed again: far cheaper than a second full pass.
    """
    for _ in range(_MAX_PASSES):
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
        changed = False
        for lo, hi in reversed(blocks):
            block = "\n".join(lines[lo:hi])
            new = _pass(block, rules, split)
            if new != block:
                lines[lo:hi] = new.split("\n")
                changed = True
        if not changed:
            return text
        text = "\n".join(lines)
    return text


class Sanitizer:
    """A redactor with its own registered secrets and extra patterns.

    The module-level ``sanitize`` uses a default instance that ``register_secret`` and
    ``add_pattern`` extend; build your own for isolation (tests, several tenants).
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        patterns: Iterable[tuple[str, str | re.Pattern[str]]] = (),
        *,
        use_environ: bool = True,
    ) -> None:
        self.use_environ = use_environ
        self._secrets: dict[str, str] = {}
        self._patterns: list[_Rule] = []
        self._lock = threading.Lock()
        self._cache: tuple[tuple[object, ...], list[_Rule], Splitter, list[_Rule]] | None = None
        """Last rule list and its inputs; ``_secrets`` and ``_patterns`` are replaced, never
        mutated, so their identities say whether they changed."""
        for value in secrets:
            self.register_secret(value)
        for name, pattern in patterns:
            self.add_pattern(name, pattern)

    def register_secret(self, value: str, kind: str = "secret") -> None:
        """Redact this exact value (and its URL-/JSON-escaped forms) wherever it appears.
        Values shorter than 4 characters or trivially common ("true", "none") are ignored."""
        _check_kind(kind)
        if not isinstance(value, str) or not _usable(value, _MIN_KNOWN_SECRET):
            return
        with self._lock:  # copy on write: a concurrent sanitize iterates the old dict
            secrets = dict(self._secrets)
            for variant in _variants(value.strip()):
                secrets.setdefault(variant, kind)
            self._secrets = secrets

    def add_pattern(self, name: str, pattern: str | re.Pattern[str]) -> None:
        """Redact every match of ``pattern`` as ``[REDACTED:<name>]``. If the pattern has a
        group named ``secret`` only that group is replaced (keep the context, drop the value)."""
        _check_kind(name)
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        if regex.match(""):
            # (markers are safe: no rule ever sees the inside of a marker)
            raise ValueError(
                f"pattern {regex.pattern!r} matches the empty string; make it more specific"
            )
        repl = _group(name, "secret") if "secret" in regex.groupindex else _whole(name)
        with self._lock:
            self._patterns = [*self._patterns, _Rule(name, regex, repl)]

    def rules(self, known_secrets: Iterable[str] = ()) -> list[_Rule]:
        """The rules one call runs, in order."""
        return self._plan(known_secrets)[0]

    def _plan(self, known_secrets: Iterable[str]) -> tuple[list[_Rule], Splitter]:
        """The rules and the trusted-marker splitter for one call. Cached: the engine calls
        ``sanitize`` for every event field with the same secrets, so they are rebuilt only
        when an input changes."""
        plan = self._full_plan(known_secrets)
        return plan[1], plan[2]

    def _full_plan(
        self, known_secrets: Iterable[str]
    ) -> tuple[tuple[object, ...], list[_Rule], Splitter, list[_Rule]]:
        known = tuple(known_secrets)
        env = _env_secrets() if self.use_environ else ()
        # HOME, not expanduser("~") (which costs more than the rest of this lookup): the
        # rules are rebuilt, and read the home folder afresh, whenever HOME changes.
        key = (known, env, id(self._secrets), id(self._patterns), os.environ.get("HOME"))
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached
        rules = self._build_rules(known, env)
        kinds = frozenset(k for k in (*_KINDS, *(r.kind for r in rules)) if "<" not in k)
        split = _marker_splitter(kinds)
        exact = [r for r in rules if r.literal is not None]
        self._cache = (key, rules, split, exact)
        return self._cache

    def _build_rules(
        self, known_secrets: tuple[str, ...], env: tuple[tuple[str, str], ...]
    ) -> list[_Rule]:
        values: dict[str, str] = {}
        for value in known_secrets:
            if isinstance(value, str) and _usable(value, _MIN_KNOWN_SECRET):
                for variant in _variants(value.strip()):
                    values.setdefault(variant, "secret")
        for value, kind in self._secrets.items():
            values.setdefault(value, kind)
        for value, kind in env:
            values.setdefault(value, kind)
        exact = [_exact_rule(v, k) for v, k in sorted(values.items(), key=lambda vk: -len(vk[0]))]
        home = _home_value_rule()
        tail = [home] if home is not None else []
        # home paths first: every later rule (and every later pass) sees the same "~"
        return [*_HOME_RULES, *tail, *exact, *self._patterns, *_BUILTIN_RULES]

    def redact_values(self, text: str, known_secrets: Iterable[str] = ()) -> str:
        """Only the exact-value layer: ``known_secrets``, registered secrets and the values of
        secret-looking environment variables. For text that must otherwise reach the model as
        written (a node's task, persona and inputs): no pattern or heuristic touches it."""
        redact = self.value_redactor(known_secrets)
        return redact(text) if redact is not None else text

    def value_redactor(self, known_secrets: Iterable[str] = ()) -> Callable[[str], str] | None:
        """``redact_values`` for many texts in a row, with the secrets known now; None when
        there is no secret value to remove (the common case: nothing to do at all)."""
        _, _, split, exact = self._full_plan(known_secrets)
        if not exact:
            return None
        return lambda text: _redact(text, exact, split)

    def sanitize(
        self, text: str, known_secrets: Iterable[str] = (), *, max_chars: int | None = None
    ) -> str:
        """Redact ``text``; see the module docstring for the layers."""
        if not isinstance(text, str):
            text = str(text)
        rules, split = self._plan(known_secrets)
        out = _redact(text, rules, split)
        if max_chars is None or len(out) <= max_chars:
            return out
        # A cut can make a new token out of a longer one (and a new marker can make the text
        # longer again): repeat until redaction leaves the truncated text alone.
        for _ in range(_MAX_PASSES):
            cut = truncate_middle(out, max_chars)
            out = _redact(cut, rules, split)
            if out == cut:
                return out
        return ""


def _redact(text: str, rules: Sequence[_Rule], split: Splitter) -> str:
    out = _pass(text, rules, split)
    return _settle(out, rules, split) if out != text else out


def _check_kind(kind: str) -> None:
    if not (_KIND_RE.fullmatch(kind) or kind.startswith("env:")) or not _MARKER_RE.fullmatch(
        _marker(kind)
    ):
        raise ValueError(f"redaction kind {kind!r} must match [a-z0-9][a-z0-9_.-]*")


_DEFAULT = Sanitizer()


def register_secret(value: str, kind: str = "secret") -> None:
    """Redact this exact value in every later ``sanitize`` call of this process."""
    _DEFAULT.register_secret(value, kind)


def add_pattern(name: str, pattern: str | re.Pattern[str]) -> None:
    """Redact every match of ``pattern`` as ``[REDACTED:<name>]`` in every later ``sanitize``."""
    _DEFAULT.add_pattern(name, pattern)


def value_redactor(known_secrets: Iterable[str] = ()) -> Callable[[str], str] | None:
    """``redact_values`` bound to the secrets known now (None: nothing to remove)."""
    return _DEFAULT.value_redactor(known_secrets)


def redact_values(text: str, known_secrets: Iterable[str] = ()) -> str:
    """Remove only exact secret values (``known_secrets``, registered, environment) from
    ``text``, leaving everything else as written; see ``Sanitizer.redact_values``."""
    return _DEFAULT.redact_values(text, known_secrets)


def sanitize(text: str, known_secrets: Iterable[str] = (), *, max_chars: int | None = None) -> str:
    """Redact credentials from ``text``; optionally keep only ``max_chars`` (head and tail).

    ``known_secrets`` are exact values to remove (the only way to catch opaque secrets); the
    values of the current environment's secret-looking variables and everything registered
    with ``register_secret`` are removed too.
    """
    return _DEFAULT.sanitize(text, known_secrets, max_chars=max_chars)


# ---------------------------------------------------------------------------------------------
# Truncation
# ---------------------------------------------------------------------------------------------

_HEAD_SHARE = 0.4  # the tail holds the exception line, so it gets the larger share
_SNAP = 0.25  # move a cut to a line boundary if that costs at most this share of the budget


def truncate_middle(text: str, max_chars: int) -> str:
    """Keep the head and the tail of ``text`` within ``max_chars`` characters, cutting the
    middle on line boundaries where possible and saying how much was cut."""
    if max_chars < 0:
        raise ValueError("max_chars must be >= 0")
    if len(text) <= max_chars:
        return text
    probe = _cut_marker(len(text), text.count("\n"))
    if max_chars < len(probe) + 20:  # no room for a marker: keep the tail (the error line)
        return text[_soft_cut_forward(text, len(text) - max_chars) :] if max_chars else ""
    budget = max_chars - len(probe) - 2
    head_end = int(budget * _HEAD_SHARE)
    tail_start = len(text) - (budget - head_end)
    nl = text.rfind("\n", 0, head_end)
    if nl >= 0 and head_end - nl <= budget * _SNAP:
        head_end = nl + 1
    else:
        head_end = _soft_cut_back(text, head_end)
    nl = text.find("\n", tail_start)
    if nl >= 0 and nl + 1 - tail_start <= budget * _SNAP:
        tail_start = nl + 1
    else:
        tail_start = _soft_cut_forward(text, tail_start)
    cut = text[head_end:tail_start]
    marker = _cut_marker(len(cut), cut.count("\n"))
    head = text[:head_end]
    sep_before = "" if head.endswith("\n") or not head else "\n"
    tail = text[tail_start:]
    out = f"{head}{sep_before}{marker}\n{tail}"
    return out if len(out) <= max_chars else out[len(out) - max_chars :]


def _cut_marker(chars: int, lines: int) -> str:
    return f"[... {chars} characters, {lines} lines truncated ...]"


def _soft_cut_back(text: str, pos: int) -> int:
    """Move a cut back to just after a space or punctuation so no token is split in two."""
    for j in range(pos, max(pos - 80, 0), -1):
        if not text[j - 1].isalnum():
            return j
    return pos


def _soft_cut_forward(text: str, pos: int) -> int:
    for j in range(pos, min(pos + 80, len(text))):
        if not text[j].isalnum():
            return j
    return pos


# ---------------------------------------------------------------------------------------------
# Command line: `nbworkflow sanitize FILE|-` delegates here
# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Sanitize a file (or stdin with ``-``) to stdout."""
    parser = argparse.ArgumentParser(
        prog="nbworkflow sanitize", description="Redact credentials and home paths from text."
    )
    parser.add_argument("file", help="file to sanitize, or - for stdin")
    parser.add_argument("--max-chars", type=int, default=None, help="keep head and tail only")
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="VAR",
        help="also redact the value of this environment variable (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            print(f"nbworkflow sanitize: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    extra = [os.environ[name] for name in args.secret_env if os.environ.get(name)]
    sys.stdout.write(sanitize(text, extra, max_chars=args.max_chars))
    return 0

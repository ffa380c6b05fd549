"""Rules for private keys and vendor token formats, and the scan over token-shaped runs.

Over 400 lines: the format tables are long, and the token scan dispatches on them."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .engine import CONTEXT, _Rule, align
from .entropy import _looks_random
from .markers import _group, _marker, _whole
from .memo import Memo, Span
from .names import _NAME_CHARS, _kind_for, is_secret_name
from .shapes import is_dummy, vendor_dummy

# -- private keys ------------------------------------------------------------------------------
# A whole block (also inside JSON with escaped "\n"), or a block cut short by a truncation:
# then the BEGIN line and the base64 / header lines that follow it. BEGIN and END lines are
# found with str.find and paired in one walk (a lazy "scan to END" regex per BEGIN line was
# quadratic on a text of repeated BEGIN lines).
_PEM_BEGIN = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?P<label>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY_BAD = re.compile(r"[^A-Za-z0-9+/=\s\\:,.-]")
_PEM_CUT = re.compile(
    r"(?:(?:\s|\\[nr]){1,8}(?:[A-Za-z0-9+/]{16,128}={0,2}|(?:Proc-Type|DEK-Info|Comment):"
    r"[^\n\\]{0,256})){0,64}"
)
_PEM_MATERIAL = re.compile(r"[A-Za-z0-9+/]{32}")
#: The longest block we pair (an 8192-bit RSA key is about 6.5 KB).
_PEM_MAX = 16_384


@dataclass(frozen=True)
class _PemRule(_Rule):
    def patterns(self) -> list[re.Pattern[str]]:
        return [_PEM_BEGIN, _PEM_END, _PEM_CUT]

    def spans(
        self,
        text: str,
        lower: str,
        found: dict[object, list[int]] | None = None,
        memo: Memo | None = None,
    ) -> Iterator[Span]:
        marker = _marker("private-key")
        ends: list[re.Match[str]] = []
        i = text.find("-----END ")
        while i >= 0:
            m = _PEM_END.match(text, i)
            if m:
                ends.append(m)
            i = text.find("-----END ", i + 9)
        k = 0  # ends[k] is the first END after the current BEGIN
        last = 0
        i = text.find("-----BEGIN ")
        while i >= 0:
            begin = _PEM_BEGIN.match(text, i) if i >= last else None
            if begin is not None:
                while k < len(ends) and ends[k].start() < begin.end():
                    k += 1
                end = ends[k] if k < len(ends) else None
                bad = None
                if end is not None and end.start() - begin.end() <= _PEM_MAX:
                    bad = _PEM_BODY_BAD.search(text, begin.end(), end.start())
                if end is not None and bad is None and end.start() - begin.end() <= _PEM_MAX:
                    if _PEM_MATERIAL.search(text, begin.end(), end.start()):
                        yield begin.start(), end.end(), marker
                    last = end.end()  # an empty or "anything" body is a placeholder
                else:
                    cut = _PEM_CUT.match(text, begin.end())
                    stop = cut.end() if cut else begin.end()
                    yield begin.start(), stop, marker
                    # BEGIN lines before the first bad character would meet it again
                    last = max(stop, bad.start() if bad is not None else stop)
            i = text.find("-----BEGIN ", i + 11)


_PEM_RULE = _PemRule(
    "private-key",
    _PEM_BEGIN,
    _whole("private-key"),
    case_sensitive_triggers=("PRIVATE KEY",),
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
    # prefixed families from gitleaks' rule shapes: a distinctive prefix and a bounded body
    ("huggingface-token", r"api_org_[A-Za-z0-9]{34}" + _E, ("api_org_",)),
    ("planetscale-token", r"pscale_(?:tkn|oauth|pw)_[A-Za-z0-9_=-]{16,64}", ("pscale_",)),
    ("rubygem-token", r"rubygems_[a-f0-9]{48}" + _E, ("rubygems_",)),
    ("adobe-secret", r"p8e-[A-Za-z0-9]{32}" + _E, ("p8e-",)),
    ("age-secret-key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", ("AGE-",)),
    ("alibaba-key", r"LTAI[A-Za-z0-9]{20}" + _E, ("LTAI",)),
    ("artifactory-key", r"AKCp[A-Za-z0-9]{69}" + _E, ("AKCp",)),
    ("clojars-token", r"CLOJARS_[a-z0-9]{60}" + _E, ("CLOJARS_",)),
    ("defined-networking-token", r"dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52}", ("dnkey-",)),
    ("duffel-token", r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}", ("duffel_",)),
    ("easypost-token", r"EZ[AT]K[A-Za-z0-9]{54}" + _E, ("EZAK", "EZTK")),
    ("facebook-token", r"EAA[MC][A-Za-z0-9]{100,140}" + _E, ("EAAM", "EAAC")),
    ("flutterwave-key", r"FLWSECK_TEST-[a-h0-9]{12,32}(?:-X)?" + _E, ("FLWSECK_",)),
    ("flyio-token", r"fo1_[A-Za-z0-9_-]{43}", ("fo1_",)),
    ("flyio-token", r"fm2_[A-Za-z0-9+/]{100,140}", ("fm2_",)),
    ("frameio-token", r"fio-u-[A-Za-z0-9_=-]{64}", ("fio-u-",)),
    ("heroku-key", r"HRKU-AA[A-Za-z0-9_-]{58}", ("HRKU-",)),
    ("intra42-secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}" + _E, ("s-s4t2",)),
    ("newrelic-key", r"NR(?:II|AK|JS)-[A-Za-z0-9-]{19,32}", ("NRII-", "NRAK-", "NRJS-")),
    ("octopus-key", r"API-[A-Z0-9]{26}" + _E, ("API-",)),
    ("plaid-token", r"access-(?:sandbox|development|production)-[a-f0-9-]{36}", ("access-",)),
    ("postman-key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}" + _E, ("PMAK-",)),
    ("prefect-token", r"pnu_[A-Za-z0-9]{36}" + _E, ("pnu_",)),
    ("pulumi-token", r"pul-[a-f0-9]{40}" + _E, ("pul-",)),
    ("readme-token", r"rdme_[a-z0-9]{70}" + _E, ("rdme_",)),
    ("scalingo-token", r"tk-us-[A-Za-z0-9_-]{48}", ("tk-us-",)),
    ("sendinblue-key", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}" + _E, ("xkeysib-",)),
    ("sentry-token", r"sntry[us]_[A-Za-z0-9+/=]{32,512}", ("sntryu_", "sntrys_")),
    ("settlemint-token", r"sm_(?:aat|pat|sat)_[A-Za-z0-9]{16}" + _E, ("sm_",)),
    ("shippo-token", r"shippo_(?:live|test)_[a-fA-F0-9]{40}" + _E, ("shippo_",)),
    ("sourcegraph-token", r"sgp_(?:[a-fA-F0-9]{16}_)?[a-fA-F0-9]{40}" + _E, ("sgp_",)),
    ("square-token", r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}", ("sq0",)),
    ("square-token", r"EAAA[A-Za-z0-9_-]{60}", ("EAAA",)),
    ("typeform-token", r"tfp_[a-z0-9_=-]{59}", ("tfp_",)),
    ("yandex-key", r"AQVN[A-Za-z0-9_-]{35,38}", ("AQVN",)),
]
_VENDOR_COMPILED = [(kind, re.compile(p), prefixes) for kind, p, prefixes in _VENDOR_TOKENS]
_VENDOR_PREFIXES = tuple(dict.fromkeys(p for _, _, ps in _VENDOR_TOKENS for p in ps))

_B = r"(?<![A-Za-z0-9_])"  # token start: not preceded by a token character
#: Formats with '.', ':' or a URL around them, found by their own anchor.
_VENDOR_ANCHORED: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "jwt",
        _B + r"eyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{0,4096}",
        ("eyJ",),
    ),
    ("google-oauth-token", _B + r"ya29\.[0-9A-Za-z_-]{20,4096}", ("ya29.",)),
    ("sendgrid-key", _B + r"SG\.[A-Za-z0-9_-]{16,4096}\.[A-Za-z0-9_-]{16,4096}", ("SG.",)),
    (
        "slack-webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,4096}",
        ("https://hooks.slack.com/",),
    ),
    (
        "discord-webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{1,24}/[A-Za-z0-9_-]{20,4096}",
        ("https://discord", "https://ptb.discord", "https://canary.discord"),
    ),
]
#: Formats found by an inner literal, matched from ``offset`` characters before it.
_VENDOR_INNER: list[tuple[str, str, str, int]] = [
    # Azure AD client secrets: 3 characters, a digit, "Q~", then 31-34 more
    (
        "azure-client-secret",
        r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])",
        "Q~",
        4,
    ),
    # Harness PATs / SATs and Airtable PATs: dotted segments a token scan sees apart
    (
        "harness-token",
        r"(?<![A-Za-z0-9_])(?:pat|sat)\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"
        r"(?![A-Za-z0-9_])",
        "pat.",
        0,
    ),
    (
        "harness-token",
        r"(?<![A-Za-z0-9_])sat\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"
        r"(?![A-Za-z0-9_])",
        "sat.",
        0,
    ),
    (
        "airtable-token",
        r"(?<![A-Za-z0-9_])pat[A-Za-z0-9]{14}\.[a-f0-9]{64}(?![A-Za-z0-9_])",
        "pat",
        0,
    ),
]
_TELEGRAM = re.compile(r"(?:(?<=bot)|(?<![A-Za-z0-9_]))\d{8,10}:AA[A-Za-z0-9_-]{33}" + _E)
_AZURE = re.compile(r"(?i)(?:AccountKey|SharedAccessKey)=(?P<v>[A-Za-z0-9+/]{20,4096}={0,2})")

# A maximal run of token characters, led by one delimiter: the engine then only tries the
# positions after a delimiter (a leading lookbehind makes it try all of them: 3x slower). The
# scans run over "\n" + text so a token at the very start has its delimiter too.
# Base64 padding only when a delimiter follows: in NAME=value the "=" leads the next run.
_TOKEN_RUN = re.compile(r"[^A-Za-z0-9+/_-][A-Za-z0-9+/_-]{20,}+={0,2}(?![A-Za-z0-9+/_-])")


#: Slack's legacy tokens lead with a workspace's and a user's ids (digit groups, often 1111...
#: in fixtures): only the part after them says whether the token is a placeholder.
_SLACK_IDS = re.compile(r"[a-z]-(?:\d{1,2}-)?(?:\d{6,14}-){0,3}(?=[A-Za-z0-9]{8})")


def _vendor_piece(piece: str) -> str:
    if not piece.startswith(_VENDOR_PREFIXES):
        return piece
    for kind, regex, prefixes in _VENDOR_COMPILED:
        if piece.startswith(prefixes):
            m = regex.match(piece)
            if m:
                prefix = next(p for p in prefixes if piece.startswith(p))
                secret = m.group(0)[len(prefix) :]
                ids = _SLACK_IDS.match(secret) if kind == "slack-token" else None
                if vendor_dummy(secret[ids.end() :] if ids else secret):
                    return piece  # ghp_xxxx..., hf_requiredCharacteristicTypes...
                return _marker(kind) + piece[m.end() :]
    return piece


def _token_repl(m: re.Match[str]) -> str:
    """Vendor formats by prefix, then the entropy fallback, for one run of token characters.
    A run holding '/' (a path, a URL, base64) is judged whole, then piece by piece. Runs for
    every long token (hundreds per 100 KB of traceback): keep the common path cheap."""
    token = m.group(0)
    body = token[1:]  # token[0] is the delimiter the scan is led by
    if body[11:21] == _DROPBOX_RUN and _dropbox(m):
        return token[0] + _marker("dropbox-token")
    if token[0] == ":" and _go_sum(m):
        return token
    if body.startswith("sha") and _INTEGRITY.fullmatch(body):
        return token
    vendor = body.startswith(_VENDOR_PREFIXES)
    if vendor:
        new = _vendor_piece(body)
        if new != body:
            return token[0] + _token_tail(new)
    if "/" not in body:
        if not _looks_random(body) or _file_name(m) or _in_url_path(m):
            return token
        marker = _random_marker(m)
        return token[0] + marker if marker else token
    path = _PATH_WORD.search(body) is not None
    url = _in_url_path(m)
    if not vendor and not path and not url and _looks_random(body):
        marker = _random_marker(m)
        return token[0] + marker if marker else token
    if url and not vendor:
        return token  # /document/d/<id>: a URL's path holds ids, not credentials
    if not _LONG_PIECE.search(body):
        return token  # 11/site-packages/httpx/_client: no piece long enough to matter
    pieces = body.split("/")
    changed = False
    for i, piece in enumerate(pieces):
        if i == len(pieces) - 1 and _file_name(m):
            break  # ./assets/vipul-<digest>.png
        if len(piece) >= 16:
            new = _token_piece(piece)
            if new != piece:
                pieces[i] = new
                changed = True
    return token[0] + "/".join(pieces) if changed else token


_VALUE_OPENERS = frozenset(" \t\"'")
_EXTENSION = re.compile(r"\.[a-z][a-z0-9]{1,4}(?![A-Za-z0-9_])")


#: Runs longer than this are judged afresh (the cache below must not hold a long input).
_KEPT_MAX = 256


@functools.lru_cache(maxsize=4096)
def _kept(token: str) -> bool:
    """Whether ``_token_repl`` keeps this run whatever surrounds it: a traceback repeats the
    same path segments on every frame, so their verdict is looked up, not recomputed."""
    body = token[1:]
    if body.startswith(_VENDOR_PREFIXES) or body[11:21] == _DROPBOX_RUN:
        return False
    if "/" not in body:
        return not _looks_random(body)
    # a path (a segment is a word) with no 16-character piece: kept in a URL and out of one
    return _PATH_WORD.search(body) is not None and not _LONG_PIECE.search(body)


#: Dropbox's long-lived tokens: 11 characters, ten "A"s, 43 more. The run of "A"s makes the
#: whole read as a placeholder; the parts around it are judged instead.
_DROPBOX_RUN = "A" * 10
_DROPBOX = re.compile(r"([a-z0-9]{11})A{10}((?:[A-Za-z0-9_=-]|%3D){43})(?![A-Za-z0-9_=%-])")


def _dropbox(m: re.Match[str]) -> bool:
    d = _DROPBOX.match(m.string, m.start() + 1)
    return d is not None and not is_dummy(d.group(1)) and not is_dummy(d.group(2))


#: A go.sum line's hash: "h1:" and a base64 SHA-256 (43 characters and "="), a digest.
_GO_SUM = re.compile(r"(?<![A-Za-z0-9_])h1:[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])")


#: Subresource-integrity and lockfile hashes: "sha512-" and the digest's base64 (its length).
_INTEGRITY = re.compile(
    r"sha1-[A-Za-z0-9+/]{27}=|sha256-[A-Za-z0-9+/]{43}=|sha384-[A-Za-z0-9+/]{64}"
    r"|sha512-[A-Za-z0-9+/]{86}=="
)


def _go_sum(m: re.Match[str]) -> bool:
    return _GO_SUM.match(m.string, m.start() - 2) is not None


def _file_name(m: re.Match[str]) -> bool:
    """``...-97B6C6C59241976086FABDC41472150C.bfu``: a name with a file extension."""
    return _EXTENSION.match(m.string, m.end()) is not None


def _in_url_path(m: re.Match[str]) -> bool:
    """A path segment of a URL (a document id, a commit): ids, not credentials. Query values
    and user info are judged by the structural rules."""
    text = m.string
    start = m.start()
    if text[start] != "/" and not (start > 0 and text[start - 1] == "/"):
        return False
    lo = max(start - CONTEXT, 0)
    scheme = text.rfind("://", lo, start)
    if scheme < 0:
        return False
    between = text[scheme:start]
    return not any(c in between for c in " \t\n\"'<>?#@")


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
    floor = max(j - CONTEXT, 0)  # look back a bounded distance only
    while j > floor and text[j - 1] in _VALUE_OPENERS:
        j -= 1
    if j == floor or text[j - 1] not in "=:":
        return _marker("high-entropy")
    j -= 1
    while j > floor and text[j - 1] in _VALUE_OPENERS:
        j -= 1
    end = j
    while j > floor and text[j - 1] in _NAME_CHARS:
        j -= 1
    name = text[j:end].strip(".-")
    if end > j and is_secret_name(name):
        return _marker(_kind_for(name))
    if end > j and _NAMED_NOT_SECRET.fullmatch(name):
        return ""  # public_key = ..., credentialId: ..., csrf-token=...: named, and not secret
    return _marker("high-entropy")


#: A name that says what a random value is, when that is not a credential.
_NAMED_NOT_SECRET = re.compile(
    r"(?i)[A-Za-z0-9_.-]{0,64}(?:public[_-]?(?:key|token)|id|ids|uuid|guid|hash|digest|sha\d*|"
    r"md5|checksum|etag|nonce|csrf[_-]?token|xsrf[_-]?token|authenticity[_-]?token|"
    r"name|path|file|url|uri|href|src|commit|revision|version|q|query|state|iv|salt|tag)"
)


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
    """One regex pass over every run of token characters (vendor formats and entropy).

    The run pattern is led by a delimiter and its repeat is possessive, so a match starts only
    after a non-token character and each character is read by one match at most: linear."""

    def spans(
        self,
        text: str,
        lower: str,
        found: dict[object, list[int]] | None = None,
        memo: Memo | None = None,
    ) -> Iterator[Span]:
        padded = "\n" + text
        # the judge reads CONTEXT characters before a run (the name of a value, a URL's
        # scheme) and a few after it (a file extension); _widen CONTEXT either side
        reach = (CONTEXT + 8, CONTEXT + 8)
        for m in _runs(self.regex, padded):
            token = m.group(0)
            if len(token) <= _KEPT_MAX and _kept(token):
                continue  # most runs: paths, words, digests (their context cannot matter)
            if memo is not None and not memo.spend(id(self), m.start()):
                return
            if memo is None:
                yield from self._judge(text, m)
            else:
                yield from memo.remembered(self, m, reach, self._judged, (text, m), 1)

    def _judged(self, text: str, m: re.Match[str]) -> list[Span]:
        return list(self._judge(text, m))

    def _judge(self, text: str, m: re.Match[str]) -> Iterator[Span]:
        whole = m.group(0)
        replacement = self.repl(m)
        if replacement != whole:
            for start, end, marker in align(whole, replacement, m.start() - 1):
                lo, hi = _widen(text, start, end)
                yield lo, hi, marker


_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
#: Token characters as "a", everything else as " ": a run of 20 is then found by a plain
#: substring search (C), where the run pattern is tried after every delimiter (~40% faster).
_FLAT = bytes(0x61 if bytes([i]) in _RUN_CHARS else 0x20 for i in range(256))
_FLAT_RUN = b"a" * 20


def _runs(regex: re.Pattern[str], padded: str) -> Iterator[re.Match[str]]:
    """``regex.finditer(padded)`` for the token-run pattern: the same matches, found by their
    first 20 characters in a flattened copy when the text is ASCII."""
    if not padded.isascii():
        yield from regex.finditer(padded)
        return
    flat = padded.encode("ascii").translate(_FLAT)
    i = flat.find(_FLAT_RUN)
    while i >= 0:
        m = regex.match(padded, i - 1)  # (i >= 1: the padding's newline leads)
        if m is not None:
            yield m
        end = flat.find(b" ", i)
        if end < 0:
            return
        i = flat.find(_FLAT_RUN, end)


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a token's span over the token characters glued to it ('.', '%', '~', '='), so a
    dotted or percent-encoded secret goes whole (a Discord token's middle part, Atlassian's
    '=...' tail) rather than leaving the segments no rule flagged on their own."""
    lo = max(start - CONTEXT, 0)
    while start > lo and text[start - 1] in _GLUED_LEFT:
        start -= 1
    while start < end and text[start] in _SEPARATORS:
        start += 1
    hi = min(end + CONTEXT, len(text))
    stop = end
    while stop < hi and text[stop] in _GLUED_RIGHT:
        stop += 1
    while stop > end and text[stop - 1] in _SEPARATORS:
        stop -= 1
    return start, stop


_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_SEPARATORS = frozenset(".-~%+")
_GLUED_LEFT = frozenset(_TOKEN_CHARS + ".-~%+")
_GLUED_RIGHT = frozenset(_TOKEN_CHARS + ".-~%+=")


def _unless_dummy(kind: str) -> Callable[[re.Match[str]], str]:
    marker = _marker(kind)

    def repl(m: re.Match[str]) -> str:
        return m.group(0) if is_dummy(m.group(0)) else marker

    return repl


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
    for kind, pattern, anchor, offset in _VENDOR_INNER:
        rules.append(
            _Rule(
                kind,
                re.compile(pattern),
                _unless_dummy(kind),
                anchors=(anchor,),
                offset=offset,
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

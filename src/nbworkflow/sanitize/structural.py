"""Structural rules: credentials recognised by what surrounds them (names, URLs, headers,
command lines, pydantic echoes, SQL, a KeyError or a credential word before a value).

Over 400 lines on purpose: the rules share the placeholder, code-likeness and value-shape
judgements, and splitting them by syntax would scatter those across modules."""

from __future__ import annotations

import base64
import binascii
import functools
import re

from .engine import CONTEXT, _Chain, _Rule
from .entropy import _DIGIT, _looks_random
from .markers import MARKER_PREFIX, _keep_prefix, _marker, _prev_char, _whole, _words
from .names import _NAME_CHARS, _QUERY_NAMES, _kind_for, is_secret_name
from .shapes import balanced, is_dummy, opaque, punctuated, wordish

# -- structure ---------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"""(?ix)
    (?:none|null|nil|undefined|true|false|n/?a|empty|unset|missing|required|optional|
       \*+|x{3,}|\.{3}|…|-+|_+|\?+|0|
       <[^<>]*>|<[^<>]*|[^<>]*>|\$.*|\[[A-Za-z][A-Za-z0-9 _-]*\]|%\([^)]*\)[sdr]|%[sdr]|
       \{[A-Za-z_0-9.!:\[\]'"]*\}|\{\{[^}]*\}\}|
       your[_-]?[\w-]*|(?:[\w-]*[_-])?your[_-][\w-]*|my[_-]?(?:secret|password|token|api[_-]?key)|
       insert[_-]?[\w-]*|[\w-]*[_-]here|(?:replace|change)[_-]?me|
       pass(?:word|wd)?|pwd|secret|token|api[_-]?key|username|user|changeme|test|example|foo|bar|baz|foobar|mysecret|mypassword|
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


#: What ``_PLACEHOLDER`` fully matches among ASCII letters and digits alone (besides
#: ``your...``, ``insert...`` and ``xxx...``); ``tests/test_sanitize_judges2.py`` proves it.
_ALNUM_PLACEHOLDERS = _words(
    "none null nil undefined true false na empty unset missing required optional 0 mysecret "
    "mypassword mytoken myapikey replaceme changeme pass password passwd pwd secret token "
    "apikey username user test example foo bar baz foobar redacted"
)


@functools.lru_cache(maxsize=2048)
def _is_placeholder(value: str) -> bool:
    inner = _unquote(value).strip()
    if inner.isalnum() and inner.isascii():
        # (most values: a set lookup and two prefixes decide what the regex would, in C)
        low = inner.lower()
        if low in _ALNUM_PLACEHOLDERS or low.startswith(("your", "insert")):
            return True
        return (len(low) >= 3 and not low.strip("x")) or is_dummy(inner)
    if not inner:
        return True
    if inner[:2] in ("f'", 'f"', "b'", 'b"', "r'", 'r"') and "{" in inner:
        return True
    return bool(_PLACEHOLDER.fullmatch(inner)) or is_dummy(inner)


#: Variable and constant naming styles (snake_case, UPPER_SNAKE, lowerCamel), no trailing digit.
_CODE_NAME = re.compile(
    r"(?:[a-z_][a-z0-9_]{0,63}|[A-Z_][A-Z0-9_]{0,63}|[a-z][A-Za-z]{0,63})(?<![0-9])"
)


_CALL = re.compile(r"([A-Za-z_][\w.]*)[(\[]")


_AMBIGUOUS_NAMES = ("key", "auth", "pass", "session", "sig", "cookie", "secret")


def _code_like(name: str, value: str, after: str) -> bool:
    """An unquoted value that is a Python expression (``token=self.token``, ``key=len``,
    ``password=getpass()``, ``api_key=os.environ[...]``) rather than a literal secret.

    The checks are ordered so a plain literal token (``token=abc0000001``) is cleared by C
    string tests before any regex: each regex runs only where it can match (a call needs a
    ``(`` or ``[``; a code name ends in no digit). ``tests/test_sanitize_judges.py`` holds the
    earlier order as an oracle and checks both decide alike."""
    if "(" in value or "[" in value:
        call = _CALL.match(value)
        if call and _IDENT_CHAIN.fullmatch(call.group(1)):
            return True  # os.environ[...], getpass(...)
    if not _IDENT_CHAIN.fullmatch(value):
        return False
    if after[:1] in ("(", "["):
        return True
    if "." in value:
        if value.split(".", 1)[0] in _PY_WORDS or not any(c.isdigit() for c in value):
            return True
    elif value in _PY_WORDS:
        return True
    if value.lower() == name.lower().lstrip("-"):
        return True
    if not value[-1].isdigit() and _CODE_NAME.fullmatch(value) and is_secret_name(value):
        return True  # password=db_password, token=API_TOKEN; not password=CleartextPassword1
    # ambiguous names (sorted(key=len), check(auth=basic)): a plain word is code
    return value.isalpha() and name.lower().lstrip("-").strip("\"'") in _AMBIGUOUS_NAMES


# name ... separator ... value; anchored on the secret word so the regex skips most text fast.
# Not "KeyError: '...'": a quoted key taken for a value would hide the pairs inside it
# (KeyError: 'Server=h;Pwd=...') from this rule; the KeyError rule judges the key. (That check
# sits on "key", the one word that can start "keyerror": a lookahead before the words would
# keep ``re`` from skipping to their first letters, 3x slower where no word is found.)
_KV_PAIR = re.compile(
    r"""(?ix)
    (?P<kw>pass(?:word|wd|phrase)?|pa?s{1,2}w(?:or|ro|o|r)?d|pwd|secret|token|key(?!error)|auth|
        credential|cred|session|sessid|sig|dsn|code)
    (?P<rest>[a-z0-9_.-]{0,64})
    (?P<q>["']?)
    (?P<sep>[ \t]{0,8}(?::=|=>|==|=|:|->)[ \t]{0,8})
    (?P<v>"(?:[^"\\\n]|\\.){0,2000}"|'(?:[^'\\\n]|\\.){0,2000}'|b'(?:[^'\\\n]|\\.){0,2000}'
        |b"(?:[^"\\\n]|\\.){0,2000}"
        |\$?\{[^{}\n]{0,200}\}|[^\s"'`,;&)\]}>]{1,2000})
    """
)
#: ``_KV_PAIR`` and, when the line ends there, the glued rest of the value after a ``;&,)]}>``
#: that ended it: on a line of its own (``API_KEY=jdbc:...;password=...``, ``> X-Api-Key:
#: a)b}c``) a credential runs to the end of the line. The pairs in a tail are judged by
#: ``_kv_repl`` as the walk would have judged them (no match there can pass the line's end).
_KV = re.compile(
    _KV_PAIR.pattern.rstrip()
    + r"""(?P<tail>[,;&)\]}>][^\s"'`]{1,128}+(?=[ \t]{0,8}(?:\r?\n|\Z)))?""",
    _KV_PAIR.flags,
)


def _kv_repl(m: re.Match[str]) -> str:
    """``name=value`` (a match of ``_KV``): the value to the end of its line when the pair
    is a line of its own, else each pair as ``_KV_PAIR`` alone finds them."""
    if m.group("tail") is None:
        return _kv_pair(m)
    text = m.string
    whole = _kv_line(m)
    if whole is not None:
        return whole
    # the walk over the tail that consuming it skipped: each anchor, the pattern without a tail
    # (a pair glued to the one before it is not a line of its own; none passes the line's end)
    first = _KV_PAIR.match(text, m.start())
    assert first is not None  # (the same pattern without the tail)
    out = [_kv_pair(first)]
    base = last = first.end()
    for hit in _KV_ANCHOR_RE.finditer(text[base : m.end()].lower()):
        at = base + hit.start()
        if at < last:
            continue
        sub = _KV_PAIR.match(text, at)
        if sub is not None:
            out += [text[last:at], _kv_pair(sub)]
            last = sub.end()
    out.append(text[last : m.end()])
    return "".join(out)


def _kv_line(m: re.Match[str]) -> str | None:
    """The replacement when the whole rest of the line is the credential, else None."""
    text = m.string
    start = m.start()
    i = _name_start(text, start)
    head = text[_line_start(text, i) : i].strip(" \t>-#")
    sep = m.group("sep").strip()
    if head not in ("", "export") or m.group("q") or sep not in ("=", ":", ":="):
        return None
    name = text[i:start] + m.group("kw") + m.group("rest")
    value = text[m.start("v") : m.end()]
    if not is_secret_name(name.strip(".-")) or _is_placeholder(value):
        return None
    if value[:1] in "([{<" and balanced(value):
        return None  # token={a:b}, auth=(user,pw): a literal, not a credential
    if _code_like(name, m.group("v"), m.group("tail")[:1]):
        return None
    if not _strong_name(name) and not _credential_like(value):
        return None
    if len(value) < 8 and not _strong_name(name, passwords_only=True):
        return None  # API_KEY=a;b: too short for a key or token
    return text[start : m.start("v")] + _marker(_kind_for(name.strip(".-")))


def _name_start(text: str, start: int) -> int:
    """The regex starts at the secret word: where the name holding it starts (bounded)."""
    i = start
    floor = max(start - CONTEXT, 0)
    while i > floor and text[i - 1] in _NAME_CHARS:
        i -= 1
    return i


def _kv_pair(m: re.Match[str]) -> str:
    """One ``name=value`` pair: the value's marker, or the pair unchanged. The checks are
    ordered so the cheapest that says "no" comes first (each returns the pair unchanged, so
    their order cannot change a verdict); ``tests/test_sanitize_judges.py`` keeps an earlier
    form as an oracle and checks both decide alike."""
    text = m.string
    start = m.start()
    # (groups 1-5 of _KV_PAIR and _KV: by position, half the cost of naming them)
    kw, rest, q, sep, value = m.groups()[:5]
    # (most names start at the secret word: no walk back, no call)
    if start and text[start - 1] in _NAME_CHARS:
        name_start = _name_start(text, start)
        name = text[name_start:start] + kw + rest
    else:
        name_start = start
        name = kw + rest
    quote_before = text[name_start - 1] if name_start else ""
    sep = sep.strip()
    if sep == "==" or sep == "->" or (q and quote_before != q):
        return m.group(0)
    quoted = value[:1] in ("'", '"') or value[:2] in ("b'", 'b"')
    if sep == ":" and not quoted and _in_prose(text, name_start, m.end()):
        # (first: every other check ends in the same "no"; on a line of such pairs, the
        # cheapest way there)
        return m.group(0)
    bare, secret, query_secret, cwd, strong, upper = _name_facts(name)
    in_query = sep == "=" and quote_before in ("?", "&", ";")
    if not (query_secret if in_query else secret):
        return m.group(0)
    if cwd and _unquote(value)[:1] in ("/", "~", ""):
        return m.group(0)
    if _is_placeholder(value):
        return m.group(0)
    inner = _unquote(value[1:] if value[:2] in ("b'", 'b"') else value)
    if quoted and _ENV_NAME.fullmatch(inner) and is_secret_name(inner):
        return m.group(0)  # api_key_var = "OPENAI_API_KEY": the name of a secret
    if not strong and not _credential_like(inner):
        return m.group(0)  # token="#dcdccc", key="bash-language-server": not credentials
    if len(inner) < 8 and not _strong_name(bare, passwords_only=True):
        return m.group(0)  # key=abc, token=1: too short for a key or token
    if not quoted:
        end = m.end()
        # ?password=sunshine, ;pwd=hunter2: a value in a query or a connection string is
        # text, not a variable
        literal = in_query and _QUERY_LITERAL.fullmatch(value) is not None
        if literal and _ENV_NAME.fullmatch(value) and is_secret_name(value):
            return m.group(0)  # ?access_token=ACCESS_TOKEN: the name of one, in the docs
        if not literal and _code_like(bare, value, text[end : end + 1]):
            return m.group(0)
        # (an unquoted value is never empty; trusted markers never get here, fake ones do)
        if (value[0] in "([{<" or value[-1] == ":") and not value.startswith(MARKER_PREFIX):
            return m.group(0)
        if not literal and sep != ":" and not upper and _PLAIN_IDENT.fullmatch(value):
            return m.group(0)  # key=literal_sort_key: a variable, in code-style naming
    marker = _name_marker(name)
    vstart = m.start("v") - start
    whole = m.group(0)
    if quoted:
        opener = value[:2] if value[:2] in ("b'", 'b"') else value[0]
        return whole[:vstart] + opener + marker + value[-1]
    return whole[:vstart] + marker


_NameFacts = tuple[str, bool, bool, bool, bool, bool]


@functools.lru_cache(maxsize=2048)
def _name_facts(name: str) -> _NameFacts:
    """What ``_kv_pair`` asks of every name it reads, in one lookup (a name repeats far more
    than its values): the bare name (``self.api_key`` -> ``api_key``), whether it is secret
    (alone, in a query), a working directory's name, strong, upper case. (What only some
    pairs reach is looked up there: a new name whose pair stops early costs no more.)"""
    bare = name.strip(".-").rsplit(".", 1)[-1]
    secret = is_secret_name(bare)
    query_secret = secret or bare.lower() in _QUERY_NAMES
    if not query_secret:
        return bare, False, False, False, False, False  # (the judge stops here)
    return (
        bare,
        secret,
        query_secret,
        bare.upper() in ("PWD", "OLDPWD"),
        _strong_name(bare),
        bare.isupper(),
    )


#: Something other than white space before the line ends: ``str.strip`` and ``\s`` agree on
#: what white space is (``tests/test_sanitize_judges2.py`` checks every code point).
_MORE_ON_LINE = re.compile(r"[^\S\n]*\S")


def _in_prose(text: str, name_start: int, end: int) -> bool:
    """`password: hunter2` only as a header / YAML line of its own; a ':' in prose
    ("password: must be 8 characters") is not a key-value pair: whether the pair ending at
    ``end`` has text after it on its line (looked at first: a match, no copy) or before it."""
    if _MORE_ON_LINE.match(text, end, end + CONTEXT) is not None:
        return True
    head = text[_line_start(text, name_start) : name_start].strip()
    return bool(head.strip("-#> "))


@functools.lru_cache(maxsize=2048)
def _name_marker(name: str) -> str:
    """The marker for a value held by ``name`` (a name repeats far more than its values)."""
    return _marker(_kind_for(name.strip(".-")))


def _kv_reach(m: re.Match[str]) -> tuple[int, int]:
    """How far ``_kv_repl`` reads around ``m``: back over the name (``CONTEXT``) and the
    character before it, one character after; with a ":" (or pairs in a tail, which may hold
    one) also the line around the pair."""
    sep, tail = m.group("sep", "tail")
    # (a ":" with no "=" is the separator ":" alone: no other holds a ":" without one)
    if tail is not None or (":" in sep and "=" not in sep):
        return _LINE_REACH
    return _PAIR_REACH


_LINE_REACH = (2 * CONTEXT + 2, CONTEXT + 2)
_PAIR_REACH = (CONTEXT + 1, 1)


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{2,}")
_QUERY_LITERAL = re.compile(r"[A-Za-z0-9_.~%+-]{1,2000}")
#: Words that make a name unambiguous: api_key and access_token hold credentials whatever
#: their value looks like, where key and token alone may name a dict key or a lexer token.
_STRONG_WORDS = _words("API ACCESS AUTH SECRET PRIVATE CLIENT BEARER REFRESH SESSION APIKEY")


def _line_start(text: str, at: int) -> int:
    """Where the line holding ``at`` starts, looking back ``CONTEXT`` characters at most (a
    line start further back would make every judge on a long line read O(line): quadratic)."""
    lo = max(at - CONTEXT, 0)
    nl = text.rfind("\n", lo, at)
    return nl + 1 if nl >= 0 else lo


@functools.lru_cache(maxsize=2048)
def _strong_name(name: str, *, passwords_only: bool = False) -> bool:
    kind = _kind_for(name)
    if kind in _ALWAYS_SECRET_KINDS:
        return True
    if passwords_only:
        return False
    words = {w.upper() for w in _NAME_PIECES.findall(name)}
    return len(words) >= 2 and bool(words & _STRONG_WORDS)


_NAME_PIECES = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_PLAIN_IDENT = re.compile(r"[A-Za-z_]+")
#: Names whose values are secrets even when they read like words (passwords often do).
_ALWAYS_SECRET_KINDS = frozenset({"password", "secret", "aws-secret-key", "credential"})


@functools.lru_cache(maxsize=2048)
def _credential_like(value: str) -> bool:
    """Token-ish: a digit and 8+ characters, or random-looking. ``key="bash-language-server"``
    and ``token='#dcdccc'`` are not; real API keys, tokens and session ids are."""
    value = value.strip()
    if _NUMBER.fullmatch(value) or "%s" in value or "%(" in value or "{}" in value:
        return False  # TOKEN_ADJUST = 0x00000020, "--token=%s": numbers and templates
    if is_dummy(value):
        return False  # xxxx...
    if punctuated(value):
        return True  # {{h}o)p${e]...: words between unpaired brackets, a typed password
    if wordish(value):
        return False  # SalesResults-1.2, jetbrains.mps.v8_elimination
    if len(value) >= 8 and _DIGIT.search(value) and " " not in value:
        return True
    return _looks_random(value, min_len=16)


_NUMBER = re.compile(r"0[xX][0-9a-fA-F_]+|[0-9][0-9_.]*")


_URL_CREDS = re.compile(
    r"://(?P<user>[^\s:/?#@'\"<>\[\]]{0,256}):(?P<v>[^\s/?#'\"<>]{1,512})@"
    r"(?=[^\s@/'\"<>]{0,256}(?:[\s/?#'\"<>]|$))"
)


def _url_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if not _prev_char(m).isalnum() or _is_placeholder(value):
        return m.group(0)
    if value.isdigit() and not m.group("user"):
        return m.group(0)  # "://:8080@" is not a password
    return f"://{m.group('user')}:{_marker('url-credentials')}@"


#: "mysql+pymysql//root:pw@host": a scheme with its colon missing (the URL parser then fails
#: and prints the string it could not parse).
_URL_CREDS_NO_COLON = re.compile(
    r"[A-Za-z0-9]//(?P<user>[^\s:/?#@'\"<>\[\]]{1,256}):(?P<v>[^\s/?#'\"<>]{1,512})@"
    r"(?=[^\s@/'\"<>]{0,256}(?:[\s/?#'\"<>]|$))"
)


def _url_no_colon_repl(m: re.Match[str]) -> str:
    text = m.string
    end = m.start() + 1  # the match starts on the scheme's last character
    lo = max(end - 32, 0)
    j = end
    while j > lo and (text[j - 1].isalnum() or text[j - 1] in "+.-"):
        j -= 1
    if not text[j].isalpha() or _is_placeholder(m.group("v")):
        return m.group(0)
    return f"{text[m.start()]}//{m.group('user')}:{_marker('url-credentials')}@"


#: Microsoft Teams incoming webhooks: the whole URL, as for Slack's and Discord's (the tenant's
#: host and the path are the secret).
_TEAMS_WEBHOOK = re.compile(
    r"https://[A-Za-z0-9-]{1,63}\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/-]{40,512}"
)


_URL_TOKEN_USER = re.compile(r"://(?P<v>[A-Za-z0-9_.~-]{16,512})@")


def _url_token_repl(m: re.Match[str]) -> str:
    if not _prev_char(m).isalnum() or not _looks_random(m.group("v"), min_len=16):
        return m.group(0)
    return f"://{_marker('url-credentials')}@"


_AUTH_HEADER = re.compile(
    r"""(?ix)
    authorization(?P<q>["']?)(?P<sep>[ \t]{0,8}[:=][ \t]{0,8})(?P<q2>["']?)
    (?:(?P<scheme>bearer|basic|token|digest|negotiate|ntlm|bot|apikey|api-key|sso-key|key|
        aws4-hmac-sha256|hawk|otp)[ \t]{1,8})?
    (?P<v>[^\s"',()\[\]{}`]{1,4096}(?:[ \t]{0,8},[ \t]{0,8}[A-Za-z][\w-]{0,64}=[^\s,"']{1,512}){0,8})
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


def _inside_word(m: re.Match[str]) -> bool:
    """The match starts inside a longer word (``xBearer``, ``my_Basic``): not a header."""
    prev = _prev_char(m)
    return bool(prev) and (prev.isalnum() or prev in "_-")


_BEARER = re.compile(r"(?i)bearer[ \t]{1,8}(?P<v>[A-Za-z0-9\-._~+/]{8,4096}={0,2})")


def _bearer_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if _inside_word(m):
        return m.group(0)
    has_digit = any(c.isdigit() for c in value)
    mixed = value != value.lower() and value != value.upper()
    if not has_digit and not (mixed and len(value) >= 20):
        return m.group(0)  # "Bearer authentication failed" is prose
    return _keep_prefix(m, "v", _marker("bearer-token"))


_BASIC = re.compile(r"Basic[ \t]{1,8}(?P<v>[A-Za-z0-9+/]{6,1024}={0,2})(?![\w+/=])")


def _basic_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if _inside_word(m):
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
    cookie(?P<q>["']?)[ \t]{0,8}[:=][ \t]{0,8}
    (?P<v>"(?:[^"\\\n]|\\.){0,4096}"|'(?:[^'\\\n]|\\.){0,4096}'|[^\n"']{1,4096})
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
        head = text[_line_start(text, start) : start]
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
    (?:password|passwd|passphrase|pass|pwd|secret|token|key)[a-z0-9-]{0,64}
    (?P<sep>[ \t]{1,8}|["'],[ \t]{0,8})(?!-)(?P<v>"[^"\n]{0,512}"|'[^'\n]{0,512}'|[^\s"']{1,512})
    """
)


def _cli_gate(text: str, at: int) -> bool:
    """Only a flag: ``-`` starts the word the secret word ends (``--db-password``)."""
    if at > 0 and text[at - 1] == "-":
        return True
    dash = text.rfind("-", max(at - 64, 0), at)
    return dash >= 0 and _FLAG_WORD.fullmatch(text, dash, at) is not None


_FLAG_WORD = re.compile(r"-[A-Za-z0-9-]{0,64}")
#: ``_cli_gate`` as a search (``dense.matches``' lead): a dash, at most 63 letters or digits,
#: then the flag's secret word; searched in the lower-cased text.
_CLI_LEAD = re.compile(
    r"-[a-z0-9]{0,63}?(?=" + _CLI_FLAG.pattern.removeprefix("(?ix)") + ")", re.VERBOSE
)


def _cli_repl(m: re.Match[str]) -> str:
    text = m.string
    i = m.start()
    floor = max(i - CONTEXT, 0)
    while i > floor and (text[i - 1].isalnum() or text[i - 1] == "-"):
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


#: Short flags that carry a password, anchored on the flag (``-pX``, ``'-p', 'X'``,
#: ``-u user:X``); the command word is then looked for earlier on the same line. (Anchoring on
#: the command word and scanning forward for the flag was quadratic on "mysql mysql ...".)
_CLI_SHORT = re.compile(
    r"""(?x)
    [ \t'"=]
    (?:
      -p(?P<v>[^\s'"-][^\s'"]{0,256})
     |-[pa](?:[ \t]{1,8}|["'],[ \t]{0,8})["']?(?P<v2>[^\s'"-][^\s'"]{0,256})
     |(?:-u|--user|--proxy-user)(?:[ \t=]{1,8}|["'],[ \t]{0,8})["']?[^\s:"']{1,128}:
        (?P<v3>[^\s"']{1,256})
    )
    """
)
_MYSQL_WORDS = ("mysql", "mariadb")
_PASS_FLAG_WORDS = ("sshpass", "redis-cli", "mongo", "smbclient", *_MYSQL_WORDS)
_USER_FLAG_WORDS = ("curl", "wget")
_CLI_SHORT_WORDS = (*_PASS_FLAG_WORDS, *_USER_FLAG_WORDS)


def _words_re(words: tuple[str, ...]) -> re.Pattern[str]:
    """Finds one of ``words`` where ``word in text.lower()`` would: ASCII letters in either
    case, and the one character outside ASCII whose lower case holds an ASCII letter that a
    word can end with ("İ" lower-cases to "i" and a combining dot: "redis-clİ")."""
    forms = (re.escape(w[:-1]) + "(?:i|\u0130)" if w.endswith("i") else re.escape(w) for w in words)
    return re.compile("|".join(forms), re.IGNORECASE | re.ASCII)


_CLI_SHORT_WORDS_RE = _words_re(_CLI_SHORT_WORDS)
_PASS_FLAG_RE = _words_re(_PASS_FLAG_WORDS)
_PASS_FLAG_NOT_MYSQL_RE = _words_re(tuple(w for w in _PASS_FLAG_WORDS if w not in _MYSQL_WORDS))
_USER_FLAG_RE = _words_re(_USER_FLAG_WORDS)


def _command_head(text: str, at: int) -> int:
    """Where the text before ``at`` on its line starts (at most ``CONTEXT`` characters back)."""
    lo = max(at - CONTEXT, 0)
    nl = text.rfind("\n", lo, at)
    return nl + 1 if nl >= 0 else lo


#: Where a command word was last found: a hint for the next look at a line's head (the gate,
#: then the judge of the same flag, then the next flag of a long command line read the same
#: head). Only ever a place to try first: a word found there proves one is in the head, and
#: anything else falls back to the search, so a stale hint (another text, another thread)
#: costs one failed match, never a verdict. An int, not the text: nothing is kept alive.
_word_hint = 0
_NEAR = 32


def _word_in_head(words: re.Pattern[str], text: str, at: int) -> bool:
    """Whether one of ``words`` is on the line before ``at`` (``CONTEXT`` back at most)."""
    global _word_hint
    hint = _word_hint
    # (the hint is in the head when it is at most CONTEXT back and no line break follows it)
    if (
        at - CONTEXT <= hint < at
        and words.match(text, hint, at) is not None
        and text.find("\n", hint, at) < 0
    ):
        return True
    head = _command_head(text, at)
    # the nearest stretch first: a word found there stays in the heads of the next flags (the
    # earliest in the head would leave the next flag's head at once)
    near = max(head, at - _NEAR)
    found = words.search(text, near, at)
    if found is None and near > head:
        found = words.search(text, head, at)
    if found is None:
        return False
    _word_hint = found.start()
    return True


def _cli_short_gate(text: str, at: int) -> bool:
    if text[at] not in " \t'\"=":
        return False  # site-packages: a flag follows a space, a quote or "="
    return _word_in_head(_CLI_SHORT_WORDS_RE, text, at)


def _cli_short_repl(m: re.Match[str]) -> str:
    v, v2 = m.group("v", "v2")
    if v is not None:
        group, value = "v", v
        # mysql -pX: a password; sshpass -pX too; elsewhere -p is a port or a path
        words = _PASS_FLAG_RE
    elif v2 is not None:
        group, value = "v2", v2
        words = _PASS_FLAG_NOT_MYSQL_RE
    else:
        group, value = "v3", m.group("v3")
        words = _USER_FLAG_RE
    whole = m.group(0)
    if not _word_in_head(words, m.string, m.start()) or _is_placeholder(value):
        return whole
    base = m.start()
    start, end = m.span(group)
    return whole[: start - base] + _PASSWORD_MARKER + whole[end - base :]


_PASSWORD_MARKER = _marker("password")


_PYDANTIC = re.compile(
    r"input_value=(?P<v>'(?:[^'\\\n]|\\.){0,2048}'|\"(?:[^\"\\\n]|\\.){0,2048}\""
    r"|[^\n]{0,2048}?)(?=, input_type=)"
)


def _pydantic_gate(text: str, at: int) -> bool:
    """pydantic v2 prints "<loc>\n  <message> [type=..., input_value=..., input_type=...]": the
    regex runs only where "[type=" is before it on the line and ", input_type=" follows."""
    lo = max(at - CONTEXT, 0)
    nl = text.rfind("\n", lo, at)
    if nl < 0 or text.find("[type=", nl, at) < 0:
        return False
    return text.find(", input_type=", at, at + 2100) >= 0


def _pydantic_repl(m: re.Match[str]) -> str:
    text = m.string
    nl = text.rfind("\n", max(m.start() - CONTEXT, 0), m.start())
    if nl < 0 or "[type=" not in text[nl + 1 : m.start()]:
        return m.group(0)
    loc = text[_line_start(text, nl) : nl]
    parts = re.split(r"[.\s]+", loc.strip())
    field = next((p for p in reversed(parts) if is_secret_name(p)), None)
    value = m.group("v")
    if field is None or _is_placeholder(value):
        return m.group(0)
    return _keep_prefix(m, "v", _marker(_kind_for(field)))


_SQL = re.compile(r"(?i)(?:identified[ \t]{1,8}by|password)[ \t]{1,8}(?P<v>'[^'\n]{1,512}')")


def _sql_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if _prev_char(m).isalnum() or _is_placeholder(value):
        return m.group(0)
    return _keep_prefix(m, "v", "'" + _marker("password") + "'")


_KV_ANCHORS = tuple(
    sorted(_words("pass pasw psw pwd secret token key auth cred sess sig dsn code= identified"))
)
_KV_ANCHOR_RE = re.compile("|".join(re.escape(a) for a in _KV_ANCHORS))


# -- values with no name before them -----------------------------------------------------------
# A KeyError prints the missing key, and a message may print a credential right after saying
# what it is ("invalid token abc..."). There only the value's shape can tell: opaque values
# (letters mixed with digits or symbols, no words, no paths) are taken for credentials.
_KEYERROR = re.compile(r"KeyError: (?P<q>['\"])(?P<v>[^'\"\s\\]{8,512})(?P=q)")


def _keyerror_repl(m: re.Match[str]) -> str:
    value = m.group("v")
    if not opaque(value) or is_secret_name(value):
        return m.group(0)
    return _keep_prefix(m, "v", _marker("credential"), m.group("q"))


_NAMED_VALUE = re.compile(
    r"""(?ix)
    (?P<word>credentials?|token|password|passphrase|passwd|secret|api[ _-]?key|apikey|key)
    (?::[ \t]{0,4}|[ \t]{1,4})(?P<q>['"`]?)(?P<v>[^\s'"`]{8,512})
    """
)


def _named_value_repl(m: re.Match[str]) -> str:
    start = m.start()
    if start:
        prev = m.string[start - 1]
        if prev.isalnum() or prev in "_-":
            return m.group(0)
    word = m.group("word")
    # (no quote to strip: the value's class holds none, whatever the quote before it)
    value = m.group("v").rstrip(".,;:)]}>")
    if not opaque(value) or _is_placeholder(value) or is_secret_name(value):
        return m.group(0)
    vstart = m.start("v") - start
    whole = m.group(0)
    # (the word never starts or ends with "." or "-": its marker is the name's)
    return whole[:vstart] + _name_marker(word) + whole[vstart + len(value) :]


def _structural_rules() -> list[_Rule]:
    return [
        # user:password@ (also with the scheme's colon missing) and token@ share "//"
        _Chain(
            "url-credentials",
            _URL_CREDS,
            _url_repl,
            anchors=("//",),
            offset=1,
            exact_anchors=True,
            reach=(34, 1),
            parts=(
                (_URL_CREDS, _url_repl, None),
                (_URL_TOKEN_USER, _url_token_repl, None),
                (_URL_CREDS_NO_COLON, _url_no_colon_repl, None),
            ),
        ),
        # its own rule behind a trigger: a part of the chain above cost every "//" a try
        _Rule(
            "teams-webhook",
            _TEAMS_WEBHOOK,
            _whole("teams-webhook"),
            case_sensitive_triggers=(".webhook.office.com/",),
            anchors=("//",),
            offset=len("https:"),
            exact_anchors=True,
        ),
        _Rule(
            "authorization",
            _AUTH_HEADER,
            _auth_repl,
            anchors=("authorization",),
            reach=(1, 1),
        ),
        _Rule("cookie", _COOKIE, _cookie_repl, anchors=("cookie",), reach=(CONTEXT + 6, 0)),
        _Rule("bearer-token", _BEARER, _bearer_repl, anchors=("bearer",), reach=(1, 0)),
        _Rule(
            "basic-auth",
            _BASIC,
            _basic_repl,
            anchors=("Basic",),
            exact_anchors=True,
            reach=(1, 0),
        ),
        _Rule(
            "password",
            _PYDANTIC,
            _pydantic_repl,
            anchors=("input_value=",),
            exact_anchors=True,
            gate=_pydantic_gate,
        ),
        _Rule(
            "password",
            _CLI_SHORT,
            _cli_short_repl,
            triggers=_CLI_SHORT_WORDS,
            anchors=("-p", "-a", "-u", "--user", "--proxy-user"),
            offset=1,
            exact_anchors=True,
            gate=_cli_short_gate,
            reach=(CONTEXT + 1, 1),
        ),
        # SQL literals, flags, name=value pairs and messages start at the same secret words
        _Chain(
            "credential",
            _KV,
            _kv_repl,
            anchors=_KV_ANCHORS,
            # _kv_repl finds the name's start (up to CONTEXT back), then its line's start
            reach=(2 * CONTEXT + 2, CONTEXT + 2),
            parts=(
                (_SQL, _sql_repl, None),
                (_CLI_FLAG, _cli_repl, _cli_gate),
                (_KV, _kv_repl, None),
                (_NAMED_VALUE, _named_value_repl, None),
            ),
            leads=(None, _CLI_LEAD, None, None),
            # SQL and message judges read the character before the match; the flag's walks
            # back over the flag word; name=value's see ``_kv_reach``
            reaches=((1, 0), (CONTEXT + 1, 0), _kv_reach, (1, 0)),
        ),
        _Rule(
            "credential",
            _KEYERROR,
            _keyerror_repl,
            anchors=("KeyError: ",),
            exact_anchors=True,
        ),
    ]

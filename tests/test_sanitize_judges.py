"""The structural judges made cheaper decide exactly as before: each earlier form is kept
here as an oracle and compared with the new one on seeded random inputs and on every call the
sanitizer makes over the public corpus and the benchmark's recipes of distinct credentials."""

from __future__ import annotations

import random
import re

import pytest

from nbworkflow.sanitize import Sanitizer, structural
from nbworkflow.sanitize.engine import CONTEXT
from nbworkflow.sanitize.markers import MARKER_PREFIX, _marker
from nbworkflow.sanitize.names import _QUERY_NAMES, _kind_for, is_secret_name
from nbworkflow.sanitize.structural import (
    _CALL,
    _CODE_NAME,
    _ENV_NAME,
    _IDENT_CHAIN,
    _KV,
    _KV_PAIR,
    _PLAIN_IDENT,
    _PY_WORDS,
    _QUERY_LITERAL,
    _credential_like,
    _line_start,
    _name_start,
    _strong_name,
    _unquote,
)

from .support.secret_corpus import DATA, benign_texts, secret_cases
from .test_sanitize_judges2 import is_placeholder_before


def _code_like_before(name: str, value: str, after: str) -> bool:
    """``structural._code_like`` as it was before round 4 (the oracle)."""
    call = _CALL.match(value)
    if call and _IDENT_CHAIN.fullmatch(call.group(1)):
        return True
    if not _IDENT_CHAIN.fullmatch(value):
        return False
    if after[:1] in ("(", "["):
        return True
    if value in _PY_WORDS or value.split(".", 1)[0] in _PY_WORDS:
        return True
    if "." in value and not any(c.isdigit() for c in value):
        return True
    low = value.lower()
    if low == name.lower().lstrip("-"):
        return True
    if _CODE_NAME.fullmatch(value) and is_secret_name(value):
        return True
    bare = name.lower().lstrip("-").strip("\"'")
    return bare in ("key", "auth", "pass", "session", "sig", "cookie", "secret") and value.isalpha()


def _kv_pair_before(m: re.Match[str]) -> str:
    """``structural._kv_pair`` as it was before round 4 (the oracle)."""
    text = m.string
    start = m.start()
    name_start = i = _name_start(text, start)
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
    if is_placeholder_before(value):
        return m.group(0)
    quoted = value[:1] in ("'", '"') or value[:2] in ("b'", 'b"')
    inner = _unquote(value[1:] if value[:2] in ("b'", 'b"') else value)
    if quoted and _ENV_NAME.fullmatch(inner) and is_secret_name(inner):
        return m.group(0)  # api_key_var = "OPENAI_API_KEY": the name of a secret
    if not _strong_name(bare) and not _credential_like(inner):
        return m.group(0)  # token="#dcdccc", key="bash-language-server": not credentials
    if len(inner) < 8 and not _strong_name(bare, passwords_only=True):
        return m.group(0)  # key=abc, token=1: too short for a key or token
    if not quoted:
        after = text[m.end() : m.end() + 1]
        # ?password=sunshine, ;pwd=hunter2: a value in a query or a connection string is
        # text, not a variable
        literal = in_query and _QUERY_LITERAL.fullmatch(value) is not None
        if literal and _ENV_NAME.fullmatch(value) and is_secret_name(value):
            return m.group(0)  # ?access_token=ACCESS_TOKEN: the name of one, in the docs
        if not literal and _code_like_before(bare, value, after):
            return m.group(0)
        fake_marker = value.startswith(MARKER_PREFIX)  # trusted markers never get here
        if not fake_marker and (value[:1] in ("(", "[", "{", "<") or value.endswith(":")):
            return m.group(0)
        if not literal and sep != ":" and not bare.isupper() and _PLAIN_IDENT.fullmatch(value):
            return m.group(0)  # key=literal_sort_key: a variable, in code-style naming
        if sep == ":":
            # `password: hunter2` only as a header / YAML line of its own; a ':' in prose
            # ("password: must be 8 characters") is not a key-value pair.
            head = text[_line_start(text, name_start) : name_start].strip()
            stop = min(m.end() + CONTEXT, len(text))
            line_end = text.find("\n", m.end(), stop)
            tail = text[m.end() : stop if line_end < 0 else line_end].strip()
            if head.strip("-#> ") or tail:
                return m.group(0)
    marker = _marker(_kind_for(name.strip(".-")))
    vstart = m.start("v") - start
    whole = m.group(0)
    if quoted:
        opener = value[:2] if value[:2] in ("b'", 'b"') else value[0]
        return whole[:vstart] + opener + marker + value[-1]
    return whole[:vstart] + marker


_NAMES = [
    "token",
    "key",
    "-key",
    "--auth",
    "'auth'",
    "pass",
    "session",
    "sig",
    "cookie",
    "secret",
    "password",
    "api_key",
    "API_KEY",
    "token2",
    "authorization",
    "Secret",
    "abc0000001",
]
_PIECES = [
    "os", "environ", "self", "len", "getpass", "settings", "token", "API_TOKEN", "db_password",
    "abc", "x", "Cleartext", "Password1", "hunter", "2", "07", "_", ".", ".", "(", ")", "[",
    "]", "'", "-", "é", "0x1f", "None", "basic", "abc0000001",
]  # fmt: skip
_AFTERS = ["", " ", "(", "[", ")", ",", "\n"]


def _random_calls(seed: int, n: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        value = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 4)))
        name = rng.choice([*_NAMES, value, value.upper(), "-" + value.lower()])
        calls.append((name, value, rng.choice(_AFTERS)))
    return calls


def test_code_like_decides_as_before_on_random_values() -> None:
    calls = _random_calls(14, 20_000)
    verdicts = [_code_like_before(*c) for c in calls]
    # the inputs reach both verdicts, often: an equivalence over one verdict proves little
    assert 2_000 < sum(verdicts) < 18_000
    wrong = [c for c, v in zip(calls, verdicts, strict=True) if structural._code_like(*c) != v]
    assert not wrong, wrong[:10]


def _distinct_recipes() -> list[str]:
    def units(i: int) -> list[str]:
        return [
            f"mysql -px{i:07d} ",
            f"token=abc{i:07d} ",
            f"'password': 'x{i:07d}', ",
            f"password: hu{i}x{i * 7}q ",
            f"key=value{i} auth=basic sig=os.environ[{i}] pass=getpass() ",
        ]

    return ["".join(units(i)[k] for i in range(60)) for k in range(5)]


def test_code_like_decides_as_before_on_every_call_over_the_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not (DATA / "secrets.jsonl").exists():
        pytest.skip("public corpus not present")
    seen: list[tuple[str, str, str]] = []
    new = structural._code_like

    def recording(name: str, value: str, after: str) -> bool:
        seen.append((name, value, after))
        return new(name, value, after)

    monkeypatch.setattr(structural, "_code_like", recording)
    san = Sanitizer(use_environ=False)
    for text in [c.text for c in secret_cases()] + benign_texts() + _distinct_recipes():
        san.sanitize(text)
    assert len(seen) > 500  # the corpus reaches the judge (else this checks nothing)
    wrong = [c for c in set(seen) if new(*c) != _code_like_before(*c)]
    assert not wrong, wrong[:10]
    assert any(_code_like_before(*c) for c in seen) and not all(_code_like_before(*c) for c in seen)


def test_code_like_known_verdicts() -> None:
    # (a plain literal token is not code; calls, subscripts and a builtin after key= are)
    assert not structural._code_like("token", "abc0000001", " ")
    assert structural._code_like("key", "len", ")")
    assert structural._code_like("token", "os.environ[1]", "")
    assert structural._code_like("password", "db_password", "")
    assert not structural._code_like("password", "CleartextPassword1", "")


def _kv_texts() -> list[str]:
    """Texts whose name=value pairs reach every branch of the judge: the corpus, the benign
    texts, the recipes, and pairs in prose, on lines of their own, quoted, in queries."""
    lines = [
        "password: hunter2x9",
        "  password: hunter2x9  ",
        "# password: hunter2x9",
        "error: password: must be 8 characters",
        "password: hunter2x9 and more",
        "'password': 'x0000123', 'token': b'abcdef12345'",
        "?access_token=ACCESS_TOKEN&sig=abc1234567&pwd=hunter2",
        "PWD=/home/app token==abc1234567 key->value12345",
        'api_key_var = "OPENAI_API_KEY" token=self.token key=len( password=getpass()',
        "token: {a:b} secret: [REDACTED:x]: auth: basic session=abc123456789:",
        "self.api_key = sk12345678abc; API_KEY=literal_sort_key key=literal_sort_key",
    ]
    return [
        *(c.text for c in secret_cases()),
        *benign_texts(),
        *_distinct_recipes(),
        *lines,
        " ".join(lines),
        "\n".join(lines),
    ]


def test_kv_pair_decides_as_before_on_every_pair_over_the_corpus() -> None:
    if not (DATA / "secrets.jsonl").exists():
        pytest.skip("public corpus not present")
    matches = [
        m
        for text in _kv_texts()
        for pattern in (_KV_PAIR, _KV)
        for start in range(len(text))
        if (m := pattern.match(text, start)) is not None
    ]
    assert len(matches) > 2_000
    outcomes = [(structural._kv_pair(m), _kv_pair_before(m), m.group(0)) for m in matches]
    # both verdicts occur, often, and the ':' pairs reach both: else this checks little
    redacted = sum(new != whole for new, _, whole in outcomes)
    assert 200 < redacted < len(outcomes) - 200
    colon = [o for o, m in zip(outcomes, matches, strict=True) if m.group("sep").strip() == ":"]
    assert any(new != whole for new, _, whole in colon)
    assert any(new == whole for new, _, whole in colon)
    wrong = [(m.group(0), new, old) for m, (new, old, _) in zip(matches, outcomes, strict=True)]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, wrong[:10]


def test_kv_pair_decides_as_before_on_random_pairs() -> None:
    """Pairs built to reach the judge's late checks too (a value opening with a bracket or
    ending in ":", a fake marker, code, queries, upper-case names), beyond what the corpus has."""
    rng = random.Random(24)
    names = ["token", "password", "api_key", "API_KEY", "key", "auth", "sig", "pwd", "PWD",
             "self.token", "db-password", "access_token", "Secret", "sessionid", "x_token"]  # fmt: skip
    befores = ["", " ", "?", "&", ";", "'", '"', "\n", "# ", "> ", "x", ".", "-"]
    seps = ["=", ": ", ":", " = ", "==", "->", ":=", "=>", "\t=\t"]
    pieces = ["abc12345", "Zq7xW9pL", "x9", "<", "(", "[", "{", "}", ")", "]", ">", ":", "[REDACTED:",
              "token]", "os.environ", "getpass()", "self.", "len", "a_b", "XYZ", "/home/x", "~",
              "'", '"', "b'", "%s", "ACCESS_TOKEN", "hunter2", "_", ".", "-", "$"]  # fmt: skip
    afters = ["", " ", "(", "[", "\n", " and more", ",", ";x", ")y"]
    texts = []
    for _ in range(6_000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))
        pair = rng.choice(befores) + rng.choice(names) + rng.choice(seps) + value
        texts.append(pair + rng.choice(afters))
    matches = [
        m
        for text in texts
        for pattern in (_KV_PAIR, _KV)
        for start in range(len(text))
        if (m := pattern.match(text, start)) is not None
    ]
    outcomes = [(structural._kv_pair(m), _kv_pair_before(m), m.group(0)) for m in matches]
    redacted = sum(new != whole for new, _, whole in outcomes)
    assert 1_000 < redacted < len(outcomes) - 1_000
    wrong = [(m.group(0), new, old) for m, (new, old, _) in zip(matches, outcomes, strict=True)]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, wrong[:10]

"""The structural judges made cheaper decide exactly as before: each earlier form is kept
here as an oracle and compared with the new one on seeded random inputs and on every call the
sanitizer makes over the public corpus and the benchmark's recipes of distinct credentials."""

from __future__ import annotations

import random

import pytest

from nbworkflow.sanitize import Sanitizer, structural
from nbworkflow.sanitize.names import is_secret_name
from nbworkflow.sanitize.structural import _CALL, _CODE_NAME, _IDENT_CHAIN, _PY_WORDS

from .support.secret_corpus import DATA, benign_texts, secret_cases


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

"""Unit and property tests for nbworkflow.sanitize (the corpus lives in test_sanitize_corpus)."""

from __future__ import annotations

import importlib
import io
import random
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbworkflow
from nbworkflow.sanitize import (
    Sanitizer,
    add_pattern,
    is_secret_name,
    redaction_kinds,
    register_secret,
    sanitize,
    truncate_middle,
)
from nbworkflow.sanitize.cli import main

# `nbworkflow.sanitize` the attribute is the function (re-exported); this is the module
san_module = importlib.import_module("nbworkflow.sanitize")

MARKER = re.compile(r"\[REDACTED:[A-Za-z0-9_.:-]+\]")
RNG = random.Random(7)


def tok(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n - 1)) + RNG.choice(string.digits)


@pytest.fixture
def isolated_default(monkeypatch: pytest.MonkeyPatch) -> Sanitizer:
    """A fresh default sanitizer so module-level registration does not leak between tests."""
    fresh = Sanitizer()
    monkeypatch.setattr(san_module, "_DEFAULT", fresh)
    return fresh


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GITHUB_TOKEN",
        "client_secret",
        "PGPASSWORD",
        "MYSQL_PWD",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "SENTRY_DSN",
        "JUPYTER_TOKEN",
        "JUPYTERHUB_API_TOKEN",
        "JPY_COOKIE_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "apiKey",
        "accessToken",
        "x-api-key",
        "DB_PASS",
        "SECRET_KEY",
        "private_key",
        "session_id",
        "AZURE_STORAGE_CONNECTION_STRING",
        "key",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "TOKENIZERS_PARALLELISM",
        "KEYBOARD",
        "max_tokens",
        "input_tokens",
        "token_count",
        "PWD",
        "OLDPWD",
        "PASSWORD_MIN_LENGTH",
        "primary_key",
        "sort_key",
        "KeyError",
        "monkey",
        "AWS_ACCESS_KEY_ID",
        "GOOGLE_API_KEY_FILE",
        "JPY_SESSION_NAME",
        "HOME",
        "PATH",
        "author",
        "passport_number",
        "secretary",
        "",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


# -- markers and kinds -------------------------------------------------------------------------


def test_marker_says_what_was_removed() -> None:
    key = "AKIA" + tok(16, string.ascii_uppercase + string.digits)
    assert sanitize(f"key id {key} denied") == "key id [REDACTED:aws-access-key] denied"


def test_redaction_kinds_lists_the_builtin_kinds() -> None:
    kinds = redaction_kinds()
    for kind in ("aws-access-key", "anthropic-key", "jwt", "url-credentials", "private-key"):
        assert kind in kinds
    assert {"password", "bearer-token", "high-entropy", "secret", "env:<VARNAME>"} <= set(kinds)


def test_markers_are_never_redacted_again() -> None:
    text = " ".join(f"[REDACTED:{k}]" for k in redaction_kinds() if "<" not in k)
    text += " password=[REDACTED:password] https://u:[REDACTED:url-credentials]@h"
    assert sanitize(text) == text
    assert Sanitizer(["REDACTED", "password", "url-credentials"]).sanitize(text) == text


def test_a_fake_marker_cannot_smuggle_a_secret_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "plumharbor")
    key = f"sk-ant-api03-{tok(40)}"
    text = f"[REDACTED:plumharbor] [REDACTED:{key}] password=[REDACTED:hunter2x]"
    out = sanitize(text)
    assert "plumharbor" not in out and key not in out and "hunter2x" not in out
    assert sanitize(out) == out


def test_keeps_what_the_model_needs() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "/opt/app/etl.py", line 42, in load\n'
        "    rows = client.fetch(page=3)\n"
        "KeyError: 'OPENAI_API_KEY'\n"
        "ValueError: password must be 8 characters\n"
    )
    assert sanitize(text) == text


# -- exact values ------------------------------------------------------------------------------


def test_known_secret_and_its_encoded_forms() -> None:
    secret = 'pa ss"wo\\rd&x'
    text = (
        f"raw {secret} | url https://h/?p=pa%20ss%22wo%5Crd%26x | "
        f'json {{"p": "pa ss\\"wo\\\\rd&x"}}'
    )
    out = Sanitizer(use_environ=False).sanitize(text, [secret])
    assert out.count("[REDACTED:secret]") == 3, out
    assert "wo" not in out


def test_short_and_trivial_known_secrets_are_ignored() -> None:
    text = "true on line 1 abc"
    assert Sanitizer(use_environ=False).sanitize(text, ["abc", "true", "", "1"]) == text


def test_longer_secret_wins_over_a_contained_one() -> None:
    out = Sanitizer(use_environ=False).sanitize("x hunter22extra y", ["hunter22", "hunter22extra"])
    assert out == "x [REDACTED:secret] y"


def test_environment_values_are_redacted_and_the_cache_follows_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "plumharbor")
    assert sanitize("login as plumharbor") == "login as [REDACTED:env:ACME_SERVICE_TOKEN]"
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "otterviolet")
    assert sanitize("plumharbor otterviolet") == "plumharbor [REDACTED:env:ACME_SERVICE_TOKEN]"
    monkeypatch.delenv("ACME_SERVICE_TOKEN")
    assert sanitize("otterviolet") == "otterviolet"


def test_environment_values_that_are_not_worth_redacting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_PASSWORD", "true")
    monkeypatch.setenv("ACME_TOKEN", "abc12")
    monkeypatch.setenv("ACME_SECRET_FILE_DIR", "/run/secrets")
    monkeypatch.setenv("ACME_API_KEY", "/run/secrets/acme")  # a path, not a secret
    monkeypatch.setenv("KEYBOARD_LAYOUT", "colemak-dh")  # not a secret name
    text = "true abc12 /run/secrets/acme colemak-dh"
    assert sanitize(text) == text


def test_environment_urls_give_up_their_password_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql://app:plumharbor7@db.internal/crm")
    monkeypatch.setenv("CACHE_URL", "redis://cache.internal:6379/0")  # no credentials
    out = sanitize("login failed (pw plumharbor7) for db.internal/crm; redis://cache.internal")
    assert out == (
        "login failed (pw [REDACTED:env:CRM_DATABASE_URL]) for db.internal/crm; "
        "redis://cache.internal"
    )


def test_environment_can_be_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "plumharbor")
    assert Sanitizer(use_environ=False).sanitize("plumharbor") == "plumharbor"


def test_home_directory_of_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/work/people/alice")
    out = sanitize('File "/work/people/alice/x.py" /work/people/alicex/y /work/people/alice')
    assert out == 'File "~/x.py" /work/people/alicex/y ~'


# -- structural details ------------------------------------------------------------------------


def test_header_lines_in_an_http_dump() -> None:
    a, b = tok(32), tok(20)
    text = f"> GET / HTTP/1.1\n> X-Api-Key: {a}\n> Private-Token: {b}\n> Accept: */*\n"
    out = sanitize(text)
    assert a not in out and b not in out
    assert "> Accept: */*" in out and "X-Api-Key: [REDACTED:" in out


def test_attribute_names_use_their_last_component() -> None:
    k = tok(24)
    assert sanitize(f'self.api_key = "{k}"') == 'self.api_key = "[REDACTED:api-key]"'
    text = "key_node.tag = 'tag:yaml.org,2002:str'"
    assert sanitize(text) == text


def test_argv_lists_and_prose_flags() -> None:
    pw = tok(10)
    out = sanitize(f"['pg_dump', '--password', '{pw}', 'crm']")
    assert out == "['pg_dump', '--password', '[REDACTED:password]', 'crm']"
    code = 'parser.add_argument("--access-token", type=str, help="token")'
    assert sanitize(code) == code


def test_structured_value_with_a_known_secret_inside() -> None:
    pw = "cobaltmeadow"
    out = Sanitizer(use_environ=False).sanitize(f"password='x{pw}y' done", [pw])
    assert pw not in out and out.endswith(" done")


# -- registration ------------------------------------------------------------------------------


def test_register_secret_and_add_pattern_module_level(isolated_default: Sanitizer) -> None:
    register_secret("otterviolet")
    register_secret("cobalt-meadow", kind="crm-password")
    add_pattern("employee-id", r"\bEMP-\d{6}\b")
    out = sanitize("otterviolet cobalt-meadow EMP-123456 EMP-12")
    assert out == "[REDACTED:secret] [REDACTED:crm-password] [REDACTED:employee-id] EMP-12"
    assert "employee-id" in redaction_kinds()


def test_add_pattern_with_a_secret_group_keeps_the_context() -> None:
    san = Sanitizer(use_environ=False, patterns=[("pin", r"PIN (?P<secret>\d{4,})")])
    assert san.sanitize("wrong PIN 123456 entered") == "wrong PIN [REDACTED:pin] entered"


@pytest.mark.parametrize("pattern", [r".*", r"x?", r"(?:)"])
def test_add_pattern_refuses_patterns_matching_nothing(pattern: str) -> None:
    with pytest.raises(ValueError, match="empty string"):
        Sanitizer().add_pattern("thing", pattern)


def test_a_pattern_that_matches_markers_cannot_break_them() -> None:
    san = Sanitizer(use_environ=False, patterns=[("word", r"RED\w*|secret")])
    out = san.sanitize("REDUCE the secret [REDACTED:secret]")
    assert out == "[REDACTED:word] the [REDACTED:word] [REDACTED:secret]"
    assert san.sanitize(out) == out


@pytest.mark.parametrize("kind", ["Bad Kind", "x]", "", "a[b"])
def test_kind_names_are_checked(kind: str) -> None:
    with pytest.raises(ValueError, match="kind"):
        Sanitizer().register_secret("otterviolet", kind=kind)


# -- structure ---------------------------------------------------------------------------------


def test_public_function_is_reexported() -> None:
    assert nbworkflow.sanitize is sanitize


def test_non_ascii_text_and_case_changing_characters() -> None:
    pw = tok(16)
    text = f"İstanbul ß ﬃ — password={pw} — 東京 /home/ayşe/x"
    out = sanitize(text)
    assert pw not in out
    assert out.startswith("İstanbul ß ﬃ — password=[REDACTED:password]")
    assert out.endswith("東京 ~/x")


# -- truncation --------------------------------------------------------------------------------


def _traceback(frames: int) -> str:
    lines = ["Traceback (most recent call last):"]
    for i in range(frames):
        lines += [f'  File "/opt/app/mod{i}.py", line {i + 10}, in f{i}', f"    call_{i}()"]
    lines.append("ZeroDivisionError: division by zero")
    return "\n".join(lines) + "\n"


def test_truncate_keeps_head_and_tail_on_line_boundaries() -> None:
    text = _traceback(200)
    out = truncate_middle(text, 2000)
    assert len(out) <= 2000
    assert out.startswith("Traceback (most recent call last):\n")
    assert out.endswith("ZeroDivisionError: division by zero\n")
    cut = re.search(r"\[\.\.\. (\d+) characters, (\d+) lines truncated \.\.\.\]", out)
    assert cut is not None
    head, tail = out.split(cut.group(0))
    assert head.endswith("\n") and tail.startswith("\n")
    assert len(head) + int(cut.group(1)) + len(tail) - 1 == len(text)
    lines = text.splitlines()
    for line in head.splitlines() + tail[1:].splitlines():
        assert line in lines  # only whole lines were kept


def test_truncate_is_a_no_op_within_budget_and_strict_on_tiny_budgets() -> None:
    text = _traceback(3)
    assert truncate_middle(text, len(text)) == text
    tiny = truncate_middle(text, 30)  # no room for a marker: the tail, cut between words
    assert tiny == ": division by zero\n"
    assert truncate_middle(text, 0) == ""
    with pytest.raises(ValueError):
        truncate_middle(text, -1)


def test_truncate_a_single_long_line_cuts_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    out = truncate_middle(text, 500)
    assert len(out) <= 500
    head, tail = re.split(r"\n?\[\.\.\. .*? truncated \.\.\.\]\n", out)
    assert text.startswith(head) and text.endswith(tail)
    assert head.endswith(" ") or head.endswith(("word", "0", "1", "2", "3", "4", "5", "6", "7"))
    assert tail[:1] in (" ", "")


def test_sanitize_redacts_before_truncating() -> None:
    key = f"sk-ant-api03-{tok(90)}"
    text = _traceback(300) + f"anthropic.AuthenticationError: bad key {key}\n"
    out = sanitize(text, max_chars=1500)
    assert len(out) <= 1500
    assert key[:20] not in out and "[REDACTED:anthropic-key]" in out
    assert sanitize(out, max_chars=1500) == out


# -- command line ------------------------------------------------------------------------------


def test_cli_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = tok(12)
    f = tmp_path / "err.txt"
    f.write_text(f"postgresql://app:{pw}@db/x\n", encoding="utf-8")
    assert main([str(f)]) == 0
    assert capsys.readouterr().out == "postgresql://app:[REDACTED:url-credentials]@db/x\n"


def test_cli_stdin_max_chars_and_secret_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_OPAQUE", "cobaltmeadow")
    monkeypatch.setattr("sys.stdin", io.StringIO(_traceback(100) + "cobaltmeadow\n"))
    assert main(["-", "--max-chars", "600", "--secret-env", "MY_OPAQUE"]) == 0
    out = capsys.readouterr().out
    assert len(out) <= 600
    assert out.endswith("[REDACTED:secret]\n")


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- properties --------------------------------------------------------------------------------

FRAGMENTS = [
    f"sk-ant-api03-{tok(40)}",
    "AKIA" + tok(16, string.ascii_uppercase + string.digits),
    f"ghp_{tok(36)}",
    tok(40),
    "postgresql://u:",
    "@db:5432/x",
    "password=",
    "token: ",
    "Authorization: Bearer ",
    "Basic ",
    "Cookie: ",
    "--password ",
    "mysql -p",
    "-----BEGIN PRIVATE" + " KEY-----\n",
    "-----END PRIVATE" + " KEY-----",
    "/home/",
    "alice",
    "C:\\Users\\",
    "[REDACTED:",
    "[REDACTED:secret]",
    "]",
    "eyJ",
    ".",
    "'",
    '"',
    "=",
    ":",
    "/",
    " ",
    "\n",
    "KeyError: 'OPENAI_API_KEY'",
    "input_value=",
    "[type=x, ",
    ", input_type=str]",
    "\u0130",
    "~",
]

mixed_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=25).map(
    "".join
)


def _non_marker_length(text: str) -> int:
    return len(text) - sum(len(m) for m in MARKER.findall(text))


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.one_of(st.text(), mixed_text))
def test_property_idempotent_bounded_never_raises(text: str) -> None:
    out = sanitize(text)
    assert sanitize(out) == out
    # every marker replaces at least one character: never longer than input plus markers
    assert _non_marker_length(out) <= len(text)


@PROPERTY
@given(mixed_text, st.integers(min_value=0, max_value=400))
def test_property_truncation_within_budget_and_idempotent(text: str, budget: int) -> None:
    out = sanitize(text, max_chars=budget)
    assert len(out) <= budget
    assert sanitize(out, max_chars=budget) == out


@PROPERTY
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8), st.text(max_size=8))
def test_property_known_secrets_never_survive(parts: list[str], secret_core: str) -> None:
    secret = "Zq" + secret_core + "9x"
    text = secret.join(parts) + secret
    out = Sanitizer(use_environ=False).sanitize(text, [secret])
    assert secret not in out


def test_redact_values_removes_exact_secrets_and_touches_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nbworkflow.sanitize import redact_values

    monkeypatch.setenv("ACME_SERVICE_TOKEN", "plumharbor-9931")
    text = (
        "use plumharbor-9931 and the key KNOWN-VALUE-77 here; leave password=hunter2 alone, "
        "and ghp_abcdefghijklmnopqrstuvwxyz0123456789 too (a task may quote any text)"
    )
    out = redact_values(text, ["KNOWN-VALUE-77"])
    assert "plumharbor-9931" not in out and "KNOWN-VALUE-77" not in out
    assert out.count("[REDACTED:") == 2
    assert "password=hunter2" in out and "ghp_abcdefghijklmnopqrstuvwxyz0123456789" in out
    assert redact_values("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize(
    "text",
    ["password Xk29vLq7Rm3p", "token: Zk3v9QpL2xW7mR", "secret hQ8zP2mV6tR1wY4k and more"],
)
def test_a_secret_word_at_the_very_start_of_the_text_still_guards_its_value(text: str) -> None:
    """The "is the word part of a longer name" check read the character before the match,
    which at position 0 is "" -- and "" is in every string, so the value was kept."""
    value = text.split()[1]
    assert value not in sanitize(text)
    assert value not in sanitize("x " + text)

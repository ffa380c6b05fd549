"""One test per bug of issue 14 (each failed before its fix). Tokens are built at test time
from a seeded generator, so no realistic-looking secret is committed as a literal."""

from __future__ import annotations

import random
import re
import string

import pytest

from nbworkflow.sanitize import Sanitizer, sanitize

RNG = random.Random(1414)
ALNUM = string.ascii_letters + string.digits
MARKER = re.compile(r"\[REDACTED:[a-z0-9_.:-]+\]")


def tok(n: int, alphabet: str = ALNUM) -> str:
    while True:
        value = "".join(RNG.choice(alphabet) for _ in range(n))
        mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
        if mixed or not any(c.isalpha() for c in alphabet):
            return value


def clean(text: str) -> str:
    return Sanitizer(use_environ=False).sanitize(text)


def _no_piece_survives(secret: str, out: str) -> bool:
    return not any(secret[i : i + 8] in out for i in range(max(len(secret) - 7, 1)))


@pytest.mark.parametrize(
    "name, value",
    [
        ("SOME_LONG_SETTING_NAME_HERE", f"xoxb-{tok(12, string.digits)}-{tok(13)}-{tok(24)}"),
        ("HUGGINGFACE_ACCESS_TOKEN", f"hf_{tok(34)}"),
    ],
)
def test_a_long_name_before_equals_does_not_hide_the_value(name: str, value: str) -> None:
    out = clean(f"{name}={value}\nLANG=C.UTF-8")
    assert value[4:20] not in out and out.startswith(f"{name}=[REDACTED:")


def test_azure_ad_client_secrets() -> None:
    # the real shape: '~' and '.' cut the tail into runs too short for the entropy fallback
    tail = f"{tok(8)}.{tok(8)}~{tok(8)}-{tok(7)}"
    secret = f"{tok(3)}{RNG.choice(string.digits)}Q~{tail}"
    for text in (f"login with {secret} failed", f"AZURE_CLIENT_SECRET={secret}"):
        out = clean(text)
        assert _no_piece_survives(secret, out), out


@pytest.mark.parametrize(
    "secret",
    [
        f"{tok(24)}.{tok(6)}.{tok(27)}",  # Discord bot token: the middle part was left
        f"pat.{tok(22)}.{tok(24)}.{tok(20)}",  # Harness PAT: every segment was left
        f"pat{tok(14)}.{tok(64, '0123456789abcdef')}",  # Airtable PAT: the hex part was left
        f"{tok(10)}%2F{tok(12)}%3D{tok(24)}",  # percent-encoded
    ],
)
def test_dotted_and_percent_tokens_go_whole(secret: str) -> None:
    out = clean(f"RuntimeError: bot {secret} rejected (HTTP 401)")
    assert out.count("[REDACTED:") == 1 and _no_piece_survives(secret, out), out
    assert out.startswith("RuntimeError: bot [REDACTED:") and out.endswith(" rejected (HTTP 401)")


def test_a_secret_found_in_parts_becomes_one_marker() -> None:
    # Atlassian API tokens end in "=<8 hex>": the vendor rule stopped at the "=", and the
    # tail was left behind as a fragment
    token = f"ATATT3{tok(150, ALNUM + '-_')}={tok(8, '0123456789ABCDEF')}"
    out = clean(f"RuntimeError: jira rejected {token} (HTTP 401)")
    assert len(MARKER.findall(out)) == 1 and _no_piece_survives(token, out), out


def test_values_containing_password_are_literals() -> None:
    assert clean("password=CleartextPassword1") == "password=[REDACTED:password]"
    assert clean("password=db_password") == "password=db_password"  # code: a variable


@pytest.mark.parametrize(
    "text",
    [
        "            keyPressed = kVK_Return.u16",
        "- (id)hf_requiredCharacteristicTypesForDisplayMetadata;",
        "curl -u <user:password> https://test.com/endpoint",
        '   curl -sL --user "$1:$2" "$3" > "$4"',
        "ghp_" + "x" * 36,
        "AKIA" + "X" * 16,
        "key_vault_name = web21prqodx24021",
        "-----BEGIN PRIVATE " + "KEY-----\nanything\n-----END PRIVATE " + "KEY-----",
    ],
)
def test_code_identifiers_and_placeholders_are_kept(text: str) -> None:
    assert clean(text) == text


def test_argv_lists_as_called_process_error_prints_them() -> None:
    pw = tok(12)
    out = clean(f"Command '['mysql', '-uroot', '-p{pw}', 'crm']' returned non-zero exit status 1.")
    assert pw not in out and "'-uroot'" in out and "'crm'" in out
    pw = tok(12)
    out = clean(f"Command '['curl', '-u', 'admin:{pw}', 'https://x']' returned non-zero exit")
    assert pw not in out and "'admin:[REDACTED:password]'" in out


def test_a_url_with_its_scheme_colon_missing() -> None:
    pw = tok(12)
    out = clean(f"ArgumentError: Could not parse URL from string 'mysql+pymysql//root:{pw}@db/crm'")
    assert pw not in out and "//root:[REDACTED:url-credentials]@db/crm" in out


@pytest.mark.parametrize("key", ["pasword", "paswd", "passwrd"])
def test_misspelled_password_keys_in_printed_dicts(key: str) -> None:
    pw = "plumharbor" + tok(3, string.digits)
    out = clean(f"ValueError: bad config {{'user': 'app', '{key}': '{pw}', 'retries': 3}}")
    assert pw not in out and "'retries': 3" in out


@pytest.mark.parametrize(
    "text",
    [
        "KeyError: '{s}'",
        "RuntimeError: login failed for credential {s} (HTTP 401)",
        "invalid token: {s}",
    ],
)
def test_opaque_values_with_no_name(text: str) -> None:
    secret = tok(18, ALNUM + "-_")
    out = clean(text.format(s=secret))
    assert secret not in out


@pytest.mark.parametrize(
    "text",
    ["KeyError: 'customer_id'", "KeyError: 'model_v2_config'", "token count 5000 exceeds 4096"],
)
def test_names_and_numbers_with_no_name_are_kept(text: str) -> None:
    assert clean(text) == text


def test_known_secrets_as_one_string_is_one_secret() -> None:
    san = Sanitizer(use_environ=False)
    assert san.sanitize("x hunter2hunter2 y", "hunter2hunter2") == "x [REDACTED:secret] y"
    # a str used to be iterated per character: every one-letter "secret" was ignored
    assert san.sanitize("a b h", "hunter2hunter2") == "a b h"
    assert san.redact_values("hunter2hunter2!", "hunter2hunter2") == "[REDACTED:secret]!"


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_are_decoded_not_shown_as_a_repr(wrap: type) -> None:
    pw = tok(12)
    raw = f"password={pw} caf\u00e9 ".encode() + b"\xff"
    out = sanitize(wrap(raw))
    assert out == "password=[REDACTED:password] caf\u00e9 \ufffd"

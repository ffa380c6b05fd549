"""Secret names: whether a variable, field or header name looks like it holds a secret."""

from __future__ import annotations

import functools
import re

from .markers import _words

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
    "SHARD ROUTING JOIN DEDUP SEED MONKEY WEBSOCKET SOCKET IDEMPOTENT SCHEMA BUCKET ENTRY "
    "PARTITION CLUSTERING LICENSE_PLATE"
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
    "REQUIRE REQUIRES SHOW HIDE FORGOT RESET PUBLIC PUB CSRF XSRF AUTHENTICITY STORE TO FOR "
    "VALID INVALID"
)
_KEY_PREFIXES = tuple(
    sorted(
        _words(
            "API ACCESS SECRET PRIVATE AUTH SIGNING MASTER ENCRYPTION CRYPT LICENSE SERVICE "
            "ACCOUNT CLIENT DEPLOY WEBHOOK SESSION SHARED STORAGE ADMIN"
        )
    )
)
#: KEY followed by one of these is still the key (secret_key_base64, private_key_pem).
_KEY_FORMS = _words("BASE PEM DATA VALUE STRING BYTES SECRET PASSWORD PASS TOKEN RAW")
_MISSPELLED_PASSWORD = re.compile(r"PA?S{1,2}W(?:OR|RO|O|R)?D")
_EXACT_NOT_SECRET = frozenset({"PWD", "OLDPWD", "TOKENIZERS_PARALLELISM", "JPY_SESSION_NAME"})
_CONNECTION_URL = re.compile(
    r"(?:DATABASE|DB|POSTGRES(?:QL)?|PG|MYSQL|MARIADB|MONGO(?:DB)?|REDIS|AMQP|RABBITMQ|BROKER|"
    r"CELERY_BROKER|CELERY_RESULT_BACKEND|SQLALCHEMY_DATABASE|CACHE|ELASTICSEARCH|KAFKA|SMTP)"
    r"(?:_[A-Z0-9]+)*_(?:URL|URI|DSN)$"
)

#: What every secret name holds (a secret word, a misspelled password's "SW", a connection
#: URL's or string's ending): a name holding none is not one (``is_secret_name`` says so
#: below; ``tests/test_sanitize_judges2.py`` checks the two agree).
_MAYBE_SECRET = re.compile("PASS|PWD|SECRET|TOKEN|CRED|AUTH|KEY|SESS|COOKIE|DSN|SW|URL|URI|CONN")


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
    if upper in _EXACT_NOT_SECRET or _MAYBE_SECRET.search(upper) is None:
        return False  # (most values asked about hold no secret word: one search in C)
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
    if _MISSPELLED_PASSWORD.fullmatch(word):
        return True  # pasword, paswd, passwrd: printed dicts keep their authors' typos
    if word.startswith("SECRET") and not word.startswith("SECRETAR"):
        return True
    if word.endswith(("TOKEN", "SECRET")) and len(word) > 5:
        return True
    if word in ("KEY", "KEYS"):
        prev = words[i - 1] if i > 0 else ""
        # keyPressed, key_vault_name, validKeyChars: KEY names a secret only at the end of a
        # name (api_key, apiKey, key_2) or before a word that says which form it is in
        rest = [w for w in words[i + 1 :] if not w.isdigit() and w not in ("V", "B64", "HEX")]
        if rest and rest[0] not in _KEY_FORMS:
            return False
        return prev not in _KEY_QUALIFIERS_NOT_SECRET
    if word.endswith("KEY") and word.startswith(_KEY_PREFIXES):
        return True
    return word in ("SESSION", "SESSIONS") and i + 1 < len(words) and words[i + 1] in ("ID", "KEY")


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


@functools.lru_cache(maxsize=2048)
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

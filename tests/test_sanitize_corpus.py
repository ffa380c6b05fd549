"""The sanitizer corpus: fake secrets in realistic traceback / stderr / HTTP contexts, and
benign look-alikes that must come out unchanged.

Every token is built at test time from a seeded generator: realistic-looking tokens committed
as literals would trip secret scanners (and teach nobody anything). PEM armour lines are
assembled from pieces for the same reason.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from dataclasses import dataclass, field

import pytest

from nbworkflow.sanitize import Sanitizer, redaction_kinds, sanitize

RNG = random.Random(20241124)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def tok(n: int, alphabet: str = ALNUM) -> str:
    """A random token that is guaranteed to mix letters and digits (like real keys do)."""
    while True:
        value = "".join(RNG.choice(alphabet) for _ in range(n))
        if alphabet != HEX and not (
            any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
        ):
            continue
        return value


def word_password() -> str:
    """An opaque, low-entropy secret no pattern can recognise (only its value can)."""
    return RNG.choice(["plum", "otter", "cobalt", "meadow"]) + RNG.choice(
        ["harbor", "violet", "tundra", "saffron"]
    )


def pem(label: str) -> str:
    dashes = "-" * 5
    body = "\n".join(tok(64, B64) for _ in range(6)) + "\n" + tok(20, B64) + "=="
    return f"{dashes}BEGIN {label}{dashes}\n{body}\n{dashes}END {label}{dashes}"


def jwt() -> str:
    def seg(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    payload = {"sub": tok(12), "iat": RNG.randint(1_600_000_000, 1_800_000_000)}
    return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg(payload)}.{tok(43, URLSAFE)}"


TRACEBACK_HEAD = (
    "Traceback (most recent call last):\n"
    '  File "/opt/app/etl.py", line 42, in <module>\n'
    "    main()\n"
)


@dataclass
class Case:
    name: str
    text: str
    secrets: list[str]
    """Values that must not survive anywhere in the output."""
    kind: str | None = None
    """The expected marker kind, when the case pins one."""
    keep: list[str] = field(default_factory=list)
    """Context that must survive (exception type, line numbers, user names...)."""
    env: dict[str, str] = field(default_factory=dict)
    known: list[str] = field(default_factory=list)


def secret_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, text: str, secrets: list[str], kind: str | None, **kw: object) -> None:
        cases.append(Case(name, text, secrets, kind, **kw))  # type: ignore[arg-type]

    # -- vendor tokens -------------------------------------------------------------------------
    k = f"sk-ant-api03-{tok(93, URLSAFE)}AA"
    add(
        "anthropic-key",
        TRACEBACK_HEAD + f"anthropic.AuthenticationError: invalid x-api-key {k}",
        [k],
        "anthropic-key",
        keep=["anthropic.AuthenticationError", "line 42"],
    )
    k = f"sk-proj-{tok(48, URLSAFE)}T3BlbkFJ{tok(48, URLSAFE)}"
    add(
        "openai-project-key",
        f"openai.AuthenticationError: Error code: 401 - Incorrect API key provided: {k}.",
        [k],
        "openai-key",
        keep=["Error code: 401"],
    )
    k = f"sk-{tok(48)}"
    add("openai-legacy-key", f"OPENAI key={k!r} rejected", [k], None)
    k = "AKIA" + tok(16, UPPER_DIGITS)
    add(
        "aws-access-key",
        f"botocore.exceptions.ClientError: The AWS Access Key Id {k} does not exist",
        [k],
        "aws-access-key",
        keep=["botocore.exceptions.ClientError"],
    )
    k = tok(40, B64)
    add(
        "aws-secret-key",
        f"[default]\naws_access_key_id = ASIA{tok(16, UPPER_DIGITS)}\naws_secret_access_key = {k}\n",
        [k],
        "aws-secret-key",
    )
    k = tok(300, B64)
    add("aws-session-token", f"AWS_SESSION_TOKEN={k}\nAWS_REGION=eu-west-1", [k], None)
    k = f"ghp_{tok(36)}"
    add(
        "github-classic-token",
        f"fatal: could not read from https://{k}@github.com/org/repo.git",
        [k],
        None,
        keep=["github.com/org/repo.git"],
    )
    k = f"github_pat_{tok(22)}_{tok(59)}"
    add("github-fine-grained", f"GH_TOKEN used: {k}", [k], "github-token")
    k = f"glpat-{tok(20, URLSAFE)}"
    add("gitlab-token", f"gitlab.exceptions.GitlabAuthenticationError: 401 ({k})", [k], None)
    k = f"xoxb-{RNG.randint(10**10, 10**11)}-{RNG.randint(10**10, 10**11)}-{tok(24)}"
    add("slack-bot-token", f"slack_sdk.errors.SlackApiError: token {k} revoked", [k], "slack-token")
    k = f"https://hooks.slack.com/services/T{tok(8, UPPER_DIGITS)}/B{tok(8, UPPER_DIGITS)}/{tok(24)}"
    add("slack-webhook", f"POST {k} failed: 404", [k], "slack-webhook", keep=["failed: 404"])
    k = f"sk_live_{tok(24)}"
    add("stripe-live-key", f"stripe.error.AuthenticationError: Invalid API Key: {k}", [k], None)
    k = f"AIza{tok(35, URLSAFE)}"
    add(
        "google-api-key",
        f"googleapiclient.errors.HttpError: <HttpError 400 when requesting "
        f"https://www.googleapis.com/v1/x?key={k}&alt=json returned 'API key not valid'>",
        [k],
        None,
        keep=["HttpError 400", "alt=json"],
    )
    k = f"ya29.{tok(120, URLSAFE)}"
    add("google-oauth-token", f"credentials.token = {k!r}", [k], None)
    k = jwt()
    add("jwt", f"jose.exceptions.ExpiredSignatureError for {k}", [k], "jwt")
    k = f"hf_{tok(34)}"
    add(
        "huggingface-token",
        f"HfHubHTTPError: 401 Client Error (token {k})",
        [k],
        "huggingface-token",
    )
    k = f"npm_{tok(36)}"
    add("npm-token", f"//registry.npmjs.org/:_authToken={k}", [k], None)
    k = f"pypi-AgEIcHlwaS5vcmc{tok(70, URLSAFE)}"
    add("pypi-token", f"twine upload -p {k} dist/*", [k], None)
    k = f"SG.{tok(22, URLSAFE)}.{tok(43, URLSAFE)}"
    add(
        "sendgrid-key", f"python_http_client.exceptions.UnauthorizedError: {k}", [k], "sendgrid-key"
    )
    k = f"dop_v1_{tok(64, HEX)}"
    add("digitalocean-token", f"doctl auth init --access-token {k}", [k], None)
    k = f"dapi{tok(32, HEX)}"
    add("databricks-token", f"DATABRICKS_HOST=x DATABRICKS_TOKEN={k}", [k], None)
    k = f"{RNG.randint(10**8, 10**9)}:AA{tok(33, URLSAFE)}"
    add("telegram-bot-token", f"https://api.telegram.org/bot{k}/getMe -> 401", [k], None)
    k = f"https://discord.com/api/webhooks/{RNG.randint(10**17, 10**18)}/{tok(68, URLSAFE)}"
    add("discord-webhook", f"webhook {k} returned 401", [k], "discord-webhook")
    k = tok(88, B64) + "=="
    add(
        "azure-storage-key",
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="
        + k
        + ";EndpointSuffix=core.windows.net",
        [k],
        None,
        keep=["AccountName=acme"],
    )

    # -- connection strings and URLs -----------------------------------------------------------
    for scheme, port in [
        ("postgresql", 5432),
        ("mysql+pymysql", 3306),
        ("redis", 6379),
        ("mongodb+srv", 27017),
        ("amqp", 5672),
    ]:
        pw = tok(16)
        add(
            f"url-{scheme}",
            "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect "
            f'to "{scheme}://app_user:{pw}@db.internal:{port}/crm"\n'
            "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
            [pw],
            "url-credentials",
            keep=["app_user", f"db.internal:{port}/crm", "OperationalError", "sqlalche.me/e/20"],
        )
    pw = word_password()
    add(
        "url-basic-auth-word-password",
        f"requests.exceptions.ConnectionError: https://admin:{pw}@internal.example.com/api",
        [pw],
        "url-credentials",
    )
    pw = tok(14)
    add(
        "odbc-connection-string",
        f"pyodbc.Error: Driver=ODBC 18;Server=tcp:db,1433;Uid=sa;Pwd={pw};Encrypt=yes",
        [pw],
        None,
        keep=["Encrypt=yes", "Uid=sa"],
    )
    pw = tok(12)
    add(
        "libpq-keywords",
        f'psycopg.OperationalError: connection failed: "host=db user=app password={pw} dbname=x"',
        [pw],
        "password",
        keep=["dbname=x"],
    )

    # -- headers -------------------------------------------------------------------------------
    k = tok(40, URLSAFE)
    add(
        "authorization-bearer",
        f"> GET /v1/items HTTP/1.1\n> Authorization: Bearer {k}\n< HTTP/1.1 401 Unauthorized",
        [k],
        "bearer-token",
        keep=["HTTP/1.1 401 Unauthorized"],
    )
    creds = base64.b64encode(f"admin:{tok(12)}".encode()).decode()
    add(
        "authorization-basic",
        f"httpx.HTTPStatusError: 403 with headers {{'authorization': 'Basic {creds}'}}",
        [creds],
        "basic-auth",
    )
    k = tok(32)
    add(
        "x-api-key-header",
        f"request headers: {{'content-type': 'application/json', 'x-api-key': '{k}'}}",
        [k],
        None,
        keep=["application/json"],
    )
    sid, csrf = tok(32), tok(32)
    add(
        "cookie-header",
        f"> Cookie: sessionid={sid}; csrftoken={csrf}\n> Accept: */*",
        [sid, csrf],
        None,
        keep=["Accept: */*"],
    )
    sid = word_password() + "42"
    add(
        "cookie-header-opaque",
        f"curl -H 'Cookie: lang=en; sid={sid}' https://crm.example.com -> 302",
        [sid],
        "cookie",
        keep=["https://crm.example.com -> 302"],
    )
    sid = tok(40)
    add(
        "set-cookie-header",
        f"< Set-Cookie: session={sid}; Path=/; HttpOnly; Secure\n< Content-Length: 0",
        [sid],
        None,
        keep=["Content-Length: 0"],
    )

    # -- private keys --------------------------------------------------------------------------
    block = pem("RSA PRIVATE" + " KEY")
    body = block.splitlines()[1]
    add(
        "pem-rsa",
        f"ValueError: Could not deserialize key data:\n{block}\nduring handling",
        [body],
        "private-key",
        keep=["ValueError: Could not deserialize key data", "during handling"],
    )
    block = pem("OPENSSH PRIVATE" + " KEY")
    add(
        "pem-openssh", f"$ cat ~/.ssh/id_ed25519\n{block}\n", [block.splitlines()[2]], "private-key"
    )
    block = pem("PRIVATE" + " KEY")
    sa = json.dumps({"type": "service_account", "private_key": block + "\n"})
    add(
        "pem-in-json",
        f"google.auth.exceptions.MalformedError: {sa}",
        [block.splitlines()[3]],
        "private-key",
        keep=["service_account"],
    )

    # -- command lines -------------------------------------------------------------------------
    pw = tok(10)
    add(
        "mysql-short-p",
        f"subprocess.CalledProcessError: Command 'mysql -u root -p{pw} crm' returned 1.",
        [pw],
        "password",
        keep=["returned 1", "mysql -u root"],
    )
    pw = word_password()
    add(
        "cli-long-password",
        f"$ pg_dump --host db --password {pw} crm\npg_dump: error: connection failed",
        [pw],
        "password",
        keep=["pg_dump: error"],
    )
    pw = tok(11)
    add(
        "curl-user",
        f"curl: (22) The requested URL returned error: 401 (curl -u deploy:{pw} https://x)",
        [pw],
        "password",
    )
    pw = word_password()
    add(
        "sshpass",
        f"Command '['sshpass', '-p', '{pw}', 'ssh', 'host']' returned non-zero exit status 5.",
        [pw],
        None,
    )

    # -- name=value pairs ----------------------------------------------------------------------
    pw, k = word_password(), tok(40)
    add(
        "env-dump",
        f"PATH=/usr/bin\nDB_PASSWORD={pw}\nSTRIPE_SECRET={k}\nLANG=C.UTF-8",
        [pw, k],
        None,
        keep=["PATH=/usr/bin", "LANG=C.UTF-8"],
    )
    pw = word_password()
    add(
        "environ-repr",
        f"environ({{'HOME': '/opt/app', 'SMTP_PASSWORD': '{pw}', 'TZ': 'UTC'}})",
        [pw],
        "password",
        keep=["'TZ': 'UTC'"],
    )
    pw = word_password() + "9"
    add(
        "pydantic-input-value",
        "1 validation error for Settings\ndb_password\n"
        f"  String should have at least 12 characters [type=string_too_short, "
        f"input_value='{pw}', input_type=str]\n"
        "    For further information visit https://errors.pydantic.dev/2.9/v/string_too_short",
        [pw],
        "password",
        keep=["string_too_short", "at least 12 characters", "input_type=str"],
    )
    k = tok(35, URLSAFE)
    add(
        "json-client-secret",
        json.dumps({"error": "invalid_client", "client_id": "abc", "client_secret": k}),
        [k],
        "secret",
        keep=["invalid_client"],
    )
    pw = word_password()
    add("yaml-password-line", f"database:\n  host: db\n  password: {pw}\n", [pw], "password")
    k = tok(30)
    add(
        "query-access-token",
        f"HTTPError: 401 for url: https://graph.example.com/me?access_token={k}&fields=id",
        [k],
        None,
        keep=["fields=id", "HTTPError: 401"],
    )
    sig = tok(43, B64)
    add(
        "presigned-url-signature",
        f"403 Forbidden: https://acme.blob.core.windows.net/c/f.csv?sv=2022&sig={sig}&se=2030",
        [sig],
        None,
        keep=["403 Forbidden", "sv=2022"],
    )
    pw = word_password()
    add(
        "sql-identified-by",
        f"ProgrammingError: CREATE USER 'etl'@'%' IDENTIFIED BY '{pw}' failed",
        [pw],
        "password",
    )
    key = f"{tok(8, HEX)}-{tok(24, HEX)}"
    conn = json.dumps({"shell_port": 53794, "key": key, "signature_scheme": "hmac-sha256"})
    add(
        "jupyter-kernel-signing-key",
        f"RuntimeError: kernel died; connection info {conn}",
        [key],
        None,
        keep=["hmac-sha256", "53794"],
    )
    key = f"{tok(8, HEX)}-{tok(24, HEX)}"
    add(
        "jupyter-session-key-argv",
        f'ipykernel_launcher --Session.key=b"{key}" -f kernel-{tok(8, HEX)}.json exited',
        [key],
        "signing-key",
        keep=["ipykernel_launcher", "exited"],
    )
    k = tok(24)
    add(
        "python-kwarg-literal",
        TRACEBACK_HEAD + f'    client = Client(api_key="{k}", timeout=5)\nTypeError: boom',
        [k],
        "api-key",
        keep=["timeout=5", "TypeError: boom", "line 42"],
    )

    # -- entropy fallback and opaque values ----------------------------------------------------
    k = tok(48)
    add(
        "high-entropy-unknown-format",
        f"ERROR upstream rejected credential {k} (retrying in 2s)",
        [k],
        "high-entropy",
        keep=["retrying in 2s"],
    )
    pw = word_password()
    add(
        "opaque-env-value",
        f"psycopg.OperationalError: authentication failed for '{pw}'",
        [pw],
        "env:ACME_DB_PASSWORD",
        env={"ACME_DB_PASSWORD": pw},
        keep=["authentication failed"],
    )
    pw = word_password() + "!"
    add(
        "opaque-known-secret",
        f"ValueError: bad passphrase {pw} for wallet",
        [pw],
        "secret",
        known=[pw],
        keep=["for wallet"],
    )
    pw = word_password() + " & more"
    add(
        "known-secret-url-encoded",
        "GET https://x.example.com/login?pw=" + pw.replace(" ", "%20").replace("&", "%26"),
        [pw.replace(" ", "%20").replace("&", "%26")],
        "secret",
        known=[pw],
    )

    # -- home paths ----------------------------------------------------------------------------
    add(
        "home-linux",
        '  File "/home/jdoe/projects/crm/etl.py", line 17, in load\n',
        ["jdoe"],
        None,
        keep=['"~/projects/crm/etl.py", line 17, in load'],
    )
    add(
        "home-macos",
        "ModuleNotFoundError: /Users/jane.doe/Library/Caches/x.py",
        ["jane.doe"],
        None,
        keep=["~/Library/Caches/x.py"],
    )
    add(
        "home-windows",
        r'  File "C:\Users\JohnSmith\AppData\Local\app\etl.py", line 9',
        ["JohnSmith"],
        None,
        keep=[r"~\AppData\Local\app\etl.py", "line 9"],
    )
    return cases


BENIGN: list[tuple[str, str]] = [
    ("git-sha", f"HEAD is now at {tok(40, HEX)} fix: retry on 429"),
    ("short-sha", f"commit {tok(7, HEX)} (origin/main)"),
    (
        "uuid-request-id",
        f"request_id={tok(8, HEX)}-{tok(4, HEX)}-4{tok(3, HEX)}-a{tok(3, HEX)}-{tok(12, HEX)}",
    ),
    ("sha256-digest", f"Hash mismatch: expected sha256:{tok(64, HEX)}"),
    ("object-address", f"<crm.Client object at 0x7f{tok(10, HEX)}> is not callable"),
    ("keyerror-env-name", "KeyError: 'OPENAI_API_KEY'"),
    ("token-count", "Token count 18234 exceeds max_tokens=8192 (input_tokens=17000)"),
    ("placeholder-none", "connect(host='db', password=None, token=None)"),
    ("placeholder-env-ref", "api_key=${API_KEY} password=$DB_PASSWORD secret=<your-secret>"),
    ("password-rule-message", "ValueError: password must be 8 characters"),
    (
        "source-line-env-lookup",
        "    client = OpenAI(api_key=os.environ['OPENAI_API_KEY'])",
    ),
    ("source-line-attribute", "    token = self.token\n    key = cache_key(request)"),
    ("sort-key", "sorted(rows, key=len) -> sorted(rows, key=itemgetter(1))"),
    ("tokenizers-env", "TOKENIZERS_PARALLELISM=false\nPWD=/opt/app/work"),
    ("plain-url", "GET https://api.example.com:8443/v1/items?page=2&limit=50 -> 200"),
    (
        "site-packages-path",
        '  File "/usr/lib/python3.11/site-packages/httpx/_transports/default.py", line 69',
    ),
    ("long-identifier", "AttributeError: test_sanitize_keeps_long_identifier_names_intact"),
    ("anthropic-request-id", f"request-id: req_011C{tok(20)}"),
    ("ip-and-port", "ConnectionRefusedError: [Errno 111] Connect call failed ('10.0.0.12', 5432)"),
    ("prose-authorization", "Bearer token missing; authorization: required"),
    ("redacted-already", "password=*** token=[REDACTED:token] secret=<redacted>"),
    ("docker-digest", f"pulled image@sha256:{tok(64, HEX)}"),
    ("int-parse-error", "ValueError: invalid literal for int() with base 10: 'abc'"),
    (
        "anthropic-error-body",
        '{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
    ),
    ("not-a-home", "copied /srv/home/data/x.csv and ./home/readme.md"),
    ("timestamp", "2026-11-24T06:15:25.123456+00:00 WARNING retry 3/5 after 1.5s"),
    ("camel-case-class", "TypeError: HTTPAdapterConnectionPoolManagerFactory() got 2 args"),
    ("alphabet", "ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'"),
    ("typed-public-id", f"message msg_01{tok(22)} not found"),
    ("pygments-style", "    Token: '#dcdccc',"),
    ("websocket-header-name", "KeyError: 'Sec-WebSocket-Key' missing from upgrade request"),
    (
        "annotations",
        "    def f(authorization: Optional[str] = None, cookie: str | None = None):",
    ),
    ("code-style-kwargs", "    sorted(values, key=literal_sort_key); on_new_token = _touch"),
    ("numeric-constant", "TOKEN_ADJUST_PRIVILEGES = 0x00000020"),
    ("kernel-version", "Linux 5.10.81-android12-9-00001-geba40aecb3b7-ab8534902"),
    ("status-code-query", "GET /?code=304&reason=Foo -> 304 Not Modified"),
    ("env-var-name-constant", '_KEY_VAR = "OPENAI_API_KEY"'),
]


SECRET_CASES = secret_cases()
KINDS = set(redaction_kinds())


def test_corpus_is_big_enough() -> None:
    assert len(SECRET_CASES) >= 40
    assert len(BENIGN) >= 20
    assert len({c.name for c in SECRET_CASES}) == len(SECRET_CASES)


@pytest.mark.parametrize("case", SECRET_CASES, ids=lambda c: c.name)
def test_secret_is_removed(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    out = sanitize(case.text, case.known)
    for secret in case.secrets:
        assert secret not in out, f"{case.name}: {secret!r} survived in {out!r}"
    if case.kind is not None:
        assert f"[REDACTED:{case.kind}]" in out, out
    for context in case.keep:
        assert context in out, f"{case.name}: lost {context!r}: {out!r}"
    assert sanitize(out, case.known) == out  # idempotent on realistic input too
    for kind in re.findall(r"\[REDACTED:([^\]]+)\]", out):
        assert kind in KINDS or kind.startswith("env:"), kind  # documented kinds only


@pytest.mark.parametrize(("name", "text"), BENIGN, ids=[n for n, _ in BENIGN])
def test_benign_lookalike_survives(name: str, text: str) -> None:
    assert sanitize(text) == text


def test_whole_corpus_in_one_text() -> None:
    """Secrets next to each other and next to benign text: nothing leaks, benign stays."""
    san = Sanitizer(use_environ=False)
    pieces = [c.text for c in SECRET_CASES if not c.env] + [t for _, t in BENIGN]
    RNG.shuffle(pieces)
    text = "\n".join(pieces)
    known = [k for c in SECRET_CASES for k in c.known]
    out = san.sanitize(text, known)
    for case in SECRET_CASES:
        if case.env:
            continue
        for secret in case.secrets:
            assert secret not in out, (case.name, secret)
    for name, benign in BENIGN:
        assert benign in out, name
    assert san.sanitize(out, known) == out

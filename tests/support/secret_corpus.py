"""The public secrets corpus (tests/data/secrets-public), embedded and scored as its README says.

Each secret goes into ten contexts where it would leak from Python code; a case counts as removed
when no 8-character substring of the secret *as embedded* survives. Each benign string must come
out byte-identical. Shared by tests/test_sanitize_public.py and bench/sanitize.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DATA = Path(__file__).resolve().parents[1] / "data" / "secrets-public"


@dataclass(frozen=True)
class Case:
    secret_id: int
    family: str
    context: str
    text: str
    embedded: str
    """The secret as it appears in ``text`` (percent-encoded in URL contexts)."""


def load(name: str) -> list[dict[str, object]]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _ident(family: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", family.lower()).strip("_")


def contexts(secret: str, family: str) -> list[tuple[str, str, str]]:
    """(context name, text, embedded secret) for the ten contexts of the README."""
    url = quote(secret, safe="")
    body = json.dumps({"model": "x", "api_key": secret})
    ident = _ident(family)
    return [
        (
            "requests-url",
            "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.example.com', "
            f"port=443): Max retries exceeded with url: /v1/items?api_key={url}&page=2 "
            "(Caused by NewConnectionError('Failed to establish a new connection'))",
            url,
        ),
        (
            "git-clone",
            f"subprocess.CalledProcessError: Command 'git clone https://deploy:{url}@git.example"
            ".com/org/repo.git' returned non-zero exit status 128.",
            url,
        ),
        ("keyerror", f"Traceback (most recent call last):\n  ...\nKeyError: '{secret}'", secret),
        ("env-dump", f"HOME=/home/app\nSOME_VENDOR_API_KEY={secret}\nLANG=C.UTF-8", secret),
        (
            "json-body",
            f"httpx.HTTPStatusError: 401 Unauthorized; request body: {body}",
            json.dumps(secret)[1:-1],
        ),
        ("header", f"> POST /v1/run HTTP/1.1\n> X-Api-Key: {secret}\n> Accept: */*", secret),
        ("bare-message", f"RuntimeError: login failed for credential {secret} (HTTP 401)", secret),
        (
            "kwarg",
            '  File "/opt/app/client.py", line 12, in <module>\n'
            f'    client = Client(api_key="{secret}", timeout=30)',
            secret,
        ),
        (
            "printed-dict",
            f"ValueError: bad config {{'user': 'app', '{ident}_key': '{secret}', 'retries': 3}}",
            secret,
        ),
        ("scanner-line", f'{ident}_api_token = "{secret}"', secret),
    ]


def secret_cases() -> list[Case]:
    out = []
    for row in load("secrets.jsonl"):
        secret, family = str(row["secret"]), str(row["family"])
        for name, text, embedded in contexts(secret, family):
            out.append(Case(int(str(row["id"])), family, name, text, embedded))
    return out


def benign_texts() -> list[str]:
    return [str(row["text"]) for row in load("benign.jsonl")]


def survives(case: Case, out: str) -> bool:
    """Whether any 8-character piece of the embedded secret is still in ``out``."""
    s = case.embedded
    if len(s) <= 8:
        return s in out
    return any(s[i : i + 8] in out for i in range(len(s) - 7))


@dataclass
class Score:
    removed: int
    cases: int
    benign_same: int
    benign: int
    by_context: dict[str, tuple[int, int]]
    missed: list[Case]
    changed: list[str]

    @property
    def recall(self) -> float:
        return self.removed / self.cases

    @property
    def benign_rate(self) -> float:
        return self.benign_same / self.benign


def score(redact: Callable[[str], str]) -> Score:
    cases = secret_cases()
    by_context: dict[str, list[int]] = {}
    missed = []
    for case in cases:
        gone = not survives(case, redact(case.text))
        tally = by_context.setdefault(case.context, [0, 0])
        tally[0] += gone
        tally[1] += 1
        if not gone:
            missed.append(case)
    benign = benign_texts()
    changed = [t for t in benign if redact(t) != t]
    return Score(
        removed=len(cases) - len(missed),
        cases=len(cases),
        benign_same=len(benign) - len(changed),
        benign=len(benign),
        by_context={k: (v[0], v[1]) for k, v in by_context.items()},
        missed=missed,
        changed=changed,
    )

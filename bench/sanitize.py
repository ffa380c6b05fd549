"""Sanitizer throughput on a realistic ~100 KB mix of tracebacks, stderr and HTTP error bodies.

Run: python bench/sanitize.py

Prints MB/s for ``nbworkflow.sanitize`` and, measured in the same run over the same text, for a
plain single ``re.sub`` pass (one precompiled pattern, the cheapest redaction anyone could write),
and the ratio between the two. The mix is generated from a seeded ``random.Random`` so every run
measures the same text; about one line in forty carries a (fake) credential.
"""

from __future__ import annotations

import random
import re
import statistics
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nbworkflow.sanitize import sanitize

ALNUM = string.ascii_letters + string.digits
TARGET = 100_000


def _tok(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _traceback(rng: random.Random) -> str:
    user = rng.choice(["alice", "bob", "dev", "jovyan"])
    frames = []
    for _ in range(rng.randint(3, 9)):
        mod = rng.choice(["httpx/_client", "sqlalchemy/engine/base", "requests/adapters", "etl"])
        frames.append(
            f'  File "/home/{user}/.venv/lib/python3.11/site-packages/{mod}.py", '
            f"line {rng.randint(10, 2000)}, in {rng.choice(['send', 'execute', 'run', '_call'])}\n"
            f"    result = self._{rng.choice(['send', 'execute'])}(request, timeout=timeout)\n"
        )
    last = rng.choice(
        [
            f"KeyError: '{rng.choice(['OPENAI_API_KEY', 'customer_id', 'rows'])}'",
            "ValueError: password must be 8 characters",
            f"httpx.HTTPStatusError: Client error '404 Not Found' for url "
            f"'https://api.example.com/v1/items/{rng.randint(1, 9999)}'",
            f"TypeError: unsupported operand type(s) for +: 'int' and 'str' "
            f"(object at 0x7f{_tok(rng, 10, '0123456789abcdef')})",
            f"AssertionError: expected 200 rows, got {rng.randint(0, 199)}",
        ]
    )
    return "Traceback (most recent call last):\n" + "".join(frames) + last + "\n"


def _secret_line(rng: random.Random) -> str:
    return rng.choice(
        [
            f"sqlalchemy.exc.OperationalError: could not connect to "
            f"postgresql://app:{_tok(rng, 14)}@db.internal:5432/crm\n",
            f"openai.AuthenticationError: Incorrect API key provided: sk-proj-{_tok(rng, 48)}\n",
            f"DEBUG send headers={{'Authorization': 'Bearer {_tok(rng, 40)}'}}\n",
            f"AWS_SECRET_ACCESS_KEY={_tok(rng, 40, ALNUM + '/+')}\n",
            f"botocore: credential AKIA{_tok(rng, 16, string.ascii_uppercase + string.digits)}\n",
            f"token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.{_tok(rng, 43)}\n",
        ]
    )


def _noise(rng: random.Random) -> str:
    return rng.choice(
        [
            f"INFO  {time.strftime('%H:%M:%S')} fetched {rng.randint(1, 500)} rows in "
            f"{rng.random():.3f}s request_id={_tok(rng, 8, '0123456789abcdef')}-"
            f"{_tok(rng, 4, '0123456789abcdef')}-4{_tok(rng, 3, '0123456789abcdef')}\n",
            f"WARNING token count {rng.randint(100, 9000)} exceeds budget; max_tokens=4096\n",
            f"commit {_tok(rng, 40, '0123456789abcdef')} on branch main\n",
            '{"error": {"type": "invalid_request_error", "message": "messages: field required"}}\n',
            f"  warnings.warn(msg, DeprecationWarning, stacklevel={rng.randint(1, 3)})\n",
        ]
    )


def build_mix(seed: int = 2024, size: int = TARGET) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        chunk = _traceback(rng) if roll < 0.25 else _secret_line(rng) if roll < 0.3 else _noise(rng)
        parts.append(chunk)
        total += len(chunk)
    return "".join(parts)[:size]


def _best_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    text = build_mix()
    mb = len(text.encode()) / 1e6
    # the plain baseline: one precompiled pattern, one re.sub pass (what the seed did, roughly)
    plain = re.compile(r"sk-[A-Za-z0-9_-]{20,}")
    # a naive "all in one regex" sanitizer, for scale: a handful of formats in one alternation
    naive = re.compile(
        r"sk-[A-Za-z0-9_-]{20,}|AKIA[A-Z0-9]{16}|eyJ[\w-]+\.[\w-]+\.[\w-]+"
        r"|(?i:password|token|secret)=\S+|://[^\s:@/]+:[^\s@/]+@"
    )
    sanitize(text)  # warm the environment cache and the rule cache
    repeat = 50
    plain_best, plain_med = _best_seconds(lambda: plain.sub("[REDACTED]", text), repeat)
    naive_best, naive_med = _best_seconds(lambda: naive.sub("[REDACTED]", text), repeat)
    san_best, san_med = _best_seconds(lambda: sanitize(text), repeat)
    out = sanitize(text)
    print(f"input: {len(text):,} chars ({mb:.2f} MB), {out.count('[REDACTED:'):,} redactions")
    print(
        f"plain re.sub (1 pattern)  : {mb / plain_med:8.1f} MB/s  median {plain_med * 1e3:6.2f} ms"
    )
    print(
        f"naive re.sub (5 patterns) : {mb / naive_med:8.1f} MB/s  median {naive_med * 1e3:6.2f} ms"
    )
    print(f"nbworkflow sanitize       : {mb / san_med:8.1f} MB/s  median {san_med * 1e3:6.2f} ms")
    print(
        f"ratio: sanitize takes {san_med / plain_med:.0f}x the plain re.sub pass and "
        f"{san_med / naive_med:.1f}x the naive alternation (best of {repeat}: "
        f"{san_best * 1e3:.2f} ms vs {plain_best * 1e3:.2f} / {naive_best * 1e3:.2f} ms)"
    )


if __name__ == "__main__":
    main()

"""The one redactor every error passes through before it reaches the model, a log or a screen.

``sanitize(text)`` removes credentials from free text (tracebacks, stderr, HTTP error bodies,
config dumps) and replaces each with a marker that says what was there::

    postgres://app:[REDACTED:url-credentials]@db:5432/crm
    Authorization: Bearer [REDACTED:bearer-token]
    ~/project/etl.py, line 12

Layers (modules of this package; every layer reports spans over the same text, see ``engine``):

1. exact values (``environment``): registered secrets, ``known_secrets=`` and the values of the
   current process's secret-looking environment variables (``names.is_secret_name``); the only
   way to catch opaque secrets;
2. user patterns added with ``add_pattern``;
3. PEM private key blocks and vendor token formats (``vendors``: Anthropic, OpenAI, AWS, GitHub,
   Slack, Stripe, Google, JWT, ...) and, in the same scan over long tokens, the entropy fallback
   for random-looking ones (``entropy``: hex digests, UUIDs, identifiers and paths survive);
4. structural rules (``structural``): credentials in URLs, Authorization / Cookie headers,
   ``name=value`` pairs whose name looks secret (text, JSON, dict reprs, env dumps, query
   strings, YAML), command-line arguments and argv lists, pydantic ``input_value=`` echoes, SQL;
5. home directories replaced by ``~`` (``home``, before the others).

Overlapping findings merge, so a secret is replaced whole. Redaction runs to a fixed point, so
``sanitize(sanitize(x)) == sanitize(x)``; markers never match any rule. Exception types,
messages, file names, line numbers and placeholders (``password=None``, ``${API_KEY}``,
``KeyError: 'OPENAI_API_KEY'``) survive. ``max_chars`` keeps the head and the tail (where the
exception line is) and says how much was cut. The cost is linear in the input whatever it holds
(``engine``'s docstring says why; ``bench/sanitize.py`` measures it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .names import is_secret_name
from .registry import _KINDS, Sanitizer
from .truncate import truncate_middle

__all__ = [
    "Sanitizer",
    "add_pattern",
    "is_secret_name",
    "main",
    "redact_values",
    "redaction_kinds",
    "register_secret",
    "sanitize",
    "truncate_middle",
    "value_redactor",
]

_DEFAULT = Sanitizer()


def register_secret(value: str, kind: str = "secret") -> None:
    """Redact this exact value in every later ``sanitize`` call of this process."""
    _DEFAULT.register_secret(value, kind)


def add_pattern(name: str, pattern: str | re.Pattern[str]) -> None:
    """Redact every match of ``pattern`` as ``[REDACTED:<name>]`` in every later ``sanitize``."""
    _DEFAULT.add_pattern(name, pattern)


def value_redactor(known_secrets: Iterable[str] | str = ()) -> Callable[[str], str] | None:
    """``redact_values`` bound to the secrets known now (None: nothing to remove)."""
    return _DEFAULT.value_redactor(known_secrets)


def redact_values(text: str, known_secrets: Iterable[str] | str = ()) -> str:
    """Remove only exact secret values (``known_secrets``, registered, environment) from
    ``text``, leaving everything else as written; see ``Sanitizer.redact_values``."""
    return _DEFAULT.redact_values(text, known_secrets)


def sanitize(
    text: str | bytes | bytearray | memoryview,
    known_secrets: Iterable[str] | str = (),
    *,
    max_chars: int | None = None,
) -> str:
    """Redact credentials from ``text``; optionally keep only ``max_chars`` (head and tail).

    ``known_secrets`` are exact values to remove (the only way to catch opaque secrets): one
    string or several; the values of the current environment's secret-looking variables and
    everything registered with ``register_secret`` are removed too. Bytes are decoded as UTF-8
    (bad bytes replaced).
    """
    return _DEFAULT.sanitize(text, known_secrets, max_chars=max_chars)


def redaction_kinds() -> list[str]:
    """The marker kinds the built-in layers produce (``[REDACTED:<kind>]``), plus the names of
    patterns added with ``add_pattern``."""
    return list(dict.fromkeys([*_KINDS, *(r.kind for r in _DEFAULT._patterns)]))

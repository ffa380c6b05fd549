"""``Sanitizer``: registered secrets and patterns, the rule plan, and the public calls."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable

from .engine import MAX_SCAN_CHARS, Splitter, _marker_splitter, _Rule, redact
from .environment import _env_secrets, _exact_rule, _usable, _variants
from .home import _home_rules, _home_value_rule
from .markers import _KIND_RE, _MARKER_RE, _MAX_PASSES, _MIN_KNOWN_SECRET, _group, _marker, _whole
from .names import _KIND_BY_WORD
from .structural import _structural_rules
from .truncate import truncate_middle
from .vendors import _PEM_RULE, _VENDOR_ANCHORED, _VENDOR_INNER, _VENDOR_TOKENS, _vendor_rules

_HOME_RULES = _home_rules()

_KINDS = (
    "secret",
    "env:<VARNAME>",
    "private-key",
    *dict.fromkeys(kind for kind, _, _ in _VENDOR_TOKENS),
    *dict.fromkeys(kind for kind, _, _ in _VENDOR_ANCHORED),
    *dict.fromkeys(kind for kind, _, _, _ in _VENDOR_INNER),
    "dropbox-token",
    "telegram-bot-token",
    "azure-key",
    "url-credentials",
    "teams-webhook",
    "authorization",
    "bearer-token",
    "basic-auth",
    "cookie",
    *dict.fromkeys(kind for _, _, kind in _KIND_BY_WORD),
    "credential",
    "high-entropy",
)


_BUILTIN_RULES: list[_Rule] = [_PEM_RULE, *_vendor_rules(), *_structural_rules()]


class Sanitizer:
    """A redactor with its own registered secrets and extra patterns.

    The module-level ``sanitize`` uses a default instance that ``register_secret`` and
    ``add_pattern`` extend; build your own for isolation (tests, several tenants).
    """

    def __init__(
        self,
        secrets: Iterable[str] | str = (),
        patterns: Iterable[tuple[str, str | re.Pattern[str]]] = (),
        *,
        use_environ: bool = True,
    ) -> None:
        self.use_environ = use_environ
        self._secrets: dict[str, str] = {}
        self._patterns: list[_Rule] = []
        self._lock = threading.Lock()
        self._cache: _Plan | None = None
        """Last plan and its inputs; ``_secrets`` and ``_patterns`` are replaced, never
        mutated, so their identities say whether they changed."""
        for value in _as_values(secrets):
            self.register_secret(value)
        for name, pattern in patterns:
            self.add_pattern(name, pattern)

    def register_secret(self, value: str, kind: str = "secret") -> None:
        """Redact this exact value (and its URL-/JSON-escaped forms) wherever it appears.
        Values shorter than 4 characters or trivially common ("true", "none") are ignored."""
        _check_kind(kind)
        if not isinstance(value, str) or not _usable(value, _MIN_KNOWN_SECRET):
            return
        with self._lock:  # copy on write: a concurrent sanitize iterates the old dict
            secrets = dict(self._secrets)
            for variant in _variants(value.strip()):
                secrets.setdefault(variant, kind)
            self._secrets = secrets

    def add_pattern(self, name: str, pattern: str | re.Pattern[str]) -> None:
        """Redact every match of ``pattern`` as ``[REDACTED:<name>]``. If the pattern has a
        group named ``secret`` only that group is replaced (keep the context, drop the value).
        Your pattern runs as written: keep its repeats bounded (``{1,64}``, not ``+``) so a
        long line cannot make it slow."""
        _check_kind(name)
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        if regex.match(""):
            # (markers are safe: no rule ever sees the inside of a marker)
            raise ValueError(
                f"pattern {regex.pattern!r} matches the empty string; make it more specific"
            )
        repl = _group(name, "secret") if "secret" in regex.groupindex else _whole(name)
        with self._lock:
            self._patterns = [*self._patterns, _Rule(name, regex, repl, scans_text=False)]

    def rules(self, known_secrets: Iterable[str] | str = ()) -> list[_Rule]:
        """The rules one call runs, in order (home-path rules first)."""
        plan = self._plan(known_secrets)
        return [*plan.prepass, *plan.rules]

    def _plan(self, known_secrets: Iterable[str] | str) -> _Plan:
        """The rules and the trusted-marker splitter for one call. Cached: the engine calls
        ``sanitize`` for every event field with the same secrets, so they are rebuilt only
        when an input changes."""
        known = tuple(_as_values(known_secrets))
        env = _env_secrets() if self.use_environ else ()
        # HOME, not expanduser("~") (which costs more than the rest of this lookup): the
        # rules are rebuilt, and read the home folder afresh, whenever HOME changes.
        key = (known, env, id(self._secrets), id(self._patterns), os.environ.get("HOME"))
        cached = self._cache
        if cached is not None and cached.key == key:
            return cached
        exact = self._exact_rules(known, env)
        home = _home_value_rule()
        prepass = [*_HOME_RULES, *([home] if home is not None else [])]
        rules = [*exact, *self._patterns, *_BUILTIN_RULES]
        kinds = frozenset(k for k in (*_KINDS, *(r.kind for r in rules)) if "<" not in k)
        plan = _Plan(key, prepass, rules, _marker_splitter(kinds), exact)
        self._cache = plan
        return plan

    def _exact_rules(
        self, known_secrets: tuple[str, ...], env: tuple[tuple[str, str], ...]
    ) -> list[_Rule]:
        values: dict[str, str] = {}
        for value in known_secrets:
            if _usable(value, _MIN_KNOWN_SECRET):
                for variant in _variants(value.strip()):
                    values.setdefault(variant, "secret")
        for value, kind in self._secrets.items():
            values.setdefault(value, kind)
        for value, kind in env:
            values.setdefault(value, kind)
        # longest first: when one value contains another, the longer one names the span
        return [_exact_rule(v, k) for v, k in sorted(values.items(), key=lambda vk: -len(vk[0]))]

    def redact_values(self, text: str, known_secrets: Iterable[str] | str = ()) -> str:
        """Only the exact-value layer: ``known_secrets``, registered secrets and the values of
        secret-looking environment variables. For text that must otherwise reach the model as
        written (a node's task, persona and inputs): no pattern or heuristic touches it."""
        redact_ = self.value_redactor(known_secrets)
        text = as_text(text)
        return redact_(text) if redact_ is not None else text

    def value_redactor(
        self, known_secrets: Iterable[str] | str = ()
    ) -> Callable[[str], str] | None:
        """``redact_values`` for many texts in a row, with the secrets known now; None when
        there is no secret value to remove (the common case: nothing to do at all)."""
        plan = self._plan(known_secrets)
        if not plan.exact:
            return None
        exact, split = plan.exact, plan.split
        return lambda text: redact(as_text(text), exact, split)

    def sanitize(
        self,
        text: str | bytes | bytearray | memoryview,
        known_secrets: Iterable[str] | str = (),
        *,
        max_chars: int | None = None,
    ) -> str:
        """Redact ``text``; see the package docstring for the layers. Bytes are decoded as
        UTF-8 with replacement characters; a ``str`` of known secrets is one secret."""
        text = as_text(text)
        plan = self._plan(known_secrets)
        if len(text) > MAX_SCAN_CHARS:
            text = truncate_middle(text, MAX_SCAN_CHARS)
        out = redact(text, plan.rules, plan.split, plan.prepass)
        if max_chars is None or len(out) <= max_chars:
            return out
        # A cut can make a new token out of a longer one (and a new marker can make the text
        # longer again): repeat until redaction leaves the truncated text alone.
        for _ in range(_MAX_PASSES):
            cut = truncate_middle(out, max_chars)
            out = redact(cut, plan.rules, plan.split, plan.prepass)
            if out == cut:
                return out
        return ""


class _Plan:
    __slots__ = ("exact", "key", "prepass", "rules", "split")

    def __init__(
        self,
        key: tuple[object, ...],
        prepass: list[_Rule],
        rules: list[_Rule],
        split: Splitter,
        exact: list[_Rule],
    ) -> None:
        self.key = key
        self.prepass = prepass
        self.rules = rules
        self.split = split
        self.exact = exact


def as_text(text: object) -> str:
    """Bytes-like input decoded (UTF-8, bad bytes replaced), never shown as its repr."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes | bytearray | memoryview):
        return bytes(text).decode("utf-8", errors="replace")
    return str(text)


def _as_values(secrets: Iterable[str] | str | None) -> list[str]:
    """Known secrets as a list: one ``str`` is one secret (never its characters)."""
    if secrets is None:
        return []
    if isinstance(secrets, str | bytes | bytearray | memoryview):
        return [as_text(secrets)]
    return [as_text(s) for s in secrets if isinstance(s, str | bytes | bytearray)]


def _check_kind(kind: str) -> None:
    if not (_KIND_RE.fullmatch(kind) or kind.startswith("env:")) or not _MARKER_RE.fullmatch(
        _marker(kind)
    ):
        raise ValueError(f"redaction kind {kind!r} must match [a-z0-9][a-z0-9_.-]*")

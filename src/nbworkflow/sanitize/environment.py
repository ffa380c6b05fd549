"""Exact values: known secrets, their encoded forms and the environment's secret values."""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any
from urllib.parse import quote

from .engine import _Rule
from .markers import (
    _MIN_ENV_SECRET,
    _MIN_KNOWN_SECRET,
    _TRIVIAL_VALUES,
    MARKER_PREFIX,
    _marker,
)
from .names import is_secret_name

# ---------------------------------------------------------------------------------------------
# Exact values
# ---------------------------------------------------------------------------------------------


def _variants(value: str) -> list[str]:
    """The value as it may appear in text: verbatim, URL-encoded, JSON-escaped, repr-escaped."""
    out = [value]
    for variant in (quote(value, safe=""), json.dumps(value)[1:-1], repr(value)[1:-1]):
        if variant != value:
            out.append(variant)
    return out


def _usable(value: str, min_len: int) -> bool:
    stripped = value.strip()
    if len(stripped) < min_len or MARKER_PREFIX in value:
        return False
    low = stripped.lower()
    if low in _TRIVIAL_VALUES:
        return False
    return not (stripped.isdigit() and len(stripped) < 8)


def _looks_like_path(value: str) -> bool:
    if "@" in value or "://" in value:
        return False
    return value.startswith(("/", "~", "./")) or re.match(r"[A-Za-z]:[\\/]", value) is not None


_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^@\s/]+)@")
_env_lock = threading.Lock()
_env_cache: tuple[dict[Any, Any], tuple[tuple[str, str], ...]] = ({}, ())


def _environ_raw() -> dict[Any, Any]:
    """The environment as CPython keeps it (``os.environ._data``, undecoded): comparing it with
    a saved copy is one C-level dict comparison, not 2 decodes per variable."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _env_secrets() -> tuple[tuple[str, str], ...]:
    """(value, kind) for the current environment's secret-looking variables; recomputed only
    when the environment changes (a dict comparison, about a microsecond)."""
    global _env_cache
    raw = _environ_raw()
    cached_raw, cached = _env_cache
    if raw == cached_raw:
        return cached
    snapshot = dict(raw)
    found: list[tuple[str, str]] = []
    for name, value in os.environ.items():
        if not is_secret_name(name) or not _usable(value, _MIN_ENV_SECRET):
            continue
        value = value.strip()
        if _looks_like_path(value):
            continue
        if "://" in value:
            # DATABASE_URL & co: the password is the secret; host and database name stay
            # readable (and a URL without credentials holds no secret at all)
            userinfo = _URL_PASSWORD.match(value)
            if userinfo is None or not _usable(userinfo.group(1), _MIN_KNOWN_SECRET):
                continue
            value = userinfo.group(1)
        kind = "env:" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        found.extend((variant, kind) for variant in _variants(value))
    result = tuple(found)
    with _env_lock:
        _env_cache = (snapshot, result)
    return result


def _exact_rule(value: str, kind: str) -> _Rule:
    marker = _marker(kind)
    return _Rule(
        kind,
        re.compile(re.escape(value)),
        lambda m: marker,
        case_sensitive_triggers=(value,),
        literal=value,
    )

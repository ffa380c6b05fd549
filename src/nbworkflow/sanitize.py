"""The one redactor every error passes through before it reaches the model, a log or a screen.

PLACEHOLDER: the sanitizer issue replaces this body; the signature is the contract.
"""

from __future__ import annotations

from collections.abc import Iterable


def sanitize(text: str, known_secrets: Iterable[str] = (), *, max_chars: int | None = None) -> str:
    out = text
    for secret in known_secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, "[REDACTED:secret]")
    if max_chars is not None and len(out) > max_chars:
        half = max_chars // 2
        out = out[:half] + "\n[... truncated ...]\n" + out[-half:]
    return out


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(w in upper for w in ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"))

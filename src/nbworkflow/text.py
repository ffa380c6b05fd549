"""Text helpers every layer shares (one of each: the model prompt, the log and the views cut
text the same way)."""

from __future__ import annotations


def clip(text: str, limit: int, *, middle: bool = False, marker: str = "…") -> str:
    """``text`` within ``limit`` characters: cut at the end (``marker``), or with
    ``middle=True`` keep its head and tail (where errors and tracebacks say the most)."""
    if len(text) <= limit:
        return text
    if middle:
        half = limit // 2
        return text[:half] + "\n[... truncated ...]\n" + text[-half:]
    return text[: max(limit - len(marker), 0)] + marker


__all__ = ["clip"]

"""The rewrite prompt: the one contract between the adaptive node and whoever answers it.

``SECTIONS`` names the prompt's Markdown headings and fixed lines. The adaptive node builds the
prompt from them (``build_prompt``) and deterministic responders (``staging.repair``) find the
parts they read through the same constant, so the two cannot drift apart silently.

Every part that holds text from outside (errors, staging bodies, code, samples, a reviewer's
note) is passed through the run's sanitizer here, once, as the prompt's last step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...text import clip

MAX_ERROR_CHARS = 6000
"""Longest error text (sanitized) that goes to the model and the log."""


@dataclass(frozen=True, slots=True)
class Sections:
    task: str = "# Task"
    what_happened: str = "# What happened"
    entrypoint: str = "Entrypoint:"
    note: str = "# Note from a human reviewer"
    sample: str = "# Sample input"
    code: str = "# Current code"

    def code_block(self) -> re.Pattern[str]:
        """Finds the current code (group 1) in a prompt."""
        return re.compile(re.escape(self.code) + r"\s*\n```python\s*\n(.*?)\n```", re.S)

    def entrypoint_name(self) -> re.Pattern[str]:
        """Finds the entrypoint's name (group 1) in a prompt."""
        return re.compile(re.escape(self.entrypoint) + r" `([A-Za-z_]\w*)`")


SECTIONS = Sections()
"""The headings of every rewrite prompt."""


@dataclass(frozen=True, slots=True)
class PromptInput:
    """Everything one rewrite prompt says."""

    action: str
    attempt: int
    reason: str
    error: str
    entrypoint: str | None
    code: str
    samples: Sequence[Any]
    sample: int | None
    endpoint: str | None
    """``METHOD /path`` of the staging target (``None``: no staging)."""
    has_tests: bool
    note: str = ""


def build_prompt(p: PromptInput, sanitize: Callable[[str], str]) -> str:
    """The rewrite prompt, passed through ``sanitize`` as a whole."""
    s = SECTIONS
    ep = p.entrypoint or "the code"
    parts = [
        f"{s.task}\n{p.action.strip()}",
        f"{s.what_happened}\nAttempt {p.attempt} failed: {p.reason}.\n{s.entrypoint} `{ep}`",
        clip(p.error, MAX_ERROR_CHARS, middle=True),
    ]
    if p.note:
        parts.append(f"{s.note}\n{p.note}")
    if p.samples:
        shown = p.sample if p.sample is not None else 0
        shown = shown if 0 <= shown < len(p.samples) else 0
        parts.append(
            f"{s.sample} {shown}\n```json\n"
            f"{json.dumps(p.samples[shown], indent=2, ensure_ascii=False, default=str)}\n```"
        )
    parts.append(f"{s.code}\n```python\n{p.code}\n```")
    where = f"returns a payload that {p.endpoint} accepts" if p.endpoint else "runs"
    parts.append(
        f"Rewrite the complete code so that `{ep}(sample)` {where}"
        + (" and the tests pass" if p.has_tests else "")
        + f". Keep the function name `{ep}`. The code runs in a sandbox without network "
        "access: return the payload, do not send it. Answer with `code` (complete Python "
        "source) and a short `rationale` (what changed and why)."
    )
    return sanitize("\n\n".join(part for part in parts if part))


__all__ = ["MAX_ERROR_CHARS", "SECTIONS", "PromptInput", "Sections", "build_prompt"]

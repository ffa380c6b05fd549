"""Where the adaptive loop is (``LoopState``), and why an attempt did not count (``Failure``)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ...approval import HumanDecision
from .record import LastFailure, WaitPoint

MAX_DIFF_CHARS = 6000


def diff_code(prev: str | None, code: str, attempt: int) -> str:
    if prev is None:
        return ""
    lines = difflib.unified_diff(
        prev.splitlines(),
        code.splitlines(),
        f"attempt{attempt - 1}",
        f"attempt{attempt}",
        lineterm="",
    )
    text = "\n".join(lines)
    return (
        text
        if len(text) <= MAX_DIFF_CHARS
        else text[:MAX_DIFF_CHARS] + "\n[... diff truncated ...]"
    )


@dataclass
class LoopState:
    """Where the loop is: the code of the current attempt and what led to it."""

    code: str
    rationale: str
    limit: int
    """Model rewrites allowed (``max_retries``, raised by a human's ``retry``)."""
    attempt: int = 1
    prev: str | None = None
    rewrites: int = 0
    human_code: bool = False
    """The current code was written by a person (``edit``): it is checked, not re-approved."""
    tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0})
    artifact: str = ""
    """Run-folder path of the current attempt's code."""
    prev_artifact: str | None = None

    def advance(self, code: str, rationale: str) -> None:
        self.prev, self.prev_artifact = self.code, self.artifact
        self.code, self.rationale = code, rationale
        self.attempt += 1

    def wait_point(self, kind: Any, last: LastFailure | None = None) -> WaitPoint:
        """What ``resume`` needs to continue here (the codes stay in artifacts, the decision
        log travels in ``NodeWaiting.log``)."""
        return WaitPoint(
            kind=kind,
            attempt=self.attempt,
            artifact=self.artifact,
            prev_artifact=self.prev_artifact if self.prev is not None else None,
            rationale=self.rationale,
            rewrites=self.rewrites,
            limit=self.limit,
            human_code=self.human_code,
            last=last,
        )


@dataclass
class Failure:
    """Why an attempt did not succeed: what the model (or a person) is told next."""

    reason: str
    error: str
    sample: int | None
    entry: dict[str, Any]
    rejected: bool = False
    """A person rejected the code before staging (the error is their comment)."""
    edit: HumanDecision | None = None
    resumed: bool = False
    note: str = ""
    """A person's comment sent with a granted retry."""


__all__ = ["Failure", "LoopState", "diff_code"]

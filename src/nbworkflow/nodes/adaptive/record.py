"""What the adaptive loop writes down: one typed record per attempt, and where to resume.

``AttemptRecord`` is the decision-log entry of one attempt (``Decision.data`` of its verdict);
``LOG_KEYS`` is derived from its fields, so the log format and its documentation cannot drift.
``WaitPoint`` is what a waiting node stores in ``NodeWaiting.data`` (codes stay in artifacts);
``ResumePoint`` is that plus the codes read back, which ``resume`` hands to the next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

WaitKind = Literal["approve", "exhausted"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt in the decision log. Every text in it is sanitized before it is built."""

    time: str
    attempt: int
    code_sha256: str
    diff: str
    """Unified diff against the previous attempt's code (empty for the first)."""
    artifact: str
    """Run-folder path of this attempt's code."""
    settings: dict[str, Any]
    """The effective sandbox settings the attempt ran with (``SandboxSettings.record()``)."""
    sandbox: list[dict[str, Any]]
    """One entry per sandboxed sample call: backend, ok, duration, stop reason, error type."""
    tests: dict[str, Any] | None
    http_status: int | None
    http: list[dict[str, Any]]
    """One entry per staging request: status, transport error kind, retries, bytes read."""
    gate: str
    """The gate's verdict (``nodes.gate.Verdict``), or ``rejected`` when a person said no."""
    reason: str
    summary: str
    error: str
    rationale: str
    tokens: dict[str, int]
    infra_retries: int
    human: dict[str, Any] | None = None
    """A person's answer that replaced the staging check (reject or edit), when there was one."""

    def to_log(self) -> dict[str, Any]:
        entry = asdict(self)
        if entry["human"] is None:
            del entry["human"]
        return entry


LOG_KEYS: tuple[str, ...] = tuple(f.name for f in fields(AttemptRecord) if f.name != "human")
"""Keys of every per-attempt decision log entry (``Decision.data``)."""


@dataclass(frozen=True, slots=True)
class LastFailure:
    """Why the last attempt of an exhausted node failed (what the model is told next)."""

    reason: str
    error: str
    sample: int | None
    rejected: bool = False

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> LastFailure | None:
        if not isinstance(data, Mapping):
            return None
        sample = data.get("sample")
        return cls(
            reason=str(data.get("reason", "")),
            error=str(data.get("error", "")),
            sample=sample if isinstance(sample, int) else None,
            rejected=bool(data.get("rejected")),
        )


@dataclass(frozen=True, slots=True)
class WaitPoint:
    """Where the loop stopped to wait for a person, as stored in ``NodeWaiting.data``."""

    kind: WaitKind
    attempt: int
    artifact: str
    prev_artifact: str | None
    rationale: str
    rewrites: int
    limit: int
    human_code: bool
    last: LastFailure | None = None

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        if self.last is None:
            del data["last"]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> WaitPoint | None:
        """``None`` when ``data`` is not an adaptive node's wait point (an approval node's)."""
        artifact = data.get("artifact")
        kind = data.get("kind")
        if not artifact or kind not in ("approve", "exhausted"):
            return None
        prev = data.get("prev_artifact")
        return cls(
            kind=kind,
            attempt=int(data.get("attempt", 1)),
            artifact=str(artifact),
            prev_artifact=str(prev) if prev else None,
            rationale=str(data.get("rationale", "")),
            rewrites=int(data.get("rewrites", 0)),
            limit=int(data.get("limit", 0)),
            human_code=bool(data.get("human_code", False)),
            last=LastFailure.from_data(data.get("last")),
        )


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """What a waiting adaptive node needs to continue in a new run (``RunOptions.resume_points``)."""

    wait: WaitPoint
    code: str
    """The code of the attempt that waited (read back from its artifact)."""
    prev_code: str | None
    from_run: str
    log: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    """The node's decision log up to the wait (from ``NodeWaiting.log``)."""


__all__ = [
    "LOG_KEYS",
    "AttemptRecord",
    "LastFailure",
    "ResumePoint",
    "WaitPoint",
    "now",
    "sha",
]

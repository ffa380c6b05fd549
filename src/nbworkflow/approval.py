"""The human in the loop: what a node asks (``ApprovalRequest``), what a person answers
(``HumanDecision``), who answers (``Approver``), and the ``approval`` node type.

A node asks at three moments:

* ``approve``: an adaptive node with ``approve: true`` has code that passed the sandbox and is
  about to send its payloads to staging (choices: approve, reject, edit);
* ``exhausted``: an adaptive node used its ``max_retries`` rewrites (choices: retry, edit,
  accept, reject = give up);
* ``approval``: a node of ``type: approval`` shows its upstream output (approve, reject, edit).

An approver that cannot answer now returns ``None``: the node raises ``WaitingForHuman``, the
engine records it as *waiting* (``NodeWaiting``, with everything needed to continue) and the run
ends cleanly with status ``waiting``. ``resume_workflow(run, decisions={node: HumanDecision(...)})``
(or ``nbworkflow resume RUN --approve NODE``) continues it from where it waited. Nothing here
blocks a thread: a notebook runs headless (``PendingApprover``), lets the cell return, and a click
resumes the run in the background.

Every answer is published as a ``Decision`` (verdict ``human-<action>``) with who and when.
Asking from a node (``ask``) and the ``approval`` node type live with the nodes
(``nodes.approval``); this module is the vocabulary both sides share.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from .events import NodeWaiting
from .exceptions import WorkflowError

Action = Literal["approve", "reject", "retry", "edit", "accept"]
ACTIONS: tuple[str, ...] = ("approve", "reject", "retry", "edit", "accept")
RequestKind = Literal["approve", "exhausted", "approval"]
CHOICES: dict[str, tuple[str, ...]] = {
    "approve": ("approve", "reject", "edit"),
    "exhausted": ("retry", "edit", "accept", "reject"),
    "approval": ("approve", "reject", "edit"),
}
"""What a person may answer to each kind of request."""


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_who() -> str:
    """The OS user name (``HumanDecision.who`` when nobody says otherwise)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no USER/LOGNAME
        return "unknown"


@dataclass(frozen=True)
class ApprovalRequest:
    """What a node shows a person. Every text in it is already sanitized."""

    run_id: str
    node_id: str
    attempt: int
    """The attempt whose code is shown (1 for the first)."""
    kind: RequestKind
    reason: str
    """One sentence: why the node asks."""
    code: str = ""
    """The code (or, for ``approval`` nodes, the upstream output) the decision is about."""
    diff: str = ""
    """Unified diff of ``code`` against the previous attempt ('' on the first)."""
    code_sha256: str = ""
    """Hash of the real (unredacted) code: a decision can be pinned to exactly this code."""
    target: str = ""
    """Where approved payloads go, e.g. ``POST http://staging/users``."""
    payloads: str = ""
    """The JSON the code produced and that approval would send (sanitized)."""
    rationale: str = ""
    log: tuple[dict[str, Any], ...] = ()
    """The node's decision log so far (one entry per attempt)."""

    @property
    def choices(self) -> tuple[str, ...]:
        return CHOICES[self.kind]

    def to_event(self, data: Mapping[str, Any] | None = None) -> NodeWaiting:
        return NodeWaiting(
            run_id=self.run_id,
            node_id=self.node_id,
            attempt=self.attempt,
            request=self.kind,
            choices=self.choices,
            reason=self.reason,
            code=self.code,
            diff=self.diff,
            code_sha256=self.code_sha256,
            target=self.target,
            payloads=self.payloads,
            rationale=self.rationale,
            log=list(self.log),
            data=dict(data or {}),
        )

    @classmethod
    def from_event(cls, event: NodeWaiting) -> ApprovalRequest:
        kind = event.request if event.request in CHOICES else "approve"
        return cls(
            run_id=event.run_id,
            node_id=event.node_id,
            attempt=event.attempt,
            kind=kind,  # type: ignore[arg-type]
            reason=event.reason,
            code=event.code,
            diff=event.diff,
            code_sha256=event.code_sha256,
            target=event.target,
            payloads=event.payloads,
            rationale=event.rationale,
            log=tuple(event.log),
        )


@dataclass(frozen=True)
class HumanDecision:
    """A person's answer to an ``ApprovalRequest``."""

    action: Action
    comment: str = ""
    """Why; for ``reject`` before staging it goes to the model as the reason to rewrite."""
    who: str = field(default_factory=default_who)
    when: str = field(default_factory=now_utc)
    """ISO 8601 UTC time of the decision."""
    code: str | None = None
    """For ``edit``: the complete new code (checked in the sandbox and against staging)."""
    extra_attempts: int = 1
    """For ``retry``: how many more model rewrites to allow."""
    code_sha256: str | None = None
    """Pin the decision to the code the person saw: ignored for any other code."""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise WorkflowError(
                f"unknown decision '{self.action}': use one of {', '.join(ACTIONS)}"
            )
        if self.action == "edit" and not (self.code or "").strip():
            raise WorkflowError("an 'edit' decision needs the new code (code=...)")
        if self.extra_attempts < 1:
            raise WorkflowError("extra_attempts must be at least 1")

    def record(self) -> dict[str, Any]:
        """What goes into the decision log (the edited code itself is saved as an artifact)."""
        out: dict[str, Any] = {"action": self.action, "who": self.who, "when": self.when}
        if self.comment:
            out["comment"] = self.comment
        if self.action == "retry":
            out["extra_attempts"] = self.extra_attempts
        return out


@runtime_checkable
class Approver(Protocol):
    """Answers approval requests; ``None`` means nobody can answer now (the node waits)."""

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None: ...


class PendingApprover:
    """Headless: never answers, so every request makes its node wait (resumable)."""

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None:
        return None


class AutoApprover:
    """``--auto-approve``: approves code before staging; never accepts code that failed its
    checks (an exhausted node gives up, as without a human)."""

    who = "auto-approve"

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None:
        if request.kind == "exhausted":
            return HumanDecision(
                "reject", "auto-approve never accepts code that failed its checks", who=self.who
            )
        return HumanDecision("approve", who=self.who)


class DecisionsApprover:
    """Answers from pre-given decisions (``resume --approve NODE``, a notebook button click).

    Each decision answers the first matching request of its node, once (pinned decisions only
    a request for the same code); everything else goes to ``fallback`` (default: wait).
    """

    def __init__(
        self,
        decisions: Mapping[str, HumanDecision],
        fallback: Approver | None = None,
    ) -> None:
        self.decisions = dict(decisions)
        self.fallback = fallback or PendingApprover()

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None:
        decision = self.decisions.get(request.node_id)
        if decision is not None and decision.code_sha256 in (None, request.code_sha256):
            del self.decisions[request.node_id]
            return decision
        return await self.fallback.decide(request)


class WaitingForHuman(WorkflowError):
    """Raised by a node that needs an answer nobody can give now; the engine records the node
    as waiting (not failed) and the run ends with status ``waiting``."""

    def __init__(self, request: ApprovalRequest, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"node '{request.node_id}' is waiting for a human: {request.reason}")
        self.request = request
        self.data = dict(data or {})
        """What the node needs to continue from here on resume (see ``resume.py``)."""


def check_decision(request: ApprovalRequest, decision: HumanDecision) -> None:
    if decision.action not in request.choices:
        raise WorkflowError(
            f"node '{request.node_id}': '{decision.action}' is not an answer to this request "
            f"({request.kind}); choose one of: {', '.join(request.choices)}"
        )


__all__ = [
    "ACTIONS",
    "CHOICES",
    "ApprovalRequest",
    "Approver",
    "AutoApprover",
    "DecisionsApprover",
    "HumanDecision",
    "PendingApprover",
    "WaitingForHuman",
    "check_decision",
    "default_who",
]

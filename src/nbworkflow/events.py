"""Typed run events: the one stream the widget, the CLI and the decision log subscribe to.

Every event is a small dataclass with a ``kind`` literal (the pydantic-ai ``messages.py`` way),
so a run's ``events.jsonl`` reads back, validated, into the same objects
(``event_from_json(line)``) and is enough to redraw the run's graph and its decision log without
the process that produced it.

Events are values: treat them as read-only. They are plain slotted dataclasses rather than frozen
Pydantic models because a run publishes two per node: building a frozen model costs ~1-2 us, a
dataclass ~0.3 us, which is most of the engine's overhead per node (``bench/engine.py``).
Validation happens where data comes in from outside: reading a log back (``event_from_json``).

Every field that can hold text from the run (an error, a reason, code, a model's rationale) is
typed ``Text`` (or ``Tree`` for a free-form container: every string inside). The event bus reads
these marks from the classes to know what to sanitize on the way out, so a new free-text field
is redacted by declaring it, not by remembering a table elsewhere.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, TypeAdapter


class Redacted:
    """Type mark: this field holds run text and leaves the run only through the sanitizer."""

    def __repr__(self) -> str:
        return "REDACTED"


REDACTED = Redacted()
Text = Annotated[str, REDACTED]
"""Free text from the run (sanitized by the event bus)."""
OptionalText = Annotated[str | None, REDACTED]
Tree = Annotated[dict[str, Any], REDACTED]
"""A free-form container: every string inside is sanitized."""
TreeList = Annotated[list[dict[str, Any]], REDACTED]


class NodeStatus(enum.StrEnum):
    """Lifecycle of one node. ``RETRYING`` is shown while a node makes another attempt;
    ``WAITING``: the node needs a person's decision and the run ended without it (resumable)."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    WAITING = "waiting"

    @property
    def done(self) -> bool:
        return self in _DONE


_DONE = {
    NodeStatus.SUCCEEDED,
    NodeStatus.FAILED,
    NodeStatus.SKIPPED,
    NodeStatus.CANCELLED,
    NodeStatus.WAITING,
}


class RunStatus(enum.StrEnum):
    """How a whole run ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    WAITING = "waiting"
    """Ended cleanly with nodes waiting for a person ("waiting for approval"); nothing failed.
    Continue with ``resume_workflow(run, decisions=...)`` / ``nbworkflow resume RUN --approve``."""


@dataclass(slots=True, kw_only=True)
class _Event:
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    run_id: str
    """The run this event belongs to."""
    ts: float = field(default_factory=time.time)
    """Wall-clock time (seconds since the epoch) when the event was published."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """The static part of a node, copied into ``run_started`` so a run redraws from its log."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    id: str
    type: str
    agent: str = ""
    action: str = ""
    depends_on: tuple[str, ...] = ()
    max_retries: int = 0


@dataclass(slots=True, kw_only=True)
class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    workflow: str
    """The workflow's ``name``."""
    nodes: tuple[NodeInfo, ...]
    """Every node, in topological order."""
    provider: str
    """Name of the model provider (``scripted``, ``replay``, ``anthropic``...)."""
    model: str | None = None
    resumed_from: str | None = None
    """Run id this run continues, when it is a resume."""
    spec_file: str | None = None
    """Absolute path of the spec file, when it came from a file (resume re-reads inputs there)."""


@dataclass(slots=True, kw_only=True)
class NodeStarted(_Event):
    kind: Literal["node_started"] = "node_started"
    node_id: str


@dataclass(slots=True, kw_only=True)
class NodeRetrying(_Event):
    """A node makes another attempt; ``reason`` says why the previous one did not count."""

    kind: Literal["node_retrying"] = "node_retrying"
    node_id: str
    attempt: int
    """The attempt about to start (2 for the first retry)."""
    reason: Text


@dataclass(slots=True, kw_only=True)
class ModelCalled(_Event):
    """One model call finished (including repair calls); carries its token cost."""

    kind: Literal["model_called"] = "model_called"
    node_id: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    duration_s: float = 0.0
    purpose: str = "answer"
    """``answer`` for the first call, ``repair`` when the model is asked to fix its output."""
    retries: int = 0
    """Transient failures (429/5xx/connection) the SDK retried before this answer."""
    cached: bool = False
    """The answer came from a cassette (replay), not from the model."""
    cost_usd: float | None = None
    """US dollars for this call (``agents.prices``); ``None``: unknown or not priced."""


@dataclass(slots=True, kw_only=True)
class Decision(_Event):
    """Something the orchestrator decided, with its reason: the audit trail of a node."""

    kind: Literal["decision"] = "decision"
    node_id: str
    attempt: int
    verdict: str
    """Short machine-friendly verdict, e.g. ``success``, ``adapt``, ``retry-infra``, ``repair``."""
    reason: Text
    """One sanitized sentence a human can read."""
    data: Tree = field(default_factory=dict)
    """Sanitized details (status code, code hash, diff, rationale, ...)."""


@dataclass(slots=True, kw_only=True)
class NodeFinished(_Event):
    kind: Literal["node_finished"] = "node_finished"
    node_id: str
    attempts: int = 1
    duration_s: float = 0.0
    artifact: str | None = None
    """Path of the output artifact, relative to the run folder."""
    artifact_sha256: str | None = None
    """SHA-256 of the artifact's bytes, recorded by the run folder's writer as it writes them
    (resume restores an artifact only when it still matches)."""
    preview: Text = ""
    """The first few hundred characters of the output."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    """The output came from the node cache (made by an earlier run with the same inputs)."""
    accepted_by: OptionalText = None
    """Set when a person accepted the output as is although it failed its checks."""
    restored_from: str | None = None
    """Set on a resumed run: the run whose output this node carried over (not made again)."""


@dataclass(slots=True, kw_only=True)
class NodeFailed(_Event):
    kind: Literal["node_failed"] = "node_failed"
    node_id: str
    error_type: str
    message: Text
    """Sanitized, short, says what to do."""
    attempts: int = 1
    duration_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True, kw_only=True)
class NodeWaiting(_Event):
    """A node stopped to wait for a person's decision (see ``nbworkflow.approval``).

    It carries what the person needs to decide (all sanitized) and, in ``data``, what the node
    needs to continue from here when the run is resumed. Its downstream nodes are skipped with
    the reason; the run ends with status ``waiting``.
    """

    kind: Literal["node_waiting"] = "node_waiting"
    node_id: str
    attempt: int = 1
    request: Text = "approve"
    """``approve`` (before staging), ``exhausted`` (max_retries used up) or ``approval``."""
    choices: tuple[str, ...] = ()
    """The answers this request accepts, e.g. ``("approve", "reject", "edit")``."""
    reason: Text = ""
    code: Text = ""
    """The code (or output) to decide on, sanitized."""
    diff: Text = ""
    """Unified diff against the previous attempt."""
    code_sha256: Text = ""
    target: Text = ""
    payloads: Text = ""
    rationale: Text = ""
    log: TreeList = field(default_factory=list)
    """The node's decision log so far."""
    data: Tree = field(default_factory=dict)
    """Resume state (attempt artifacts, rewrites used, the last error...)."""


@dataclass(slots=True, kw_only=True)
class NodeSkipped(_Event):
    kind: Literal["node_skipped"] = "node_skipped"
    node_id: str
    reason: Text
    blocked_by: str | None = None
    """The failed or cancelled upstream node that caused the skip."""


@dataclass(slots=True, kw_only=True)
class NodeCancelled(_Event):
    kind: Literal["node_cancelled"] = "node_cancelled"
    node_id: str
    reason: Text = "run cancelled"
    duration_s: float = 0.0


@dataclass(slots=True, kw_only=True)
class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    status: RunStatus
    duration_s: float
    counts: dict[str, int]
    """Nodes per final status."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """US dollars of the run's calls whose price is known (``None``: not recorded)."""
    unknown_cost_calls: int = 0
    """The run's calls of unknown price (not in ``cost_usd``)."""
    message: Text = ""


RunEvent = Annotated[
    RunStarted
    | NodeStarted
    | NodeRetrying
    | ModelCalled
    | Decision
    | NodeFinished
    | NodeFailed
    | NodeSkipped
    | NodeCancelled
    | NodeWaiting
    | RunFinished,
    Field(discriminator="kind"),
]
"""Any run event; use ``EVENT_ADAPTER`` to (de)serialise."""

EVENT_ADAPTER: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)

NODE_EVENTS = (
    NodeStarted,
    NodeRetrying,
    ModelCalled,
    Decision,
    NodeFinished,
    NodeFailed,
    NodeSkipped,
    NodeCancelled,
    NodeWaiting,
)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {
    cls: TypeAdapter(cls) for cls in (RunStarted, RunFinished, *NODE_EVENTS)
}


def redacted_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(text fields, container fields)`` of an event class: the fields typed ``Text`` /
    ``OptionalText`` and ``Tree`` / ``TreeList``, read from its annotations."""
    import typing

    hints = typing.get_type_hints(cls, include_extras=True)
    text: list[str] = []
    trees: list[str] = []
    for name, hint in hints.items():
        if typing.get_origin(hint) is not Annotated or REDACTED not in hint.__metadata__:
            continue
        base = typing.get_args(hint)[0]
        (trees if typing.get_origin(base) in (dict, list) else text).append(name)
    return tuple(text), tuple(trees)


def event_to_json(event: RunEvent) -> str:
    """One line of ``events.jsonl`` (no trailing newline)."""
    return _ADAPTERS[type(event)].dump_json(event).decode()


def event_to_dict(event: RunEvent) -> dict[str, Any]:
    """The event as plain JSON-ready values (what its ``events.jsonl`` line holds)."""
    result: dict[str, Any] = _ADAPTERS[type(event)].dump_python(event, mode="json")
    return result


def event_from_json(line: str | bytes) -> RunEvent:
    return EVENT_ADAPTER.validate_json(line)


__all__ = [
    "EVENT_ADAPTER",
    "REDACTED",
    "Decision",
    "ModelCalled",
    "NodeCancelled",
    "NodeFailed",
    "NodeFinished",
    "NodeInfo",
    "NodeRetrying",
    "NodeSkipped",
    "NodeStarted",
    "NodeStatus",
    "NodeWaiting",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "RunStatus",
    "Text",
    "Tree",
    "event_from_json",
    "event_to_dict",
    "event_to_json",
    "redacted_fields",
]

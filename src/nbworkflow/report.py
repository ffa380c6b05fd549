"""Events to text: the one place a run becomes words, for the CLI, the magic and the log alike.

``progress_line`` is one event as a line of live progress; ``log_lines`` is a run's (or one
node's) audit trail, as ``nbworkflow log`` and ``%workflow log`` print it; ``summary_table`` is
the end-of-run table. A waiting node always shows why it waits and what a person may answer,
wherever it is shown. Every text here comes from events, which the event bus sanitized already.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import events as ev
from .agents.prices import cost_summary, format_usd, short_cost
from .events import NodeStatus, RunEvent
from .exceptions import WorkflowError
from .nodes.gate import LoggedVerdict
from .segments import LogicalRun, Segment
from .state import RunState
from .text import clip

MAX_LINES = 15
"""Lines of one multi-line detail shown before ``--full``."""
MAX_CHARS = 240
"""Characters of one single-line detail shown before ``--full``."""
_REDUNDANT = {"time", "attempt", "reason", "gate", "log"}
"""Decision details the log line says already."""


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"


def waiting_text(e: ev.NodeWaiting) -> str:
    """Why a node waits and what a person may answer (the same words everywhere)."""
    return (
        f"WAITING for a human ({e.request}, attempt {e.attempt}): {e.reason}; "
        f"choices: {', '.join(e.choices)}"
    )


def progress_line(event: RunEvent, *, reasons: bool = True) -> str | None:
    """One event as a line of live progress (``None``: not worth a line); without
    ``reasons``, a node that failed, was skipped or cancelled, or waits says so but not why
    (the summary under the run says it, once; a waiting node still says what a person may
    answer)."""
    if isinstance(event, ev.RunStarted):
        return (
            f"run {event.run_id}: {event.workflow} ({len(event.nodes)} nodes, "
            f"provider {event.provider})"
        )
    if isinstance(event, ev.NodeStarted):
        return f"  ▶ {event.node_id} started"
    if isinstance(event, ev.NodeRetrying):
        return f"  ↻ {event.node_id} attempt {event.attempt}: {event.reason}"
    if isinstance(event, ev.Decision) and event.verdict != LoggedVerdict.SUCCESS:
        return f"  · {event.node_id} [{event.verdict}] {event.reason}"
    if isinstance(event, ev.NodeFinished):
        how = " (cached)" if event.cached else ""
        if event.restored_from:
            how = f" (restored from {event.restored_from})"
        return f"  ✔ {event.node_id} succeeded in {fmt_seconds(event.duration_s)}{how}"
    if isinstance(event, ev.NodeWaiting):
        if not reasons:  # what a person may answer still shows; why, with how to answer
            return (
                f"  ⏸ {event.node_id} WAITING for a human ({event.request}, attempt "
                f"{event.attempt}); choices: {', '.join(event.choices)}"
            )
        return f"  ⏸ {event.node_id} {waiting_text(event)}"
    said = _NODE_ENDS.get(type(event))
    if said is None:
        return None
    symbol, what, why = said
    line = f"  {symbol} {getattr(event, 'node_id', '')} {what}"
    return f"{line}: {getattr(event, why)}" if reasons else line


_NODE_ENDS: dict[type, tuple[str, str, str]] = {
    ev.NodeFailed: ("✘", "failed", "message"),
    ev.NodeSkipped: ("⤼", "skipped", "reason"),
    ev.NodeCancelled: ("■", "cancelled", "reason"),
}
"""How a node's end is said live: symbol, word, and the field that says why."""


def _data_lines(data: dict[str, Any], full: bool) -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        if not full and (key in _REDUNDANT or value in ("", None, [], {})):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines = text.splitlines() or [""]
        if len(lines) == 1:
            line = lines[0]
            if not full and len(line) > MAX_CHARS:
                line = line[:MAX_CHARS] + f"... ({len(line) - MAX_CHARS} more characters; --full)"
            out.append(f"{'':13}{key}: {line}")
            continue
        out.append(f"{'':13}{key}:")
        shown = lines if full else lines[:MAX_LINES]
        out.extend(f"{'':15}{line}" for line in shown)
        if len(shown) < len(lines):
            out.append(f"{'':15}... ({len(lines) - len(shown)} more lines; --full)")
    return out


def _event_lines(e: RunEvent, full: bool) -> list[str]:
    if isinstance(e, ev.RunStarted):
        return [f"run {e.run_id} started: {e.workflow} (provider {e.provider})"]
    if isinstance(e, ev.RunFinished):
        tokens = f"({e.input_tokens}/{e.output_tokens} tokens"
        if e.cost_usd is not None:  # runs recorded before costs were don't say
            tokens += f", cost {cost_summary(e.cost_usd, e.unknown_cost_calls)}"
        said = f"run {e.status.value}"
        message = "" if e.message == said else e.message  # not "run cancelled ... run cancelled"
        return [f"{said} {tokens}) {message}".rstrip()]
    if isinstance(e, ev.NodeStarted):
        return [f"{e.node_id}: started"]
    if isinstance(e, ev.ModelCalled):
        return [
            f"{e.node_id}: model {e.model} ({e.purpose}) "
            f"{e.input_tokens}/{e.output_tokens} tokens in {fmt_seconds(e.duration_s)}, "
            f"cost {format_usd(e.cost_usd)}"
        ]
    if isinstance(e, ev.Decision):
        return [
            f"{e.node_id}: attempt {e.attempt} [{e.verdict}] {e.reason}",
            *_data_lines(e.data, full),
        ]
    if isinstance(e, ev.NodeRetrying):
        return [f"{e.node_id}: retrying (attempt {e.attempt}): {e.reason}"]
    if isinstance(e, ev.NodeFinished):
        return [f"{e.node_id}: succeeded after {e.attempts} attempt(s) -> {e.artifact}"]
    if isinstance(e, ev.NodeFailed):
        return [f"{e.node_id}: FAILED ({e.error_type}): {e.message}"]
    if isinstance(e, ev.NodeSkipped):
        return [f"{e.node_id}: skipped: {e.reason}"]
    if isinstance(e, ev.NodeCancelled):
        return [f"{e.node_id}: cancelled: {e.reason}"]
    if isinstance(e, ev.NodeWaiting):
        # A person decides on this code: never truncate it.
        shown = {"code": e.code, "diff": e.diff, "payloads": e.payloads}
        return [
            f"{e.node_id}: {waiting_text(e)}",
            *_data_lines({k: v for k, v in shown.items() if v}, True),
        ]
    return [f"{getattr(e, 'node_id', '')}: {e.kind}"]  # a kind this module does not know yet


def log_lines(
    events: Sequence[RunEvent],
    node: str | None = None,
    *,
    full: bool = False,
    t0: float | None = None,
) -> list[str]:
    """The audit trail of a run (or of one node), one event per line plus its details;
    ``full`` keeps every detail whole; times count from ``t0`` (default: the run's start)."""
    if t0 is None:
        t0 = next((e.ts for e in events if isinstance(e, ev.RunStarted)), 0.0)
    if node is not None:
        check_node(events, node)
    out: list[str] = []
    for e in events:
        if node is not None and getattr(e, "node_id", None) != node:
            continue
        first, *rest = _event_lines(e, full)
        out.append(f"+{e.ts - t0:7.3f}s {first}")
        out.extend(rest)
    return out


def summary_table(
    state: RunState, run_dir: Path | None = None, *, said: Collection[str] = ()
) -> str:
    """The end-of-run table: each node's status, attempts, duration, tokens and cost, then
    why each node that did not succeed ended so, except the nodes in ``said`` (whose reason
    the reader has seen already, e.g. on the final live board)."""
    rows = [("node", "status", "attempts", "duration", "tokens in/out", "cost")]
    for node in state.nodes.values():
        status = node.status.value + (
            " (restored)" if node.restored_from else " (cached)" if node.cached else ""
        )
        rows.append(
            (
                node.id,
                status,
                str(node.attempts or "-"),
                fmt_seconds(node.duration_s),
                f"{node.input_tokens}/{node.output_tokens}",
                short_cost(node.cost_usd, node.unknown_cost_calls, node.model_calls)
                if node.model_calls
                else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = ", ".join(f"{n} {k}" for k, n in sorted(state.counts().items()))
    lines.append("")
    lines.append(
        f"run {state.status.value} in {fmt_seconds(state.duration_s)}: {counts}; "
        f"tokens {state.input_tokens} in / {state.output_tokens} out; "
        f"cost {cost_summary(state.cost_usd, state.unknown_cost_calls, state.model_calls)}"
    )
    for node in state.nodes.values():
        if (
            (
                node.status
                in (NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED, NodeStatus.WAITING)
                or node.accepted_by
            )
            and node.message
            and node.id not in said
        ):
            lines.append(f"  {node.id}: {node.message}")
    if state.message:
        lines.append(f"  {state.message}")
    if run_dir is not None:
        lines.append(f"run folder: {run_dir}")
    return "\n".join(lines)


def check_node(events: Iterable[RunEvent], node: str) -> None:
    """A ``WorkflowError`` (with a did-you-mean) unless ``node`` is a node of these events."""
    known: set[str] = set()
    for e in events:
        if isinstance(e, ev.RunStarted):
            known.update(n.id for n in e.nodes)
        elif i := getattr(e, "node_id", None):
            known.add(i)
    if node not in known:
        close = difflib.get_close_matches(node, sorted(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise WorkflowError(
            f"no node '{node}' in this run{hint}; nodes: {', '.join(sorted(known))}"
        )


def resume_reason(previous: Segment, segment: Segment) -> str:
    """Why a segment started: the answers to the questions the one before left open, or how
    that one ended."""
    waiting = list(RunState.from_events(previous.events).waiting())
    answers: dict[str, str] = {}
    for e in segment.events:
        if (
            isinstance(e, ev.Decision)
            and e.node_id in waiting
            and e.node_id not in answers
            and e.verdict.startswith("human-")
        ):
            who = e.data.get("who")
            action = e.verdict.removeprefix("human-")
            answers[e.node_id] = f"{action} on {e.node_id}" + (
                f" by {who}" if isinstance(who, str) and who else ""
            )
    if answers:
        return "resumed after " + "; ".join(answers.values())
    if waiting:
        return f"resumed while {', '.join(waiting)} waited, without an answer yet"
    return f"resumed after run {previous.info.run_id} ended {previous.info.status}"


def run_log_lines(
    segments: Sequence[Segment], node: str | None = None, *, full: bool = False
) -> list[str]:
    """The audit trail of a logical run: each segment's events, in order, after a line naming
    the segment and why it started (no such line for a run never resumed)."""
    if node is not None:
        check_node((e for s in segments for e in s.events), node)
    starts = [e.ts for s in segments for e in s.events if isinstance(e, ev.RunStarted)]
    t0 = min(starts, default=0.0)
    by_id = {s.info.run_id: s for s in segments}
    out: list[str] = []
    for i, segment in enumerate(segments):
        if len(segments) > 1:
            # The segment it continues (not the one listed before it, when a run was resumed
            # twice from the same place).
            parent = by_id.get(segment.info.resumed_from or "", segments[i - 1])
            why = "started" if i == 0 else resume_reason(parent, segment)
            out.append(f"── segment {i + 1}/{len(segments)}: run {segment.info.run_id}, {why}")
        if segment.problem:
            out.append(f"   ! {segment.problem}")
        events = segment.events
        if node is not None:  # checked above across segments; one segment may lack it
            events = tuple(e for e in events if getattr(e, "node_id", None) == node)
        out.extend(log_lines(events, full=full, t0=t0))
    return out


RUNS_HEADER = ("run", "status", "nodes", "duration", "segments", "workflow")


def runs_table(runs: Sequence[LogicalRun]) -> list[str]:
    """``nbworkflow runs`` and ``%workflow runs``: a header, one row per logical run, and a
    ``!`` line under a run for each thing damaged in it."""
    rows = [RUNS_HEADER]
    rows.extend(
        (
            r.run_id,
            r.status,
            str(r.nodes),
            fmt_seconds(r.duration_s),
            str(len(r.segments)),
            r.workflow,
        )
        for r in runs
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(RUNS_HEADER) - 1)]
    right = {2, 3, 4}  # numbers line up on the right

    def line(row: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        return "  ".join([*cells, row[-1]]).rstrip()

    out = [line(RUNS_HEADER)]
    for run, row in zip(runs, rows[1:], strict=True):
        out.append(line(row))
        out.extend(f"    ! {problem}" for problem in run.problems)
    return out


__all__ = [
    "MAX_CHARS",
    "MAX_LINES",
    "RUNS_HEADER",
    "check_node",
    "clip",
    "fmt_seconds",
    "log_lines",
    "progress_line",
    "resume_reason",
    "run_log_lines",
    "runs_table",
    "summary_table",
    "waiting_text",
]

"""Events to text: the one place a run becomes words, for the CLI, the magic and the log alike.

``progress_line`` is one event as a line of live progress; ``log_lines`` is a run's (or one
node's) audit trail, as ``nbworkflow log`` and ``%workflow log`` print it; ``summary_table`` is
the end-of-run table. A waiting node always shows why it waits and what a person may answer,
wherever it is shown. Every text here comes from events, which the event bus sanitized already.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import events as ev
from .agents.prices import cost_summary, format_usd
from .events import NodeStatus, RunEvent
from .exceptions import WorkflowError
from .nodes.gate import LoggedVerdict
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


def progress_line(event: RunEvent) -> str | None:
    """One event as a line of live progress (``None``: not worth a line)."""
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
    if isinstance(event, ev.NodeFailed):
        return f"  ✘ {event.node_id} failed: {event.message}"
    if isinstance(event, ev.NodeSkipped):
        return f"  ⤼ {event.node_id} skipped: {event.reason}"
    if isinstance(event, ev.NodeCancelled):
        return f"  ■ {event.node_id} cancelled: {event.reason}"
    if isinstance(event, ev.NodeWaiting):
        return f"  ⏸ {event.node_id} {waiting_text(event)}"
    return None


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
    events: Sequence[RunEvent], node: str | None = None, *, full: bool = False
) -> list[str]:
    """The audit trail of a run (or of one node), one event per line plus its details;
    ``full`` keeps every detail whole."""
    t0 = next((e.ts for e in events if isinstance(e, ev.RunStarted)), 0.0)
    if node is not None:
        known = {n.id for e in events if isinstance(e, ev.RunStarted) for n in e.nodes}
        known |= {i for e in events if (i := getattr(e, "node_id", None))}
        if node not in known:
            raise WorkflowError(f"no node '{node}' in this run; nodes: {', '.join(sorted(known))}")
    out: list[str] = []
    for e in events:
        if node is not None and getattr(e, "node_id", None) != node:
            continue
        first, *rest = _event_lines(e, full)
        out.append(f"+{e.ts - t0:7.3f}s {first}")
        out.extend(rest)
    return out


def _short_cost(usd: float, unknown_calls: int) -> str:
    """A table cell: ``$0.0123``, ``unknown``, or ``$0.0123 +1 unknown``."""
    if unknown_calls and usd == 0:
        return "unknown"
    return format_usd(usd) + (f" +{unknown_calls} unknown" if unknown_calls else "")


def summary_table(state: RunState, run_dir: Path | None = None) -> str:
    """The end-of-run table: each node's status, attempts, duration, tokens and cost."""
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
                _short_cost(node.cost_usd, node.unknown_cost_calls),
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
        f"cost {cost_summary(state.cost_usd, state.unknown_cost_calls)}"
    )
    for node in state.nodes.values():
        if (
            node.status
            in (NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED, NodeStatus.WAITING)
            or node.accepted_by
        ) and node.message:
            lines.append(f"  {node.id}: {node.message}")
    if state.message:
        lines.append(f"  {state.message}")
    if run_dir is not None:
        lines.append(f"run folder: {run_dir}")
    return "\n".join(lines)


__all__ = [
    "MAX_CHARS",
    "MAX_LINES",
    "clip",
    "fmt_seconds",
    "log_lines",
    "progress_line",
    "summary_table",
    "waiting_text",
]

"""Logical runs: the segments one run is made of when people answer it.

A resume (``nbworkflow resume``, a click on Approve or Reject) starts a new run folder whose
``run_started`` names the folder it continues (``resumed_from``). A finished segment's record is
never rewritten, so a logical run is found by following those links: its id is its first
segment's, its status its last segment's.

The links come from folders that get copied, moved and damaged: a link to a folder that is not
there, to a run that started later (a loop), or a segment resumed twice is reported in the
logical run's ``problems`` and never stops the listing. Segments are ordered by when they
started, and a link is followed only to a segment ordered before it, so no loop can form.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .events import RunEvent
from .exceptions import WorkflowError
from .runlog import DEFAULT_ROOT, RunInfo, find_run, list_runs, read_events


@dataclass(frozen=True)
class LogicalRun:
    """One run as a person sees it: its segments, oldest first."""

    segments: tuple[RunInfo, ...]
    problems: tuple[str, ...] = ()
    """Damaged or odd links among its segments, in words."""

    @property
    def run_id(self) -> str:
        return self.segments[0].run_id

    @property
    def last(self) -> RunInfo:
        return self.segments[-1]

    @property
    def status(self) -> str:
        return self.last.status

    @property
    def workflow(self) -> str:
        return self.last.workflow

    @property
    def nodes(self) -> int:
        return self.last.nodes

    @property
    def duration_s(self) -> float | None:
        """Time spent running (the waits between segments are not counted)."""
        known = [s.duration_s for s in self.segments if s.duration_s is not None]
        return sum(known) if known else None

    @property
    def segment_ids(self) -> tuple[str, ...]:
        return tuple(s.run_id for s in self.segments)


def _started(run: RunInfo) -> tuple[bool, float, str]:
    return (run.started_at is None, run.started_at or 0.0, run.run_id)


def group_runs(runs: Sequence[RunInfo]) -> list[LogicalRun]:
    """Segments grouped into logical runs, ordered by their first segment's start."""
    ids = {r.run_id for r in runs}
    group_of: dict[str, list[RunInfo]] = {}
    problems: dict[int, list[str]] = {}
    children: dict[str, list[str]] = {}
    groups: list[list[RunInfo]] = []
    for run in sorted(runs, key=_started):
        parent = run.resumed_from
        if parent is not None and parent in group_of:
            group = group_of[parent]
            group.append(run)
            children.setdefault(parent, []).append(run.run_id)
        else:
            group = [run]
            groups.append(group)
            if parent is not None:
                if parent == run.run_id:
                    why = "its own id (a damaged link)"
                elif parent in ids:
                    why = "which started after it (a damaged link)"
                else:
                    why = "which is not in this runs folder (moved or deleted)"
                problems.setdefault(id(group), []).append(
                    f"segment {run.run_id} is resumed from {parent}, {why}"
                )
        group_of[run.run_id] = group
        if run.problem:
            problems.setdefault(id(group), []).append(f"{run.run_id}: {run.problem}")
    for parent, kids in children.items():
        if len(kids) > 1:
            problems.setdefault(id(group_of[parent]), []).append(
                f"run {parent} was resumed {len(kids)} times ({', '.join(kids)}): "
                "every segment is listed in the order it started"
            )
    return [LogicalRun(tuple(g), tuple(problems.get(id(g), ()))) for g in groups]


def list_logical_runs(root: str | os.PathLike[str] = DEFAULT_ROOT) -> list[LogicalRun]:
    """The runs under ``root`` with their resumed segments grouped, oldest first."""
    return group_runs(list_runs(root))


def find_logical_run(ref: str, root: str | os.PathLike[str] = DEFAULT_ROOT) -> LogicalRun:
    """The logical run holding segment ``ref`` (as ``find_run`` accepts it: any segment's id,
    a unique prefix or suffix, a folder, ``last``)."""
    run_dir = find_run(ref, root)
    name = run_dir.name
    for run in list_logical_runs(run_dir.parent):
        if name in run.segment_ids:
            return run
    raise WorkflowError(f"run folder {run_dir} is not listed under {run_dir.parent}")


@dataclass(frozen=True)
class Segment:
    """One segment's events, or why they cannot be read."""

    info: RunInfo
    events: tuple[RunEvent, ...] = ()
    problem: str | None = None


def read_segments(run: LogicalRun) -> list[Segment]:
    """Every segment's events, in order; a segment whose log is damaged says so instead."""
    out = []
    for info in run.segments:
        try:
            out.append(Segment(info, tuple(read_events(Path(info.path)))))
        except WorkflowError as exc:
            out.append(Segment(info, problem=str(exc)))
    return out


__all__ = [
    "LogicalRun",
    "Segment",
    "find_logical_run",
    "group_runs",
    "list_logical_runs",
    "read_segments",
]

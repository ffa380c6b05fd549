"""``%workflow COMMAND``: the line form of the magic (runs, log, show, sandbox, cancel).

Each command reads run folders through the core (``segments``, ``report``, ``widgets.static``)
and prints or displays what it finds; the cell form lives in ``workflow``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.error import UsageError

from .cell import ACTIVE

LINE_HELP = """\
Line form (``%workflow COMMAND``):

  %workflow runs [--runs-dir DIR]             list the runs, oldest first
  %workflow log [RUN] [--node ID]             the event and decision log of a run (default: last)
  %workflow show [RUN]                        redraw a past run's graph from its events.jsonl
  %workflow sandbox                           which sandbox isolation is available and active
  %workflow cancel [RUN]                      cancel a --background run (default: all)

RUN is a run id, a unique prefix or suffix of one, a run folder, or ``last``.
"""


class _LineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n\n{LINE_HELP}")


def line_parser() -> argparse.ArgumentParser:
    parser = _LineParser(prog="%workflow", add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_LineParser)
    runs = sub.add_parser("runs")
    runs.add_argument("--runs-dir", default=None)
    log = sub.add_parser("log")
    log.add_argument("run", nargs="?", default="last")
    log.add_argument("--node", default=None)
    log.add_argument("--runs-dir", default=None)
    show = sub.add_parser("show")
    show.add_argument("run", nargs="?", default="last")
    show.add_argument("--runs-dir", default=None)
    sub.add_parser("sandbox")
    cancel = sub.add_parser("cancel")
    cancel.add_argument("run", nargs="?", default=None)
    return parser


def runs_root(value: str | None) -> Path:
    from ..runlog import DEFAULT_ROOT

    return Path(value or os.environ.get("NBWORKFLOW_RUNS_DIR") or DEFAULT_ROOT)


def run_command(args: argparse.Namespace, display: Callable[..., Any]) -> None:
    """Run one parsed line command; ``display`` shows rich output (the magic's, patchable)."""
    _COMMANDS[args.command](args, display)


def _cmd_runs(args: argparse.Namespace, display: Callable[..., Any]) -> None:
    from ..report import runs_table
    from ..segments import list_logical_runs

    root = runs_root(args.runs_dir)
    runs = list_logical_runs(root)
    if not runs:
        print(f"no runs under {root}")
        return
    print("\n".join(runs_table(runs)))


def _cmd_log(args: argparse.Namespace, display: Callable[..., Any]) -> None:
    from ..report import run_log_lines
    from ..segments import find_logical_run, read_segments

    run = find_logical_run(args.run, runs_root(args.runs_dir))
    lines = run_log_lines(read_segments(run), args.node)
    parts = f", {len(run.segments)} segments" if len(run.segments) > 1 else ""
    print(f"run {run.run_id} ({run.segments[0].path}{parts})")
    print("\n".join(lines))


def _cmd_show(args: argparse.Namespace, display: Callable[..., Any]) -> None:
    from ..exceptions import WorkflowError
    from ..sanitize import sanitize
    from ..segments import find_logical_run, read_segments
    from ..state import RunState
    from ..widgets.static import static_bundle

    # Any segment's id names the whole run; its last segment holds every node's latest
    # state (a resume carries earlier outputs over), so that is the one drawn.
    run = find_logical_run(args.run, runs_root(args.runs_dir))
    segments = read_segments(run)
    readable = [i for i, s in enumerate(segments) if s.events]
    last = segments[-1]
    damage = last.problem or f"{last.info.path} holds no event"
    if not readable:
        raise WorkflowError(damage)
    i = readable[-1]
    drawn = segments[i]
    n = len(segments)
    if n > 1:
        which = "its last" if i == n - 1 else f"its last readable; {damage}"
        print(f"run {run.run_id}: segment {i + 1}/{n} (run {drawn.info.run_id}, {which})")
    state = RunState.from_events(drawn.events)
    # The run's own secret values are gone by now: pattern-based redaction only.
    display(static_bundle(state, drawn.info.path, redact=sanitize), raw=True)


def _cmd_sandbox(args: argparse.Namespace, display: Callable[..., Any]) -> None:
    try:
        from ..sandbox import describe_backends
    except ImportError:
        print("the sandbox module is not available in this installation")
        return
    for report in describe_backends():
        print(format_backend(report))


def _cmd_cancel(args: argparse.Namespace, display: Callable[..., Any]) -> None:
    targets = [r for r in ACTIVE if args.run is None or args.run in r]
    if not targets:
        print("no background run to cancel")
        return
    for run_id in targets:
        run = ACTIVE.get(run_id)
        if run is not None:
            run.cancel()
            print(f"cancelling run {run_id}")


def format_backend(report: Any, width: int = 88) -> str:
    """One block per sandbox backend report (duck-typed: name/available/active/...): a head
    line, then its guarantees and what is missing, one item a line, wrapped between words."""
    import textwrap

    get = report.get if isinstance(report, Mapping) else lambda k, d=None: getattr(report, k, d)
    name = get("name", "?")
    mark = "*" if get("active", False) else " "
    available = "available" if get("available", False) else "unavailable"
    lines = [f"{mark} {name:<10} {available}"]

    def items(label: str, value: Any) -> None:
        parts = [value] if isinstance(value, str) else [str(v) for v in value]
        lines.append(f"    {label}:")
        for part in parts:
            lines.extend(
                textwrap.wrap(
                    part,
                    width,
                    initial_indent="      - ",
                    subsequent_indent="        ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )

    guarantees = get("guarantees", None)
    if guarantees:
        items("guarantees", guarantees)
    missing = get("missing", None)
    if missing:
        items("missing", missing)
    return "\n".join(lines)


_COMMANDS: dict[str, Callable[[argparse.Namespace, Callable[..., Any]], None]] = {
    "runs": _cmd_runs,
    "log": _cmd_log,
    "show": _cmd_show,
    "sandbox": _cmd_sandbox,
    "cancel": _cmd_cancel,
}

__all__ = ["LINE_HELP", "format_backend", "line_parser", "run_command", "runs_root"]

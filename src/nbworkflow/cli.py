"""``nbworkflow``: validate, run and audit workflows from a terminal.

Exit codes (also in the README):
    0  success
    1  the run finished but a node failed, was skipped or cancelled
    2  usage error or invalid spec (every problem is printed with file:line:col)
    3  configuration error: provider, sandbox, staging or run folder unavailable
    4  the run ended cleanly waiting for a human decision ("waiting for approval"); continue
       with `nbworkflow resume RUN --approve NODE` (or --reject/--retry/--edit/--accept)
    130  interrupted (Ctrl-C); the run is recorded as cancelled

Approvals: on a terminal (stdin and stderr are TTYs) a node that needs a person shows its code,
diff and payloads and asks; without one the node waits and the run exits 4, unless
``--auto-approve`` (approves code before staging; never accepts code that failed its checks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from . import events as ev
from .approval import (
    ApprovalRequest,
    Approver,
    AutoApprover,
    HumanDecision,
    PendingApprover,
    default_who,
)
from .events import NodeStatus, RunEvent, RunStatus
from .exceptions import SpecError, WorkflowError
from .runlog import DEFAULT_ROOT, find_run, list_runs, read_events
from .sanitize import sanitize
from .state import RunState

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_WAITING = 4

_SYMBOL = {
    NodeStatus.PENDING: "·",
    NodeStatus.RUNNING: "▶",
    NodeStatus.RETRYING: "↻",
    NodeStatus.SUCCEEDED: "✔",
    NodeStatus.FAILED: "✘",
    NodeStatus.SKIPPED: "⤼",
    NodeStatus.CANCELLED: "■",
    NodeStatus.WAITING: "⏸",
}
_COLOR = {
    NodeStatus.PENDING: "2",
    NodeStatus.RUNNING: "36",
    NodeStatus.RETRYING: "33",
    NodeStatus.SUCCEEDED: "32",
    NodeStatus.FAILED: "31",
    NodeStatus.SKIPPED: "2",
    NodeStatus.CANCELLED: "35",
    NodeStatus.WAITING: "1;33",
}


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"


class UsageError(WorkflowError):
    """A command-line argument is wrong (exit code 2)."""


class Progress:
    """Subscriber that shows a run: a live board on a terminal, plain lines otherwise."""

    def __init__(self, stream: IO[str] | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.color = self.live and not os.environ.get("NO_COLOR")
        self.state = RunState()
        self._drawn = 0
        self._last = 0.0
        self.paused = False
        """Set while a question is on screen: the board must not draw over it."""

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused, self._drawn = False, 0  # draw a fresh board below the answered question

    def _paint(self, status: NodeStatus, text: str) -> str:
        return f"\x1b[{_COLOR[status]}m{text}\x1b[0m" if self.color else text

    def __call__(self, event: RunEvent) -> None:
        self.state.apply(event)
        if self.live:
            if self.paused:
                return
            now = time.monotonic()
            if isinstance(event, (ev.RunStarted, ev.RunFinished)) or now - self._last > 0.1:
                self._last = now
                self._draw_board()
            return
        line = self._plain(event)
        if line:
            print(line, file=self.stream, flush=True)

    def _plain(self, event: RunEvent) -> str | None:
        if isinstance(event, ev.RunStarted):
            return f"run {event.run_id}: {event.workflow} ({len(event.nodes)} nodes, provider {event.provider})"
        if isinstance(event, ev.NodeStarted):
            return f"  ▶ {event.node_id} started"
        if isinstance(event, ev.NodeRetrying):
            return f"  ↻ {event.node_id} attempt {event.attempt}: {event.reason}"
        if isinstance(event, ev.Decision) and event.verdict not in ("success",):
            return f"  · {event.node_id} [{event.verdict}] {event.reason}"
        if isinstance(event, ev.NodeFinished):
            cached = " (cached)" if event.cached else ""
            if event.restored_from:
                cached = f" (restored from {event.restored_from})"
            return f"  ✔ {event.node_id} succeeded in {_fmt_seconds(event.duration_s)}{cached}"
        if isinstance(event, ev.NodeFailed):
            return f"  ✘ {event.node_id} failed: {event.message}"
        if isinstance(event, ev.NodeSkipped):
            return f"  ⤼ {event.node_id} skipped: {event.reason}"
        if isinstance(event, ev.NodeCancelled):
            return f"  ■ {event.node_id} cancelled: {event.reason}"
        if isinstance(event, ev.NodeWaiting):
            return f"  ⏸ {event.node_id} waiting for a human ({event.request}): {event.reason}"
        return None

    def _draw_board(self) -> None:
        now = time.time()
        lines = []
        for node in self.state.nodes.values():
            label = f"{_SYMBOL[node.status]} {node.id:<28} {node.status.value:<10}"
            extra = f" {_fmt_seconds(node.elapsed(now))}"
            if node.attempts > 1:
                extra += f"  attempt {node.attempts}"
            if node.message and node.status in (
                NodeStatus.FAILED,
                NodeStatus.RETRYING,
                NodeStatus.WAITING,
            ):
                extra += f"  {node.message[:60]}"
            lines.append(self._paint(node.status, label) + extra)
        out = ""
        if self._drawn:
            out += f"\x1b[{self._drawn}F"
        out += "".join(f"\x1b[2K{line}\n" for line in lines)
        self._drawn = len(lines)
        self.stream.write(out)
        self.stream.flush()


_KEYS = {"approve": "a", "reject": "r", "edit": "e", "retry": "t", "accept": "accept"}
"""What to type for each choice; accepting failing code takes the whole word on purpose."""


class TerminalApprover:
    """Asks on the terminal: shows the (sanitized) code, its diff and the payloads, then reads
    the answer without blocking the event loop (other nodes keep running). One question at a
    time; end of input (Ctrl-D) leaves the node waiting."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        who: str | None = None,
        progress: Progress | None = None,
        input_fd: int | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.who = who or default_who()
        self.progress = progress
        self.input_fd = sys.stdin.fileno() if input_fd is None else input_fd
        self._lock: asyncio.Lock | None = None

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.progress is not None:
                self.progress.pause()
            try:
                self._show(request)
                return await self._ask(request)
            except EOFError:
                self._say("no answer (end of input): the node waits; resume the run later")
                return None
            finally:
                if self.progress is not None:
                    self.progress.resume()

    def _say(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _show(self, r: ApprovalRequest) -> None:
        self._say()
        self._say(f"=== {r.node_id}: a human decision is needed (attempt {r.attempt}) ===")
        self._say(r.reason)
        if r.rationale:
            self._say(f"rationale: {r.rationale}")
        for entry in r.log:
            summary = entry.get("summary") or entry.get("reason") or ""
            self._say(f"  attempt {entry.get('attempt')} {entry.get('gate')}: {summary}")
        self._say("--- output ---" if r.kind == "approval" else "--- code ---")
        for i, line in enumerate(r.code.splitlines(), 1):
            self._say(f"{i:4} | {line}")
        if r.diff:
            self._say("--- diff against the previous attempt ---")
            self._say(r.diff)
        if r.payloads:
            self._say(f"--- payloads for {r.target} ---")
            self._say(r.payloads)

    async def _readline(self, prompt: str) -> str:
        self.stream.write(prompt)
        self.stream.flush()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(self.input_fd, 65536)
            except OSError:
                data = b""
            if not done.done():
                done.set_result(data)

        # A reader callback, not input() in a thread: a thread blocked in input() would keep
        # the process alive after Ctrl-C until someone pressed Enter.
        loop.add_reader(self.input_fd, readable)
        try:
            data = await done
        finally:
            loop.remove_reader(self.input_fd)
        if not data:
            raise EOFError
        return data.decode(errors="replace").rstrip("\r\n")

    async def _ask(self, r: ApprovalRequest) -> HumanDecision:
        label = {"reject": "reject/give up"} if r.kind == "exhausted" else {}
        menu = ", ".join(
            f"{label.get(c, c)} [{_KEYS[c]}]" if _KEYS[c] != c else f"{c} [type '{c}']"
            for c in r.choices
        )
        while True:
            answer = (await self._readline(f"{menu}? ")).strip().lower()
            action = next((c for c in r.choices if answer in (c, _KEYS[c])), None)
            if answer == "give up" and "reject" in r.choices:
                action = "reject"
            if action is None:
                self._say(f"please answer one of: {menu}")
                continue
            if action == "approve":
                return HumanDecision("approve", who=self.who, code_sha256=r.code_sha256)
            if action == "reject":
                what = "why (sent to the model)" if r.kind == "approve" else "comment"
                comment = (await self._readline(f"{what}: ")).strip()
                if not comment and r.kind == "approve":
                    self._say("a rejection needs a comment: it tells the model what to change")
                    continue
                return HumanDecision("reject", comment, who=self.who)
            if action == "retry":
                raw = (await self._readline("how many more attempts [1]: ")).strip() or "1"
                if not raw.isdigit() or int(raw) < 1:
                    self._say("a positive number, please")
                    continue
                comment = (await self._readline("note for the model (optional): ")).strip()
                return HumanDecision("retry", comment, who=self.who, extra_attempts=int(raw))
            if action == "edit":
                code = await self._edit(r)
                if code is None:
                    continue
                comment = (await self._readline("what did you change (optional): ")).strip()
                return HumanDecision("edit", comment, who=self.who, code=code)
            comment = (await self._readline("why accept code that failed (optional): ")).strip()
            return HumanDecision("accept", comment, who=self.who, code_sha256=r.code_sha256)

    async def _edit(self, r: ApprovalRequest) -> str | None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix=f"nbworkflow-{r.node_id}-", suffix=".py")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(r.code)
        raw = await self._readline(
            f"edit {name} (the code above), then press Enter (or type another file's path): "
        )
        path = Path(raw.strip() or name)
        try:
            code = path.read_text(encoding="utf-8")
        except OSError as exc:
            self._say(f"cannot read {path}: {exc.strerror}")
            return None
        if not code.strip():
            self._say(f"{path} is empty")
            return None
        return code


def summary_table(state: RunState, run_dir: Path | None = None) -> str:
    """The end-of-run table: each node's status, attempts, duration and tokens."""
    rows = [("node", "status", "attempts", "duration", "tokens in/out")]
    for node in state.nodes.values():
        status = node.status.value + (
            " (restored)" if node.restored_from else " (cached)" if node.cached else ""
        )
        rows.append(
            (
                node.id,
                status,
                str(node.attempts or "-"),
                _fmt_seconds(node.duration_s),
                f"{node.input_tokens}/{node.output_tokens}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = ", ".join(f"{n} {k}" for k, n in sorted(state.counts().items()))
    lines.append("")
    lines.append(
        f"run {state.status.value} in {_fmt_seconds(state.duration_s)}: {counts}; "
        f"tokens {state.input_tokens} in / {state.output_tokens} out"
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


_REDUNDANT = {"time", "attempt", "reason", "gate", "log"}
_MAX_LINES = 15
_MAX_CHARS = 240


def _data_lines(data: dict[str, Any], full: bool) -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        if not full and (key in _REDUNDANT or value in ("", None, [], {})):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines = text.splitlines() or [""]
        if len(lines) == 1:
            line = lines[0]
            if not full and len(line) > _MAX_CHARS:
                line = line[:_MAX_CHARS] + f"... ({len(line) - _MAX_CHARS} more characters; --full)"
            out.append(f"{'':13}{key}: {line}")
            continue
        out.append(f"{'':13}{key}:")
        shown = lines if full else lines[:_MAX_LINES]
        out.extend(f"{'':15}{line}" for line in shown)
        if len(shown) < len(lines):
            out.append(f"{'':15}... ({len(lines) - len(shown)} more lines; --full)")
    return out


def decision_log(events: Sequence[RunEvent], node: str | None = None, *, full: bool = False) -> str:
    """The audit trail of a run (or one node), as readable text; ``full`` keeps every detail."""
    out: list[str] = []
    t0 = next((e.ts for e in events if isinstance(e, ev.RunStarted)), 0.0)
    known = {n.id for e in events if isinstance(e, ev.RunStarted) for n in e.nodes}
    if node is not None and node not in known:
        raise WorkflowError(f"no node '{node}' in this run; nodes: {', '.join(sorted(known))}")
    for e in events:
        node_id = getattr(e, "node_id", None)
        if node is not None and node_id != node:
            continue
        stamp = f"+{e.ts - t0:7.3f}s"
        if isinstance(e, ev.RunStarted):
            out.append(f"{stamp} run {e.run_id} started: {e.workflow} (provider {e.provider})")
        elif isinstance(e, ev.RunFinished):
            out.append(
                f"{stamp} run {e.status.value} ({e.input_tokens}/{e.output_tokens} tokens) {e.message}".rstrip()
            )
        elif isinstance(e, ev.NodeStarted):
            out.append(f"{stamp} {e.node_id}: started")
        elif isinstance(e, ev.ModelCalled):
            out.append(
                f"{stamp} {e.node_id}: model {e.model} ({e.purpose}) "
                f"{e.input_tokens}/{e.output_tokens} tokens in {_fmt_seconds(e.duration_s)}"
            )
        elif isinstance(e, ev.Decision):
            out.append(f"{stamp} {e.node_id}: attempt {e.attempt} [{e.verdict}] {e.reason}")
            out.extend(_data_lines(e.data, full))
        elif isinstance(e, ev.NodeRetrying):
            out.append(f"{stamp} {e.node_id}: retrying (attempt {e.attempt}): {e.reason}")
        elif isinstance(e, ev.NodeFinished):
            out.append(
                f"{stamp} {e.node_id}: succeeded after {e.attempts} attempt(s) -> {e.artifact}"
            )
        elif isinstance(e, ev.NodeFailed):
            out.append(f"{stamp} {e.node_id}: FAILED ({e.error_type}): {e.message}")
        elif isinstance(e, ev.NodeSkipped):
            out.append(f"{stamp} {e.node_id}: skipped: {e.reason}")
        elif isinstance(e, ev.NodeCancelled):
            out.append(f"{stamp} {e.node_id}: cancelled: {e.reason}")
        elif isinstance(e, ev.NodeWaiting):
            out.append(
                f"{stamp} {e.node_id}: WAITING for a human ({e.request}, attempt {e.attempt}): "
                f"{e.reason}; choices: {', '.join(e.choices)}"
            )
            # A person decides on this code: never truncate it.
            shown = {"code": e.code, "diff": e.diff, "payloads": e.payloads}
            out.extend(_data_lines({k: v for k, v in shown.items() if v}, True))
    return "\n".join(out)


# -- commands ------------------------------------------------------------------------------


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--var takes NAME=VALUE, got '{pair}'")
        out[name] = value
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from .spec import load_workflow

    spec = load_workflow(args.file, variables=_variables(args.var))
    order = " -> ".join(spec.topological_order())
    print(f"{args.file}: ok, workflow '{spec.name}' with {len(spec.nodes)} nodes ({order})")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .spec import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _provider_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if getattr(args, "script", None):
        options["script"] = args.script
    if getattr(args, "cassette", None):
        options["cassette"] = args.cassette
    if getattr(args, "record", None):
        options["record"] = args.record
    if getattr(args, "model", None):
        options["model"] = args.model
    return options


def execute(
    spec_path: str | None,
    *,
    provider: str,
    provider_options: dict[str, Any],
    variables: dict[str, str],
    runs_dir: str,
    max_concurrency: int | None = None,
    fail_fast: bool | None = None,
    token_budget: int | None = None,
    sandbox: str | None = None,
    cache: bool = True,
    rerun: Sequence[str] = (),
    resume: str | None = None,
    quiet: bool = False,
    live: bool | None = None,
    stream: IO[str] | None = None,
    approver: Approver | None = None,
    decisions: dict[str, HumanDecision] | None = None,
) -> int:
    """Run (or, with ``resume=RUN``, continue) a workflow with progress and a summary.

    ``approver`` answers approval requests (``None``: nodes that need one wait, exit 4);
    ``decisions`` answer the waiting nodes of the resumed run. Ctrl-C cancels the run
    cleanly. Returns the exit code.
    """
    from .engine import arun_workflow
    from .nodes.base import RunOptions
    from .resume import load_resume_state
    from .spec import load_workflow

    extra: dict[str, Any] = {}
    points: dict[str, dict[str, Any]] = {}
    if resume is not None:
        state = load_resume_state(resume, runs_dir, variables)
        try:
            state.check(decisions or {})
        except WorkflowError as exc:
            raise UsageError(str(exc)) from exc
        extra = {"reuse": state.outputs, "resumed_from": state.old_id, "decisions": decisions}
        spec, points = state.spec, state.points
    else:
        assert spec_path is not None
        spec = load_workflow(spec_path, variables=variables)
    out = stream or sys.stderr
    progress = Progress(out, live=live)
    if isinstance(approver, TerminalApprover):
        approver.progress = progress if progress.live and not quiet else None
    coro = arun_workflow(
        spec,
        provider=provider,
        provider_options=provider_options,
        runs_dir=runs_dir,
        subscribers=[] if quiet else [progress],
        max_concurrency=max_concurrency,
        fail_fast=fail_fast,
        token_budget=token_budget,
        options=RunOptions(sandbox_backend=sandbox, approver=approver, resume_points=points),
        cache=cache,
        rerun=rerun,
        **extra,
    )
    try:
        # asyncio.run turns the first Ctrl-C into cancellation of the run's task, so running
        # nodes and sandboxes see CancelledError and are recorded, then raises KeyboardInterrupt.
        result = asyncio.run(coro)
    except KeyboardInterrupt:
        print("\ninterrupted: the run was cancelled and recorded", file=out)
        if progress.state.run_id:
            print(f"run folder: {Path(runs_dir) / progress.state.run_id}", file=out)
            print(f"continue it with: nbworkflow resume {progress.state.run_id}", file=out)
        return EXIT_INTERRUPTED
    print("", file=out)
    print(summary_table(result.state, result.run_dir), file=out)
    if result.status is RunStatus.WAITING:
        print(waiting_help(result.run_id, result.waiting), file=out)
        return EXIT_WAITING
    return EXIT_OK if result.ok else EXIT_FAILED


def waiting_help(run_id: str, waiting: dict[str, ApprovalRequest]) -> str:
    """How to answer each waiting node from the command line."""
    flags = {
        "approve": "--approve {n}",
        "reject": "--reject {n} --comment TEXT",
        "edit": "--edit {n}=FILE.py",
        "retry": "--retry {n} [--attempts N]",
        "accept": "--accept {n}",
    }
    lines = ["", "waiting for a human decision (the run can be continued):"]
    for node_id, r in waiting.items():
        lines.append(f"  {node_id} (attempt {r.attempt}): {r.reason}")
        lines.append(f"    see the code: nbworkflow log {run_id} --node {node_id}")
        for choice in r.choices:
            lines.append(f"    nbworkflow resume {run_id} {flags[choice].format(n=node_id)}")
    return "\n".join(lines)


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "provider": args.provider,
        "provider_options": _provider_options(args),
        "variables": _variables(args.var),
        "runs_dir": args.runs_dir,
        "max_concurrency": args.max_concurrency,
        "fail_fast": True if args.fail_fast else None,
        "token_budget": args.token_budget,
        "sandbox": args.sandbox,
        "cache": not args.no_cache,
        "rerun": args.rerun,
        "quiet": args.quiet,
        "approver": _approver(args),
    }


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _approver(args: argparse.Namespace) -> Approver:
    if args.auto_approve:
        return AutoApprover()
    if _interactive():
        return TerminalApprover(sys.stderr, who=args.who)
    return PendingApprover()


def _decisions(args: argparse.Namespace) -> dict[str, HumanDecision]:
    """``--approve/--reject/--retry/--edit/--accept NODE`` -> decisions by node id."""
    who = args.who or default_who()
    comment = args.comment or ""
    out: dict[str, HumanDecision] = {}

    def add(node_id: str, decision: HumanDecision) -> None:
        if node_id in out:
            raise UsageError(f"two decisions for node '{node_id}': give one")
        out[node_id] = decision

    if args.reject and not comment:
        raise UsageError("--reject needs --comment TEXT: it tells the model what to change")
    for node_id in args.approve:
        add(node_id, HumanDecision("approve", comment, who=who))
    for node_id in args.reject:
        add(node_id, HumanDecision("reject", comment, who=who))
    for node_id in args.retry:
        add(node_id, HumanDecision("retry", comment, who=who, extra_attempts=args.attempts))
    for node_id in args.accept:
        add(node_id, HumanDecision("accept", comment, who=who))
    for pair in args.edit:
        node_id, sep, file = pair.partition("=")
        if not sep or not node_id or not file:
            raise UsageError(f"--edit takes NODE=FILE.py, got '{pair}'")
        try:
            code = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--edit {pair}: cannot read {file}: {exc.strerror}") from exc
        if not code.strip():
            raise UsageError(f"--edit {pair}: {file} is empty")
        add(node_id, HumanDecision("edit", comment, who=who, code=code))
    if args.attempts < 1:
        raise UsageError("--attempts must be at least 1")
    return out


def cmd_run(args: argparse.Namespace) -> int:
    return execute(args.file, **_run_options(args))


def cmd_resume(args: argparse.Namespace) -> int:
    return execute(None, resume=args.run, decisions=_decisions(args), **_run_options(args))


def cmd_cache(args: argparse.Namespace) -> int:
    from .cache import CACHE_DIRNAME, NodeCache

    cache = NodeCache(Path(args.runs_dir) / CACHE_DIRNAME)
    if args.action == "clear":
        print(f"removed {cache.clear()} entries from {cache.root}")
        return EXIT_OK
    info = cache.info()
    print(
        f"{info.path}: {info.entries} entries, {info.bytes / 1e6:.2f} MB "
        f"(bounded to {info.max_bytes / 1e6:.0f} MB, least recently used evicted first)"
    )
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs under {args.runs_dir}")
        return EXIT_OK
    for r in runs:
        print(
            f"{r.run_id}  {r.status:<10} {r.nodes:>3} nodes  {_fmt_seconds(r.duration_s):>7}  {r.workflow}"
        )
        if r.problem:  # a damaged run is listed, and says what is damaged
            print(f"    ! {r.problem}")
    return EXIT_OK


def cmd_log(args: argparse.Namespace) -> int:
    try:
        run_dir = find_run(args.run, args.runs_dir)
    except WorkflowError as exc:
        raise UsageError(str(exc)) from exc
    events = read_events(run_dir)
    print(decision_log(events, args.node, full=args.full))
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import describe_backends

    for report in describe_backends():
        mark = "active" if report.active else ("available" if report.available else "unavailable")
        print(f"{report.name}: {mark}")
        for line in report.guarantees:
            print(f"    + {line}")
        if report.missing:
            print(f"    - {report.missing}")
    return EXIT_OK


def cmd_sanitize(args: argparse.Namespace) -> int:
    from .sanitize import main as sanitize_main

    return sanitize_main(list(args.rest))


def cmd_staging(args: argparse.Namespace) -> int:
    from .staging import main as staging_main

    return int(staging_main(list(args.rest)) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    """The seed's CRM workflow, offline, against the bundled mock CRM."""
    from .staging import MockCRM

    example = Path(args.example)
    spec = example / "workflow.yaml"
    if not spec.is_file():
        raise WorkflowError(
            f"no example at {spec}: run from the repository root or pass --example DIR"
        )
    with MockCRM(token="staging-demo-token") as crm:
        print(
            f"mock CRM staging API on {crm.url} (contract v{crm.contract.version})", file=sys.stderr
        )
        code = execute(
            str(spec),
            provider=args.provider,
            provider_options=_provider_options(args),
            variables={"STAGING_URL": crm.url, "STAGING_TOKEN": "staging-demo-token"},
            runs_dir=args.runs_dir,
            quiet=args.quiet,
            cache=False,
        )
    runs = list_runs(args.runs_dir)
    if runs:
        print("\ndecision log of adaptive_test_loop:", file=sys.stderr)
        try:
            print(decision_log(read_events(runs[-1].path), "adaptive_test_loop"))
        except WorkflowError as exc:
            print(f"  ({exc})", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbworkflow",
        description="Secure, adaptive, auditable agent workflows (see `nbworkflow COMMAND -h`).",
        epilog="exit codes: 0 ok, 1 run failed, 2 usage/spec error, 3 configuration error, "
        "4 waiting for a human decision, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_runs_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--runs-dir", default=str(DEFAULT_ROOT), help="run folders (default: %(default)s)"
        )

    def add_provider(p: argparse.ArgumentParser, default: str = "auto") -> None:
        p.add_argument(
            "--provider",
            default=default,
            choices=["auto", "scripted", "replay", "anthropic"],
            help="auto: a cassette or script next to the spec, else anthropic (default: %(default)s)",
        )
        p.add_argument("--script", help="answers per node id (YAML/JSON) for --provider scripted")
        p.add_argument("--cassette", help="recorded answers for --provider replay")
        p.add_argument("--record", metavar="CASSETTE", help="record every model call to CASSETTE")
        p.add_argument(
            "--model", help="model for --provider anthropic (overrides nothing in the spec)"
        )

    p = sub.add_parser("validate", help="check a workflow spec; exit 2 with every problem located")
    p.add_argument("file")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of the workflow YAML (for editors)")
    p.add_argument("-o", "--output", help="write to a file instead of stdout")
    p.set_defaults(func=cmd_schema)

    def add_run_options(p: argparse.ArgumentParser) -> None:
        add_provider(p)
        p.add_argument(
            "--var", action="append", default=[], metavar="NAME=VALUE", help="fill ${NAME}"
        )
        p.add_argument("--max-concurrency", type=int)
        p.add_argument(
            "--fail-fast", action="store_true", help="stop everything at the first failure"
        )
        p.add_argument("--token-budget", type=int, help="stop the run past this many tokens")
        p.add_argument(
            "--sandbox",
            choices=["zygote", "bwrap", "docker", "process"],
            help="force a sandbox backend",
        )
        p.add_argument("--no-cache", action="store_true", help="run every node, reuse nothing")
        p.add_argument(
            "--rerun",
            action="append",
            default=[],
            metavar="NODE",
            help="run NODE and its downstream again despite the cache (repeatable)",
        )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")
        p.add_argument(
            "--auto-approve",
            action="store_true",
            help="approve code before staging without asking (never accepts failing code)",
        )
        p.add_argument("--who", help="name recorded with human decisions (default: OS user)")
        add_runs_dir(p)

    p = sub.add_parser("run", help="run a workflow with live progress and a summary")
    p.add_argument("file")
    add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a failed, cancelled, interrupted or waiting run")
    p.add_argument("run", help="run id, unique prefix/suffix, folder or 'last'")
    add_run_options(p)
    g = p.add_argument_group("answers for waiting nodes (see `nbworkflow log RUN --node NODE`)")
    for flag, text in (
        ("--approve", "approve NODE's code before staging (or an approval node's output)"),
        ("--reject", "reject NODE's code; --comment goes to the model (or: give up)"),
        ("--retry", "NODE used up its rewrites: allow --attempts more"),
        ("--accept", "accept NODE's last code as is although it failed its check"),
    ):
        g.add_argument(flag, action="append", default=[], metavar="NODE", help=text)
    g.add_argument(
        "--edit",
        action="append",
        default=[],
        metavar="NODE=FILE.py",
        help="replace NODE's code with FILE.py; it is checked in the sandbox and on staging",
    )
    g.add_argument("--comment", default="", help="why (recorded with the decision)")
    g.add_argument("--attempts", type=int, default=1, help="for --retry (default: 1)")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("cache", help="the node cache: info or clear")
    p.add_argument("action", choices=["info", "clear"])
    add_runs_dir(p)
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser(
        "demo", help="run the seed's CRM workflow offline against the bundled mock CRM"
    )
    p.add_argument(
        "--example", default="examples/crm", help="example folder (default: %(default)s)"
    )
    add_provider(p)
    p.add_argument("-q", "--quiet", action="store_true")
    add_runs_dir(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("runs", help="list recorded runs")
    add_runs_dir(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("log", help="print a run's decision log")
    p.add_argument(
        "run", nargs="?", default="last", help="run id, unique prefix/suffix, folder or 'last'"
    )
    p.add_argument("--node", help="only this node")
    p.add_argument("--full", action="store_true", help="every detail, untruncated")
    add_runs_dir(p)
    p.set_defaults(func=cmd_log)

    p = sub.add_parser("sandbox", help="which sandbox backend is active and what it guarantees")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser(
        "sanitize", help="redact secrets from a file or stdin (`nbworkflow sanitize -h`)"
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_sanitize)

    p = sub.add_parser("staging", help="the mock CRM staging API (`nbworkflow staging serve -h`)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_staging)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nbworkflow {version('nbworkflow')}"
    except PackageNotFoundError:
        return "nbworkflow (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (SpecError, UsageError) as exc:
        print(f"error: {sanitize(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except WorkflowError as exc:
        print(f"error: {sanitize(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `nbworkflow log ... | head`: not an error.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

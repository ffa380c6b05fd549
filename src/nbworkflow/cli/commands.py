"""The commands behind ``nbworkflow``'s subcommands, and ``execute`` (run or resume with
progress, approvals and a summary).

(Over 400 lines: one small function per subcommand, plus ``execute``, which runs and resumes
alike; splitting them would scatter the shared run options.)"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..approval import (
    ApprovalRequest,
    Approver,
    AutoApprover,
    HumanDecision,
    PendingApprover,
    default_who,
)
from ..events import RunStatus
from ..exceptions import WorkflowError
from ..report import log_lines, run_log_lines, runs_table, summary_table
from ..runlog import list_runs, read_events
from ..segments import find_logical_run, list_logical_runs, read_segments
from .approver import TerminalApprover
from .progress import Progress

if TYPE_CHECKING:
    from ..nodes.adaptive.record import ResumePoint

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_WAITING = 4


class UsageError(WorkflowError):
    """A command-line argument is wrong (exit code 2)."""


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--var takes NAME=VALUE, got '{pair}'")
        out[name] = value
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from ..config import build_settings
    from ..spec import load_workflow

    spec = load_workflow(args.file, variables=_variables(args.var))
    try:
        build_settings(spec)  # settings that cannot merge (a node above a ceiling) are spec errors
    except WorkflowError as exc:
        raise UsageError(str(exc)) from exc
    for warning in spec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    order = " -> ".join(spec.topological_order())
    print(f"{args.file}: ok, workflow '{spec.name}' with {len(spec.nodes)} nodes ({order})")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from ..spec import json_schema

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
    cost_budget: float | None = None,
    sandbox: str | None = None,
    model: str | None = None,
    staging: str | None = None,
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
    from ..config import RunOptions
    from ..engine import arun_workflow
    from ..resume import load_resume_state
    from ..spec import load_workflow

    extra: dict[str, Any] = {}
    points: dict[str, ResumePoint] = {}
    if resume is not None:
        state = load_resume_state(resume, runs_dir, variables)
        try:
            state.check(decisions or {})
        except WorkflowError as exc:
            raise UsageError(str(exc)) from exc
        extra = {"reuse": state.outputs, "resumed_from": state.old_id, "decisions": decisions}
        spec, points = state.spec, state.points
        model = model or state.model
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
        options=RunOptions(
            model=model,
            sandbox_backend=sandbox,
            max_concurrency=max_concurrency,
            fail_fast=fail_fast,
            token_budget=token_budget,
            cost_budget=cost_budget,
            approver=approver,
            resume_points=points,
            staging=staging,
        ),
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
    # Each node's reason once: the waiting help says a waiting node's; the live board the rest.
    said = (progress.said if not quiet else set()) | set(result.waiting)
    print(summary_table(result.state, result.run_dir, said=said), file=out)
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
        "cost_budget": args.cost_budget,
        "sandbox": args.sandbox,
        "model": args.model,
        "staging": args.staging,
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
    if args.map is None:
        for flag in ("cluster", "batch_id", "items_at_once"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} goes with --map ITEMS")
        return execute(args.file, **_run_options(args))
    return _run_batch(args)


def _run_batch(args: argparse.Namespace) -> int:
    """``run FILE --map ITEMS``: the workflow once per item; progress per item, not per node."""
    from ..batch.options import batch_lines, exit_code, run_mapped
    from ..config import RunOptions

    opts = _run_options(args)
    if opts["cost_budget"] is not None:  # same rule as the magic's --map
        raise UsageError(
            "--cost-budget with --map: a budget for a whole batch does not exist yet; "
            "`cost_budget:` in the workflow caps each item's run"
        )
    result = run_mapped(
        args.file,
        args.map,
        cluster=args.cluster,
        batch_id=args.batch_id,
        max_concurrency=args.items_at_once,
        provider=opts["provider"],
        provider_options=opts["provider_options"],
        variables=opts["variables"],
        runs_dir=opts["runs_dir"],
        cache=opts["cache"],
        rerun=opts["rerun"],
        options=RunOptions(
            model=opts["model"],
            sandbox_backend=opts["sandbox"],
            max_concurrency=opts["max_concurrency"],
            fail_fast=opts["fail_fast"],
            token_budget=opts["token_budget"],
            staging=opts["staging"],
        ),
    )
    print("\n".join(batch_lines(result)))
    return exit_code(result)


def cmd_resume(args: argparse.Namespace) -> int:
    return execute(None, resume=args.run, decisions=_decisions(args), **_run_options(args))


def cmd_cache(args: argparse.Namespace) -> int:
    from ..cache import CACHE_DIRNAME, NodeCache

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
    runs = list_logical_runs(args.runs_dir)
    if not runs:
        print(f"no runs under {args.runs_dir}")
        return EXIT_OK
    print("\n".join(runs_table(runs)))
    return EXIT_OK


def cmd_log(args: argparse.Namespace) -> int:
    try:
        run = find_logical_run(args.run, args.runs_dir)
    except WorkflowError as exc:
        raise UsageError(str(exc)) from exc
    print("\n".join(run_log_lines(read_segments(run), args.node, full=args.full)))
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    from ..sandbox import describe_backends

    for report in describe_backends():
        mark = "active" if report.active else ("available" if report.available else "unavailable")
        print(f"{report.name}: {mark}")
        for line in report.guarantees:
            print(f"    + {line}")
        if report.missing:
            print(f"    - {report.missing}")
    return EXIT_OK


def cmd_sanitize(args: argparse.Namespace) -> int:
    from ..sanitize.cli import main as sanitize_main

    return sanitize_main(list(args.rest))


def cmd_staging(args: argparse.Namespace) -> int:
    # The staging package is imported only when used (openapi-core and the adaptive prompt).
    from ..staging.command import main as staging_main

    rest = list(args.rest)
    if not rest or rest[0] not in ("serve", "-h", "--help"):
        rest = ["serve", *rest]  # `nbworkflow staging --port N` as before
    return staging_main(["staging", *rest], prog="nbworkflow")


def cmd_chaos(args: argparse.Namespace) -> int:
    from ..chaos.command import main as chaos_main

    return chaos_main(["chaos", *args.rest], prog="nbworkflow")


def cmd_demo(args: argparse.Namespace) -> int:
    """The seed's CRM workflow, offline, against the contract mock of the CRM's document."""
    from ..staging import OpenAPIMock, bundled_example

    example = Path(args.example) if args.example else bundled_example("crm")
    spec = example / "workflow.yaml"
    if not spec.is_file():
        raise WorkflowError(
            f"no example at {spec}: pass --example DIR (a folder with workflow.yaml), or leave "
            "it out for the bundled CRM example"
        )
    document = example / "crm_openapi.yaml"
    if not document.is_file():
        raise WorkflowError(
            f"no OpenAPI document at {document}: the demo's staging API is the contract mock of "
            "the example's crm_openapi.yaml"
        )
    with OpenAPIMock(document, token="staging-demo-token") as crm:
        print(
            f"contract mock of {document.name} on {crm.url} (staged: {crm.operation})",
            file=sys.stderr,
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
            print("\n".join(log_lines(read_events(runs[-1].path), "adaptive_test_loop")))
        except WorkflowError as exc:
            print(f"  ({exc})", file=sys.stderr)
    return code

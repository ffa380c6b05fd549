"""``nbworkflow chaos WORKFLOW --openapi FILE``: heal a workflow's adaptive node through N
seeded mutations of an OpenAPI operation, for nightly CI (JUnit and JSON reports, exit 1 on an
unhealed regression or a rewrite caused by an infrastructure fault)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from ..exceptions import WorkflowError
from ..staging.command import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _fault_options, _rates
from ..staging.document import DocumentError


def add_chaos_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "chaos",
        help="heal a workflow's adaptive node through N seeded contract mutations",
        description="Run WORKFLOW's adaptive node against the contract mock of --openapi, "
        "mutating the staged operation's request schema N times (and injecting faults). "
        "Exit 1 if a regression was not healed or an infrastructure fault caused a rewrite.",
    )
    p.add_argument("workflow", metavar="WORKFLOW", help="workflow YAML with an adaptive node")
    p.add_argument("--openapi", metavar="FILE", required=True, help="OpenAPI 3.0/3.1 document")
    p.add_argument("--operation", metavar='"METHOD /path"', help="staged operation")
    p.add_argument("--node", help="adaptive node to exercise (default: the one with staging)")
    p.add_argument("--mutations", type=int, default=10, metavar="N")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of a 503 per staged request (shorthand for --rate-503)",
    )
    _fault_options(p, "staged request")
    p.add_argument(
        "--storm",
        type=int,
        default=0,
        metavar="K",
        help="answer the first K staged requests of every round with 503",
    )
    p.add_argument(
        "--script",
        metavar="FILE",
        help="scripted answers for the other nodes; the adaptive node is healed by the "
        "built-in deterministic repair agent",
    )
    p.add_argument(
        "--provider",
        help="a real model for every node (a name `nbworkflow run --provider` takes, e.g. anthropic) instead of the "
        "script and the repair agent",
    )
    p.add_argument("--sandbox", help="sandbox backend (bwrap, docker, process)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report (one case a round)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--runs-dir", help="keep the run folders here (default: a temporary folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(func=run_chaos)
    return p


def run_chaos(args: argparse.Namespace) -> int:
    from .runner import arun_chaos, write_outputs

    rates = _rates(args)
    if args.fault_rate:
        rates["503"] = float(args.fault_rate)
    variables: dict[str, str] = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"nbworkflow chaos: --var {item!r}: use NAME=VALUE", file=sys.stderr)
            return EXIT_USAGE
        variables[name] = value
    try:
        report = asyncio.run(
            arun_chaos(
                args.workflow,
                args.openapi,
                operation=args.operation,
                mutations=args.mutations,
                seed=args.seed,
                node=args.node,
                fault_rates=rates,
                storm=args.storm,
                script=args.script,
                provider=args.provider if args.provider not in (None, "scripted") else None,
                variables=variables,
                sandbox_backend=args.sandbox,
                slow_seconds=args.slow_seconds,
                runs_dir=args.runs_dir,
            )
        )
    except (DocumentError, WorkflowError, ValueError, OSError) as exc:
        print(f"nbworkflow chaos: {exc}", file=sys.stderr)
        return EXIT_USAGE
    text = report.text()
    print(text.splitlines()[-1] if args.quiet else text, end="" if not args.quiet else "\n")
    try:
        write_outputs(report, junit=args.junit, json_path=args.json)
    except OSError as exc:
        print(f"nbworkflow chaos: cannot write the report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_FAILED


def build_parser(prog: str = "python -m nbworkflow.chaos") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    add_chaos_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m nbworkflow.chaos") -> int:
    """``python -m nbworkflow.chaos chaos WORKFLOW ...`` (the main CLI's ``nbworkflow chaos``
    comes here, with ``prog``)."""
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


__all__ = ["add_chaos_parser", "build_parser", "main", "run_chaos"]

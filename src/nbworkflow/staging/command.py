"""``nbworkflow staging serve`` and ``nbworkflow chaos``: argparse builders and their runners.

The main CLI wires them with ``add_staging_parser(subparsers)`` / ``add_chaos_parser(subparsers)``
(each sets ``func``); ``python -m nbworkflow.staging`` runs them on their own. Exit codes:
0 ok, 1 a chaos round failed (not healed, or an infrastructure fault caused a rewrite),
2 usage or configuration error (unreadable document or workflow, unknown operation).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..exceptions import WorkflowError
from .document import DocumentError
from .faults import FAULTS
from .server import DEFAULT_PORT, DEFAULT_TOKEN

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fault_options(parser: argparse.ArgumentParser, what: str) -> None:
    for fault in FAULTS:
        parser.add_argument(
            f"--rate-{fault}",
            type=float,
            default=0.0,
            metavar="P",
            help=f"probability of a '{fault}' fault per {what}",
        )
    parser.add_argument(
        "--slow-seconds", type=float, default=5.0, help="how long a 'slow' answer waits"
    )


def _rates(args: argparse.Namespace) -> dict[str, float]:
    return {f: float(getattr(args, f"rate_{f}")) for f in FAULTS if getattr(args, f"rate_{f}")}


def add_staging_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "staging", help="contract mock of an OpenAPI document (`staging serve -h`)"
    )
    sub = p.add_subparsers(dest="staging_command", required=True)
    s = sub.add_parser(
        "serve",
        help="serve an OpenAPI document's operations on loopback, validating requests",
        description="Serve a contract mock: requests are validated by openapi-core (422 with "
        "field-level detail), 2xx bodies are built from the response schema. Without "
        "--openapi: the hand-written mock CRM.",
    )
    s.add_argument("--openapi", metavar="FILE", help="OpenAPI 3.0/3.1 document (YAML or JSON)")
    s.add_argument(
        "--operation",
        metavar='"METHOD /path"',
        help="the operation that gets faults and mutations (default: the only JSON-body one)",
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument(
        "--token",
        default=os.environ.get("STAGING_TOKEN", DEFAULT_TOKEN),
        help="bearer token clients must send (default: $STAGING_TOKEN or staging-demo-token)",
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the mutator and fault rolls")
    s.add_argument(
        "--mutate-every",
        type=int,
        default=None,
        metavar="N",
        help="(hand-written mock CRM only) change the contract after every N POST /users",
    )
    _fault_options(s, "request to the operation")
    s.add_argument("--quiet", action="store_true", help="do not log requests")
    p.set_defaults(func=run_staging)
    return p


def run_staging(args: argparse.Namespace) -> int:
    if args.openapi is None:
        from .server import serve

        try:
            serve(
                args.host,
                args.port,
                token=args.token,
                seed=args.seed,
                mutate_every=args.mutate_every,
                fault_rates=_rates(args),
                slow_seconds=args.slow_seconds,
                quiet=args.quiet,
            )
        except (OSError, ValueError) as exc:
            print(f"nbworkflow staging serve: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK
    from .mock import OpenAPIMock

    if args.mutate_every is not None:
        print(
            "nbworkflow staging serve: --mutate-every needs the hand-written mock (no "
            "--openapi); mutate a document with POST /_chaos/mutate",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        target = OpenAPIMock(
            args.openapi,
            args.operation,
            host=args.host,
            port=args.port,
            token=args.token,
            seed=args.seed,
            fault_rates=_rates(args),
            slow_seconds=args.slow_seconds,
            quiet=args.quiet,
        )
        target.bind()
    except (OSError, ValueError) as exc:
        print(f"nbworkflow staging serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"contract mock of {args.openapi} on {target.url} (staged: {target.operation}); "
        f"OpenAPI at {target.url}/openapi.json; Ctrl-C to stop",
        flush=True,
    )
    target.serve_forever()
    return EXIT_OK


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
    from .chaos import arun_chaos, write_outputs

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nbworkflow.staging")
    sub = parser.add_subparsers(dest="command", required=True)
    add_staging_parser(sub)
    add_chaos_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nbworkflow.staging staging serve ...`` / ``... chaos WORKFLOW ...``."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


__all__ = [
    "add_chaos_parser",
    "add_staging_parser",
    "build_parser",
    "main",
    "run_chaos",
    "run_staging",
]

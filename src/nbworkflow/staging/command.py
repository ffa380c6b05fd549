"""``nbworkflow staging serve`` and ``nbworkflow chaos``: argparse builders and their runners.

The main CLI wires them with ``add_staging_parser(subparsers)`` / ``add_chaos_parser(subparsers)``
(each sets ``func``); ``python -m nbworkflow.staging`` runs them on their own. Exit codes:
0 ok, 1 a chaos round failed (not healed, or an infrastructure fault caused a rewrite),
2 usage or configuration error (unreadable document or workflow, unknown operation).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
        "--openapi: the bundled CRM's document (examples/crm/crm_openapi.yaml).",
    )
    s.add_argument(
        "--openapi",
        metavar="FILE",
        help="OpenAPI 3.0/3.1 document, YAML or JSON (default: the bundled CRM's)",
    )
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
        help="change the staged operation's request schema after every N requests to it",
    )
    _fault_options(s, "request to the operation")
    s.add_argument("--quiet", action="store_true", help="do not log requests")
    p.set_defaults(func=run_staging)
    return p


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    openapi: str | Path | None = None,
    operation: str | None = None,
    token: str = DEFAULT_TOKEN,
    seed: int = 0,
    mutate_every: int | None = None,
    fault_rates: Mapping[str, float] | None = None,
    slow_seconds: float = 5.0,
    quiet: bool = False,
) -> None:
    """Serve the contract mock of ``openapi`` (default: the bundled CRM's document) in the
    foreground until Ctrl-C: what ``nbworkflow staging serve`` runs. ``DocumentError`` (a
    ``ValueError``) or ``OSError`` when it cannot start."""
    from .bundled import bundled_document
    from .mock import OpenAPIMock

    document = bundled_document("crm") if openapi is None else openapi
    target = OpenAPIMock(
        document,
        operation,
        host=host,
        port=port,
        token=token,
        seed=seed,
        mutate_every=mutate_every,
        fault_rates=fault_rates,
        slow_seconds=slow_seconds,
        quiet=quiet,
    )
    target.bind()
    print(
        f"contract mock of {document} on {target.url} (staged: {target.operation}, seed "
        f"{seed}); OpenAPI at {target.url}/openapi.json; Ctrl-C to stop",
        flush=True,
    )
    target.serve_forever()


def run_staging(args: argparse.Namespace) -> int:
    try:
        serve(
            args.host,
            args.port,
            openapi=args.openapi,
            operation=args.operation,
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


def build_parser(prog: str = "python -m nbworkflow.staging") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    add_staging_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m nbworkflow.staging") -> int:
    """``python -m nbworkflow.staging staging serve ...`` (the main CLI's ``nbworkflow staging``
    comes here, with ``prog``)."""
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``nbworkflow staging serve [options]``'s arguments alone (a leading ``serve`` is
    accepted): what ``nbworkflow.staging.main`` has always taken."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        args_list = args_list[1:]
    return main(["staging", "serve", *args_list])


__all__ = [
    "add_staging_parser",
    "build_parser",
    "main",
    "run_staging",
    "serve",
    "serve_main",
]

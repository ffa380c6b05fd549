"""The command line's parser and ``main`` (what ``nbworkflow`` runs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..agents import PROVIDERS
from ..config import usd_option
from ..exceptions import SpecError, WorkflowError
from ..runlog import DEFAULT_ROOT
from ..sanitize import sanitize
from .commands import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    cmd_cache,
    cmd_chaos,
    cmd_demo,
    cmd_log,
    cmd_resume,
    cmd_run,
    cmd_runs,
    cmd_sandbox,
    cmd_sanitize,
    cmd_schema,
    cmd_staging,
    cmd_validate,
)


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
            choices=list(PROVIDERS),
            help="auto: a cassette or script next to the spec, else the vendors the model "
            "strings name (a bare name: anthropic); a vendor name makes it the vendor of bare "
            "model names (default: %(default)s)",
        )
        p.add_argument("--script", help="answers per node id (YAML/JSON) for --provider scripted")
        p.add_argument("--cassette", help="recorded answers for --provider replay")
        p.add_argument("--record", metavar="CASSETTE", help="record every model call to CASSETTE")
        p.add_argument(
            "--model", help="model of every request of the run (overrides the spec and its nodes)"
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
            "--cost-budget",
            type=usd_option,
            metavar="USD",
            help="stop the run past this many US dollars of model calls (e.g. 2.50)",
        )
        p.add_argument(
            "--sandbox",
            choices=["zygote", "bwrap", "docker", "process"],
            help="force a sandbox backend",
        )
        p.add_argument(
            "--staging",
            metavar="URL|openapi:FILE[#METHOD /path]",
            help="staging API of adaptive nodes that name none: the endpoint's URL, or start the "
            "contract mock of an OpenAPI document for the run (default: $STAGING_URL)",
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
    g = p.add_argument_group("many inputs (`${item.field}` in the workflow; docs/batch.md)")
    g.add_argument("--map", metavar="ITEMS", help="run once per item of a .jsonl or .csv file")
    g.add_argument(
        "--cluster",
        metavar="local|ADDRESS",
        help="run the items on Dask: 'local' starts a LocalCluster, else a scheduler address "
        "(default: one event loop here)",
    )
    g.add_argument(
        "--batch-id",
        metavar="ID",
        help="resume that batch: items that succeeded are not run again",
    )
    g.add_argument(
        "--items-at-once", type=int, metavar="N", help="items in flight at once (default: 32)"
    )
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
        "demo", help="run the seed's CRM workflow offline against the contract mock of its API"
    )
    p.add_argument(
        "--example",
        default=None,
        help="example folder with workflow.yaml and crm_openapi.yaml (default: the bundled CRM)",
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

    p = sub.add_parser(
        "staging",
        help="contract mock of an OpenAPI document, the CRM's by default "
        "(`nbworkflow staging serve -h`)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_staging)

    p = sub.add_parser(
        "chaos",
        help="mutate an OpenAPI operation N times and check the adaptive node heals each "
        "(`nbworkflow chaos -h`)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_chaos)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nbworkflow {version('nbworkflow')}"
    except PackageNotFoundError:
        return "nbworkflow (not installed)"


PASSTHROUGH = {"sanitize": cmd_sanitize, "staging": cmd_staging, "chaos": cmd_chaos}
"""Commands with a parser of their own: everything after the name is theirs, ``-h`` included
(argparse's REMAINDER does not take an option that comes first)."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        args = argparse.Namespace(command=argv[0], rest=argv[1:], func=PASSTHROUGH[argv[0]])
    else:
        args = build_parser().parse_args(argv)
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

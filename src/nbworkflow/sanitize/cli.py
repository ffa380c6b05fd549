"""``nbworkflow sanitize FILE|-``: the sanitizer's own command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Sanitize a file (or stdin with ``-``) to stdout."""
    parser = argparse.ArgumentParser(
        prog="nbworkflow sanitize", description="Redact credentials and home paths from text."
    )
    parser.add_argument("file", help="file to sanitize, or - for stdin")
    parser.add_argument("--max-chars", type=int, default=None, help="keep head and tail only")
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="VAR",
        help="also redact the value of this environment variable (repeatable)",
    )
    args = parser.parse_args(argv)
    from . import sanitize  # the package's function (this module loads with the package)

    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            print(f"nbworkflow sanitize: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    extra = [os.environ[name] for name in args.secret_env if os.environ.get(name)]
    sys.stdout.write(sanitize(text, extra, max_chars=args.max_chars))
    return 0

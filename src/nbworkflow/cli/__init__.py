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

from ..report import summary_table
from .approver import TerminalApprover
from .commands import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_WAITING,
    UsageError,
    execute,
    waiting_help,
)
from .parser import build_parser, main
from .progress import Progress

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "Progress",
    "TerminalApprover",
    "UsageError",
    "build_parser",
    "execute",
    "main",
    "summary_table",
    "waiting_help",
]

"""``adaptive`` nodes: run generated code in the sandbox, check it against staging, heal it.

The package's rooms: ``loop`` (the retry loop), ``prepare`` and ``infer`` (before the first
attempt: what the spec leaves out, inferred and logged), ``people`` (approvals, exhausted rewrites,
resuming a waiting node), ``state`` (where the loop is), ``attempt`` (one attempt: sandbox,
tests, staging), ``staging`` (the HTTP client: total deadline, bounded body), ``prompt`` (the
rewrite prompt and its shared section names), ``record`` (the typed decision-log entry and
resume point). See ``loop`` for what the gate's verdicts mean.
"""

from __future__ import annotations

from ...config import INFRA_BACKOFF_MAX_S, INFRA_BACKOFF_S
from .attempt import SandboxOutcome, SandboxPort, default_sandbox
from .loop import AdaptiveLoop, decision_log, make_adaptive_handler, run_adaptive
from .prompt import SECTIONS
from .record import LOG_KEYS, AttemptRecord, ResumePoint, WaitPoint

__all__ = [
    "INFRA_BACKOFF_MAX_S",
    "INFRA_BACKOFF_S",
    "LOG_KEYS",
    "SECTIONS",
    "AdaptiveLoop",
    "AttemptRecord",
    "ResumePoint",
    "SandboxOutcome",
    "SandboxPort",
    "WaitPoint",
    "decision_log",
    "default_sandbox",
    "make_adaptive_handler",
    "run_adaptive",
]

"""The gate: what one attempt of an adaptive node means, as a pure function of its outcome.

Only a problem *with the code* is sent back to the model. A flaky dependency is retried with the
same code, and a misconfiguration stops the node with the fix named; neither ever costs a
rewrite::

    outcome                                          verdict    what happens
    code raised / sandbox stopped it / tests fail    ADAPT      model rewrites (counts)
    HTTP 400, 413, 422                               ADAPT      model rewrites (counts)
    HTTP 408, 425, 429, 5xx; timeout, refused, reset INFRA      same code again, with backoff
    HTTP 3xx, 401, 403, 404, 405, other 4xx          CONFIG     stop: fix the URL/token/method
    HTTP 2xx (or no staging) and no failure          SUCCESS    done
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    """What the orchestrator does after an attempt."""

    SUCCESS = "success"
    ADAPT = "adapt"
    """The code is wrong: ask the model for a rewrite (counts against ``max_retries``)."""
    INFRA = "infra"
    """The staging target is unavailable: retry the same code later, never rewrite it."""
    CONFIG = "config"
    """The request is refused for reasons code cannot fix: stop and say what to change."""


class LoggedVerdict(enum.StrEnum):
    """The ``Decision.verdict`` of an adaptive attempt's decision-log entry: the gate's verdict,
    or what a person or the loop made of it. Readers (the decision log, the reports) filter on
    these rather than on strings of their own."""

    SUCCESS = Verdict.SUCCESS.value
    ADAPT = Verdict.ADAPT.value
    CONFIG = Verdict.CONFIG.value
    STAGING_UNAVAILABLE = "staging-unavailable"
    """``Verdict.INFRA`` after the last infrastructure retry."""
    REJECTED = "rejected"
    """A person rejected (or replaced) the code before staging."""
    SURFACED = "surfaced"
    """No rewrite left: handed to a person (or failed)."""


LOGGED_VERDICTS = frozenset(v.value for v in LoggedVerdict)
"""Verdicts whose ``Decision.data`` is a whole attempt record (``decision_log``)."""


class ErrorKind(enum.StrEnum):
    """What went wrong before (or instead of) an HTTP status."""

    EXCEPTION = "exception"
    """The generated code raised."""
    SANDBOX_STOPPED = "sandbox_stopped"
    """The sandbox stopped the code (``SandboxResult.stopped`` names the exact cause)."""
    BAD_OUTPUT = "bad_output"
    """The code returned something that cannot be sent (not JSON-serializable)."""
    TIMEOUT = "timeout"
    """The staging request timed out."""
    CONNECT = "connect"
    """The staging target refused the connection (or its name did not resolve)."""
    RESET = "reset"
    """The connection was dropped without an answer."""


CODE_ERRORS = frozenset({ErrorKind.EXCEPTION, ErrorKind.SANDBOX_STOPPED, ErrorKind.BAD_OUTPUT})
TRANSPORT_ERRORS = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECT, ErrorKind.RESET})
ADAPT_STATUSES = frozenset({400, 413, 422})
INFRA_STATUSES = frozenset({408, 425, 429})

_CONFIG_HINTS = {
    401: "the staging target rejected the credentials: check the Authorization header "
    "(e.g. STAGING_TOKEN) in the node's staging.headers",
    403: "the staging credentials lack permission for this endpoint: use a token with access",
    404: "the staging URL does not exist: check staging.url (e.g. STAGING_URL and the path)",
    405: "the staging endpoint does not accept this method: check staging.method",
}


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reason: str
    """One sentence for the decision log (no secrets: built from the status and kinds only)."""


def classify(
    status: int | None,
    *,
    error_kind: ErrorKind | str | None = None,
    tests_failed: bool = False,
) -> GateDecision:
    """Decide what one attempt's outcome means.

    ``status`` is the staging answer (``None`` when no request was answered or none was sent),
    ``error_kind`` what went wrong instead (see ``ErrorKind``), ``tests_failed`` whether the
    node's test suite failed in the sandbox.
    """
    kind = ErrorKind(error_kind) if error_kind is not None else None
    if kind in CODE_ERRORS:
        what = {
            ErrorKind.EXCEPTION: "the generated code raised an exception",
            ErrorKind.SANDBOX_STOPPED: "the sandbox stopped the generated code (a limit or an early exit)",
            ErrorKind.BAD_OUTPUT: "the generated code returned a value that cannot be sent as JSON",
        }[kind]
        return GateDecision(Verdict.ADAPT, f"{what}: rewrite the code")
    if kind in TRANSPORT_ERRORS:
        what = {
            ErrorKind.TIMEOUT: "the staging request timed out",
            ErrorKind.CONNECT: "the staging target refused the connection",
            ErrorKind.RESET: "the staging target dropped the connection",
        }[kind]
        return GateDecision(Verdict.INFRA, f"{what}: infrastructure, retry the same code")
    if status is None:
        if tests_failed:
            return GateDecision(Verdict.ADAPT, "tests failed: rewrite the code")
        return GateDecision(Verdict.SUCCESS, "the code ran on every sample and the tests passed")
    if status in INFRA_STATUSES or 500 <= status <= 599:
        return GateDecision(
            Verdict.INFRA, f"HTTP {status} from staging: infrastructure, retry the same code"
        )
    if status in _CONFIG_HINTS:
        return GateDecision(Verdict.CONFIG, f"HTTP {status}: {_CONFIG_HINTS[status]}")
    if 200 <= status <= 299:
        if tests_failed:
            return GateDecision(
                Verdict.ADAPT, f"staging accepted the payload (HTTP {status}) but tests failed"
            )
        return GateDecision(Verdict.SUCCESS, f"staging accepted every payload (HTTP {status})")
    if status in ADAPT_STATUSES:
        return GateDecision(
            Verdict.ADAPT, f"HTTP {status}: staging rejected the payload, rewrite the code"
        )
    if 300 <= status <= 399:
        return GateDecision(
            Verdict.CONFIG,
            f"HTTP {status}: the staging URL redirects; point staging.url at the final address",
        )
    if 400 <= status <= 499:
        return GateDecision(
            Verdict.CONFIG,
            f"HTTP {status}: staging refused the request for a reason code changes cannot fix; "
            "check the node's staging settings",
        )
    return GateDecision(Verdict.CONFIG, f"HTTP {status}: unexpected status from staging")


__all__ = [
    "ADAPT_STATUSES",
    "CODE_ERRORS",
    "INFRA_STATUSES",
    "LOGGED_VERDICTS",
    "TRANSPORT_ERRORS",
    "ErrorKind",
    "GateDecision",
    "LoggedVerdict",
    "Verdict",
    "classify",
]

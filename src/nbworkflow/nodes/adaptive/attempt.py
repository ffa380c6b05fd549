"""One attempt: the node's tests and one sandboxed call per sample, then staging.

The generated code never runs in this process: ``SandboxPort`` is what the attempt needs from
``nbworkflow.sandbox`` (``default_sandbox`` configures the real one from the node's merged
``SandboxSettings``; tests inject a double through ``RunOptions.sandbox_port``). Each produced
payload is sent to staging from here, so the code needs no network.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ... import boundedjson
from ...config import SandboxSettings
from ...text import clip
from ..gate import ErrorKind
from .prompt import MAX_ERROR_CHARS
from .staging import Reply, StagingClient


class SandboxErrorInfo(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def traceback(self) -> str: ...
    @property
    def lineno(self) -> int | None: ...


class SandboxOutcome(Protocol):
    """The part of ``nbworkflow.sandbox.SandboxResult`` the loop reads."""

    @property
    def ok(self) -> bool: ...
    @property
    def value(self) -> Any: ...
    @property
    def stderr(self) -> str: ...
    @property
    def error(self) -> SandboxErrorInfo | None: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def stopped(self) -> str | None: ...
    @property
    def backend(self) -> str: ...


RunSample = Callable[[str, str, Any], Awaitable[SandboxOutcome]]
"""``(code, entrypoint, sample) -> outcome``: call ``entrypoint(sample)`` in the sandbox."""
RunTests = Callable[[str, str], Awaitable[SandboxOutcome]]
"""``(code, tests) -> outcome`` whose value is ``{"passed": [...], "failed": [...]}``."""


@dataclass(frozen=True)
class SandboxPort:
    run_sample: RunSample
    run_tests: RunTests


def sandbox_record(settings: SandboxSettings) -> dict[str, Any]:
    """The attempt's sandbox settings for the decision log, with the limits the sandbox derives
    from them (the CPU limit follows the timeout; the memory of the whole tree)."""
    from dataclasses import asdict

    from ... import sandbox as sb

    limits = sb.effective_limits(settings.timeout, sb.SandboxLimits(memory_mb=settings.memory_mb))
    return {**settings.record(), "limits": asdict(limits)}


def default_sandbox(settings: SandboxSettings) -> SandboxPort:
    """The real sandbox, configured from a node's effective ``SandboxSettings``."""
    from ... import sandbox as sb

    limits = sb.SandboxLimits(memory_mb=settings.memory_mb)

    async def run_sample(code: str, entrypoint: str, sample: Any) -> SandboxOutcome:
        return await sb.arun_code(
            code,
            entrypoint,
            args=[sample],
            timeout=settings.timeout,
            limits=limits,
            backend=settings.backend,
            isolation=settings.isolation,
        )

    async def run_tests(code: str, tests: str) -> SandboxOutcome:
        return await sb.arun_tests(
            code,
            tests,
            timeout=settings.timeout,
            limits=limits,
            backend=settings.backend,
            isolation=settings.isolation,
        )

    return SandboxPort(run_sample, run_tests)


@dataclass
class Exchange:
    """One sample's trip: sandbox, then (maybe) staging."""

    sample: int
    sandbox: dict[str, Any]
    reply: Reply | None = None
    error_kind: ErrorKind | None = None
    infra_retries: int = 0

    @property
    def status(self) -> int | None:
        return self.reply.status if self.reply else None

    @property
    def body(self) -> str:
        return self.reply.body if self.reply else ""

    def http_record(self) -> dict[str, Any]:
        reply = self.reply or Reply()
        return {
            "sample": self.sample,
            "status": reply.status,
            "error_kind": self.error_kind.value if self.error_kind else None,
            "infra_retries": self.infra_retries,
            "bytes_read": reply.bytes_read,
            "truncated": reply.truncated,
            "deadline_hit": reply.deadline_hit,
        }


@dataclass
class Outcome:
    exchanges: list[Exchange] = field(default_factory=list)
    tests: dict[str, Any] | None = None
    tests_failed: bool = False
    status: int | None = None
    error_kind: ErrorKind | None = None
    errors: list[str] = field(default_factory=list)
    """Sanitized error sections, Markdown, in the order they happened."""
    summary: list[str] = field(default_factory=list)
    """One short phrase per problem, for the decision log's one-line view."""
    infra_retries: int = 0
    human: Any = None
    """The ``HumanDecision`` when a person rejected or replaced the code before staging."""

    def error_text(self) -> str:
        return "\n\n".join(self.errors)

    def http_records(self) -> list[dict[str, Any]]:
        return [
            ex.http_record()
            for ex in self.exchanges
            if ex.status is not None
            or ex.error_kind in (ErrorKind.TIMEOUT, ErrorKind.CONNECT, ErrorKind.RESET)
        ]


ApprovalHook = Callable[[list[tuple[int, Any]]], Awaitable[Any]]
"""Called with the payloads about to be sent; returns the person's ``HumanDecision`` (or raises
``WaitingForHuman``)."""
InfraHook = Callable[[Exchange, int, Reply, float, str], None]
"""``(exchange, try_number, reply, delay_s, reason)``: an infrastructure retry is coming."""


def pretty_body(text: str) -> tuple[str, str]:
    """(fence language, body) with JSON pretty-printed so the model and the log can read it.

    The body is the staging server's: JSON nested past ``boundedjson.MAX_DEPTH`` stays text
    (decoding and indenting it recurse once per level)."""
    try:
        return "json", json.dumps(boundedjson.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return "text", text


class AttemptRunner:
    """Runs one attempt of a node's code (sandbox, tests, staging) into an ``Outcome``."""

    def __init__(
        self,
        sandbox: SandboxPort,
        *,
        entrypoint: str | None,
        samples: list[Any],
        tests: str | None,
        sanitize: Callable[[str], str],
    ) -> None:
        self.sandbox = sandbox
        self.entrypoint = entrypoint
        self.samples = samples
        self.tests = tests
        self.sanitize = sanitize

    async def run(
        self,
        code: str,
        staging: StagingClient | None,
        on_infra: InfraHook,
        ask: ApprovalHook | None = None,
    ) -> Outcome:
        out = Outcome()
        if self.tests is not None:
            await self._run_tests(code, out)
        payloads: list[tuple[int, Any]] = []
        for i, sample in enumerate(self.samples):
            assert self.entrypoint is not None
            result = await self.sandbox.run_sample(code, self.entrypoint, sample)
            ex = Exchange(sample=i, sandbox=self.sandbox_info(i, result))
            out.exchanges.append(ex)
            if not result.ok:
                kind = ErrorKind.SANDBOX_STOPPED if result.stopped else ErrorKind.EXCEPTION
                ex.error_kind = out.error_kind = kind
                out.errors.append(self._exception_section(i, result))
                err = result.error
                where = f" at line {err.lineno}" if err and err.lineno else ""
                what = f"{err.type}: {err.message}" if err else f"stopped ({result.stopped})"
                out.summary.append(f"sample {i} raised {what}{where}"[:200])
                break
            try:
                json.dumps(result.value)
            except (TypeError, ValueError) as exc:
                ex.error_kind = out.error_kind = ErrorKind.BAD_OUTPUT
                out.summary.append(f"sample {i} returned a value that is not JSON")
                out.errors.append(
                    f"## Output of sample {i} cannot be sent\n{self.sanitize(str(exc))}"
                )
                break
            payloads.append((i, result.value))
        if out.error_kind is not None or staging is None:
            return out
        if ask is not None:
            # Only code that ran cleanly in the sandbox (and passed its tests) is shown to a
            # person; nothing reaches staging before they approve it.
            if out.tests_failed:
                return out
            decision = await ask(payloads)
            if decision.action != "approve":
                out.human = decision
                return out
        for i, payload in payloads:
            ex = out.exchanges[i]

            def retrying(
                n: int, reply: Reply, delay: float, reason: str, ex: Exchange = ex
            ) -> None:
                on_infra(ex, n, reply, delay, reason)

            ex.reply, ex.infra_retries = await staging.send_with_retries(payload, retrying)
            ex.error_kind = ex.reply.error_kind
            out.infra_retries += ex.infra_retries
            out.status, out.error_kind = ex.status, ex.error_kind
            if ex.error_kind is not None or ex.status is None or not 200 <= ex.status <= 299:
                out.summary.append(self._http_summary(ex))
                if ex.body:
                    lang, body = pretty_body(ex.body)
                    out.errors.append(
                        f"## Staging response to sample {i}: HTTP {ex.status}\n"
                        f"```{lang}\n{self.sanitize(body)}\n```"
                    )
                elif ex.error_kind is not None:
                    out.errors.append(
                        f"## Staging request for sample {i} failed: {ex.error_kind.value}"
                    )
                break
        return out

    async def _run_tests(self, code: str, out: Outcome) -> None:
        assert self.tests is not None
        result = await self.sandbox.run_tests(code, self.tests)
        # A failing suite is ok=False with a value; a suite that could not run has no failures.
        value = result.value if isinstance(result.value, dict) else None
        if value is None or (not result.ok and not value.get("failed")):
            out.tests_failed = True
            out.summary.append("the test suite could not run")
            out.tests = {"passed": [], "failed": [], "error": self.sandbox_info(-1, result)}
            out.errors.append("## The test suite could not run\n" + self._exception_text(result))
            return
        passed = [str(n) for n in value.get("passed", [])]
        failed = [
            {
                "name": str(f.get("name", "?")),
                "error": clip(self.sanitize(str(f.get("error", ""))), 1500, middle=True),
                "lineno": f.get("lineno"),
            }
            for f in value.get("failed", [])
            if isinstance(f, dict)
        ]
        out.tests = {"passed": passed, "failed": failed}
        if failed:
            out.tests_failed = True
            out.summary.append(
                f"{len(failed)} failing test(s): " + ", ".join(str(f["name"]) for f in failed)
            )
            lines = [
                f"- {f['name']}"
                + (f" (line {f['lineno']})" if f["lineno"] else "")
                + f": {f['error']}"
                for f in failed
            ]
            out.errors.append(
                f"## Failing tests ({len(failed)} of {len(failed) + len(passed)})\n"
                + "\n".join(lines)
            )

    @staticmethod
    def sandbox_info(sample: int, result: SandboxOutcome) -> dict[str, Any]:
        err = result.error
        return {
            "sample": sample,
            "ok": result.ok,
            "backend": result.backend,
            "duration_s": round(result.duration_s, 4),
            "stopped": result.stopped,
            "error_type": err.type if err else None,
            "lineno": err.lineno if err else None,
        }

    def _exception_text(self, result: SandboxOutcome) -> str:
        err = result.error
        parts: list[str] = []
        if err is not None:
            parts.append(err.traceback or f"{err.type}: {err.message}")
            if err.lineno:
                parts.append(f"(raised at line {err.lineno} of the code)")
        if result.stopped:
            from ...sandbox import STOP_TEXT

            parts.append(f"The sandbox stopped the code: {STOP_TEXT[result.stopped]}.")
        if result.stderr.strip():
            parts.append("stderr:\n" + clip(result.stderr, 1500, middle=True))
        text = "\n".join(parts) or "the code failed without an error message"
        return f"```text\n{self.sanitize(clip(text, MAX_ERROR_CHARS, middle=True))}\n```"

    def _exception_section(self, sample: int, result: SandboxOutcome) -> str:
        return f"## Exception in the sandbox (sample {sample})\n" + self._exception_text(result)

    def _http_summary(self, ex: Exchange) -> str:
        if ex.status is None:
            kind = ex.error_kind.value if ex.error_kind else "no answer"
            return f"sample {ex.sample}: staging {kind}"
        message = ""
        try:
            body = boundedjson.loads(ex.body)
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("error") or "")
        except ValueError:
            message = ex.body.strip().splitlines()[0] if ex.body.strip() else ""
        text = f"sample {ex.sample}: HTTP {ex.status}" + (f" {message}" if message else "")
        return self.sanitize(text[:240])


__all__ = [
    "ApprovalHook",
    "AttemptRunner",
    "Exchange",
    "Outcome",
    "SandboxOutcome",
    "SandboxPort",
    "default_sandbox",
]

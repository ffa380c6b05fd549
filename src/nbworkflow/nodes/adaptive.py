"""``adaptive`` nodes: run generated code in the sandbox, check it against staging, heal it.

One attempt = the node's tests and one sandboxed call of the entrypoint per sample (never in this
process), then each produced payload is sent to the staging target from here (so generated code
needs no network). The gate (``nodes.gate``) decides what the outcome means:

* success: the code is the node's output;
* adapt (a 400/422, an exception, failing tests): the sanitized error and the current code go to
  the model, whose validated ``{rationale, code}`` is the next attempt (``max_retries`` of them);
  after the last one the node fails "surfaced to a human" with the whole decision log;
* infra (408/429/5xx, timeouts, refused or reset connections): the same request is retried with
  jittered exponential backoff, at most ``staging.infra_retries`` times, never rewritten; if it
  stays down the node fails with "staging unavailable";
* config (401/403/404/...): the node stops and says what to fix.

People (``nbworkflow.approval``): with ``approve: true`` each attempt whose code ran cleanly in
the sandbox is shown (code, diff, payloads) to ``RunOptions.approver`` before anything is sent to
staging: approve sends it; reject sends the comment to the model as the reason for a rewrite
(counted against ``max_retries``); edit makes the person's code the next attempt (checked, not
re-approved). When the rewrites are used up and an approver is set, it chooses: retry (more
rewrites), edit, accept as is (the node succeeds, marked ``accepted-by-human``) or reject (the
node fails "surfaced to a human", as it does when no approver is set). An approver that cannot
answer now makes the node wait; ``resume`` continues it from the same attempt.

Every attempt publishes a ``Decision`` whose ``data`` is the decision log entry (see
``LOG_KEYS``); every attempt's code is saved as an artifact ``<node>.attempt<n>``.

``RunOptions.extra`` knobs (tests, benchmarks): ``infra_backoff_s`` / ``infra_backoff_max_s``
(backoff base and cap), ``adaptive_sandbox`` (a ``SandboxPort`` replacing the real sandbox),
``staging_transport`` (an ``httpx`` transport, e.g. ``MockTransport``).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from ..agents.base import Message
from ..agents.structured import CodeAnswer
from ..approval import ApprovalRequest, HumanDecision, ask
from ..events import Decision
from ..exceptions import NodeFailed, StagingError, WorkflowError
from ..spec import SandboxOptions, StagingSpec
from .base import NodeContext, NodeHandler, NodeOutput
from .gate import ErrorKind, GateDecision, Verdict, classify

INFRA_BACKOFF_S = 0.5
"""First infrastructure retry waits about this long (then doubling, with jitter); tests lower
it with ``RunOptions(extra={"infra_backoff_s": ...})``."""
INFRA_BACKOFF_MAX_S = 8.0
"""No single infrastructure wait is longer (``extra["infra_backoff_max_s"]``)."""
MAX_ERROR_CHARS = 6000
"""Longest error text (sanitized) that goes to the model and the log."""
MAX_DIFF_CHARS = 6000
MAX_BODY_CHARS = 8000

LOG_KEYS = (
    "time",
    "attempt",
    "code_sha256",
    "diff",
    "artifact",
    "sandbox",
    "tests",
    "http_status",
    "http",
    "gate",
    "reason",
    "summary",
    "error",
    "rationale",
    "tokens",
    "infra_retries",
)
"""Keys of every per-attempt decision log entry (``Decision.data``)."""


# ---------------------------------------------------------------------------------------------
# The sandbox port: what the loop needs from ``nbworkflow.sandbox`` (injectable for tests)
# ---------------------------------------------------------------------------------------------


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


def default_sandbox(ctx: NodeContext) -> SandboxPort:
    """The real sandbox, configured from the node's (or workflow's) ``sandbox`` options."""
    from .. import sandbox as sb

    opts: SandboxOptions = ctx.node.sandbox or ctx.spec.sandbox
    backend = ctx.options.sandbox_backend or opts.backend
    limits = sb.SandboxLimits(memory_mb=opts.memory_mb)

    async def run_sample(code: str, entrypoint: str, sample: Any) -> SandboxOutcome:
        return await sb.arun_code(
            code,
            entrypoint,
            args=[sample],
            timeout=opts.timeout,
            limits=limits,
            backend=backend,
            isolation=opts.isolation,
        )

    async def run_tests(code: str, tests: str) -> SandboxOutcome:
        return await sb.arun_tests(
            code,
            tests,
            timeout=opts.timeout,
            limits=limits,
            backend=backend,
            isolation=opts.isolation,
        )

    return SandboxPort(run_sample, run_tests)


# ---------------------------------------------------------------------------------------------
# One attempt's outcome
# ---------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One sample's trip: sandbox, then (maybe) staging."""

    sample: int
    sandbox: dict[str, Any]
    status: int | None = None
    error_kind: ErrorKind | None = None
    infra_retries: int = 0
    body: str = ""


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
    human: HumanDecision | None = None
    """Set when a person rejected or replaced the code before it was sent to staging."""

    def error_text(self) -> str:
        return "\n\n".join(self.errors)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sha(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _diff(prev: str | None, code: str, attempt: int) -> str:
    if prev is None:
        return ""
    lines = difflib.unified_diff(
        prev.splitlines(),
        code.splitlines(),
        f"attempt{attempt - 1}",
        f"attempt{attempt}",
        lineterm="",
    )
    text = "\n".join(lines)
    return (
        text
        if len(text) <= MAX_DIFF_CHARS
        else text[:MAX_DIFF_CHARS] + "\n[... diff truncated ...]"
    )


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n[... truncated ...]\n" + text[-half:]


def _pretty_body(text: str) -> tuple[str, str]:
    """(fence language, body) with JSON pretty-printed so the model and the log can read it."""
    try:
        return "json", json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return "text", text


ApprovalHook = Callable[[list[tuple[int, Any]]], Awaitable[HumanDecision]]
"""Called with the payloads about to be sent; returns the person's decision (or raises
``WaitingForHuman``)."""


@dataclass
class _State:
    """Where the loop is: the code of the current attempt and what led to it."""

    code: str
    rationale: str
    limit: int
    """Model rewrites allowed (``max_retries``, raised by a human's ``retry``)."""
    attempt: int = 1
    prev: str | None = None
    rewrites: int = 0
    human_code: bool = False
    """The current code was written by a person (``edit``): it is checked, not re-approved."""
    tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0})
    artifact: str = ""
    """Run-folder path of the current attempt's code."""
    prev_artifact: str | None = None

    def advance(self, code: str, rationale: str) -> None:
        self.prev, self.prev_artifact = self.code, self.artifact
        self.code, self.rationale = code, rationale
        self.attempt += 1

    def resume_data(self, kind: str) -> dict[str, Any]:
        """What ``resume`` needs to continue here (the codes stay in artifacts, the decision
        log travels in ``NodeWaiting.log``)."""
        return {
            "kind": kind,
            "attempt": self.attempt,
            "artifact": self.artifact,
            "prev_artifact": self.prev_artifact if self.prev is not None else None,
            "rationale": self.rationale,
            "rewrites": self.rewrites,
            "limit": self.limit,
            "human_code": self.human_code,
        }


@dataclass
class Failure:
    """Why an attempt did not succeed: what the model (or a person) is told next."""

    reason: str
    error: str
    sample: int | None
    entry: dict[str, Any]
    rejected: bool = False
    """A person rejected the code before staging (the error is their comment)."""
    edit: HumanDecision | None = None
    resumed: bool = False
    note: str = ""
    """A person's comment sent with a granted retry."""


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


class AdaptiveLoop:
    """Runs one adaptive node; ``run_adaptive`` is the engine's entry point."""

    def __init__(
        self,
        ctx: NodeContext,
        *,
        sandbox: SandboxPort | None = None,
        backoff_s: float | None = None,
        backoff_max_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.ctx = ctx
        node = ctx.node
        extra = ctx.options.extra
        self.sandbox = sandbox or extra.get("adaptive_sandbox") or default_sandbox(ctx)
        self.backoff_s = float(
            backoff_s if backoff_s is not None else extra.get("infra_backoff_s", INFRA_BACKOFF_S)
        )
        self.backoff_max_s = float(
            backoff_max_s
            if backoff_max_s is not None
            else extra.get("infra_backoff_max_s", INFRA_BACKOFF_MAX_S)
        )
        self.transport = transport or extra.get("staging_transport")
        # Jitter only spreads retries out; seeding it from the run keeps runs reproducible.
        self.rng = random.Random(f"{ctx.run_id}:{node.id}")
        self.staging: StagingSpec | None = node.staging
        self.code_from = self._code_source()
        self.entrypoint = node.entrypoint
        self.samples: list[Any] = list(node.samples)
        self.tests = ctx.upstream[node.tests_from].content if node.tests_from else None
        if (self.samples or self.staging) and not self.entrypoint:
            raise WorkflowError(
                f"adaptive node '{node.id}' ({ctx.spec.where(node.id)}): set 'entrypoint' to the "
                "function to call, e.g. entrypoint: sync_to_crm"
            )
        if self.staging and not self.samples:
            raise WorkflowError(
                f"adaptive node '{node.id}' ({ctx.spec.where(node.id)}): staging needs inputs; "
                "add 'samples:' (one entrypoint call and one staging request per sample)"
            )
        if not self.samples and self.tests is None:
            raise WorkflowError(
                f"adaptive node '{node.id}' ({ctx.spec.where(node.id)}) checks nothing: add "
                "'samples:' + 'staging:' and/or 'tests_from:'"
            )
        self.approve = node.approve
        self.log: list[dict[str, Any]] = []

    def _code_source(self) -> str:
        node, ctx = self.ctx.node, self.ctx
        if node.code_from:
            return node.code_from
        code_nodes = [
            up
            for up in node.upstream
            if up != node.tests_from and ctx.upstream[up].format == "code"
        ]
        if len(code_nodes) == 1:
            return code_nodes[0]
        found = ", ".join(code_nodes) or "none"
        raise WorkflowError(
            f"adaptive node '{node.id}' ({ctx.spec.where(node.id)}): set 'code_from' to the "
            f"upstream node that wrote the code (code nodes upstream: {found})"
        )

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> NodeOutput:
        ctx, node = self.ctx, self.ctx.node
        source = ctx.upstream[self.code_from]
        st = _State(code=source.content, rationale=source.rationale, limit=node.max_retries)
        failure: Failure | None = None
        point = ctx.options.resume_points.get(node.id)
        if point is not None:
            failure = self._restore(st, point)
        async with self._client() as client:
            while True:
                if failure is None:  # run the attempt (a resumed exhausted node skips it)
                    result = await self._one_attempt(client, st)
                    if isinstance(result, NodeOutput):
                        return result
                    failure = result
                    if failure.edit is not None:
                        self._take_edit(st, failure.edit)
                        failure = None
                        continue
                    if st.rewrites < st.limit:
                        verdict = "rejected" if failure.rejected else "adapt"
                        self._decide(
                            st.attempt,
                            verdict,
                            f"{failure.reason}; asking the model for rewrite "
                            f"{st.rewrites + 1} of {st.limit}",
                            failure.entry,
                        )
                if st.rewrites >= st.limit:
                    decision = await self._exhausted(st, failure)
                    if decision.action == "accept":
                        return self._accepted(st, failure, decision)
                    if decision.action == "edit":
                        assert decision.code is not None
                        self._take_edit(st, decision)
                        failure = None
                        continue
                    st.limit += decision.extra_attempts  # retry
                    if decision.comment:
                        failure.note = f"{decision.who}: {decision.comment}"
                await self._rewrite(st, failure)
                failure = None

    async def _one_attempt(self, client: httpx.AsyncClient, st: _State) -> NodeOutput | Failure:
        """Run ``st.code`` once: the output on success, else what went wrong (or what the
        human said instead of approving). Config and infra problems raise."""
        ctx = self.ctx
        attempt, code = st.attempt, st.code
        artifact = ctx.save_artifact("code", code, f".attempt{attempt}")
        st.artifact = artifact
        ask = self._approval_hook(st) if self.approve and not st.human_code else None
        outcome = await self._attempt(client, code, attempt, ask)
        if outcome.human is not None:
            d = outcome.human
            gate = GateDecision(
                Verdict.ADAPT,
                f"{'edited' if d.action == 'edit' else 'rejected'} by {d.who} before it ran "
                "against staging",
            )
        else:
            gate = classify(
                outcome.status, error_kind=outcome.error_kind, tests_failed=outcome.tests_failed
            )
        entry = self._entry(
            attempt, code, st.prev, artifact, outcome, gate, st.rationale, st.tokens
        )
        if outcome.human is not None:
            entry["gate"] = "rejected"
            entry["human"] = outcome.human.record()
        self.log.append(entry)
        if gate.verdict is Verdict.SUCCESS:
            self._decide(attempt, "success", gate.reason, entry)
            return NodeOutput(
                "code",
                code,
                rationale=st.rationale,
                meta={"attempts": attempt, "decision_log": self.log},
            )
        if gate.verdict is Verdict.CONFIG:
            self._decide(attempt, "config", gate.reason, entry)
            raise StagingError(
                ctx.sanitize(
                    f"staging configuration problem on attempt {attempt}: {gate.reason} "
                    f"({self._target()}); the code was not rewritten"
                ),
                status_code=outcome.status,
            )
        if gate.verdict is Verdict.INFRA:
            self._decide(attempt, "staging-unavailable", gate.reason, entry)
            assert self.staging is not None
            raise StagingError(
                ctx.sanitize(
                    f"staging unavailable: {gate.reason}; still failing after "
                    f"{self.staging.infra_retries} retries with backoff "
                    f"({self._target()}). The code was not rewritten and is not known "
                    "to be wrong: bring staging up (or raise staging.infra_retries) "
                    "and run again"
                ),
                status_code=outcome.status,
            )
        sample = outcome.exchanges[-1].sample if outcome.exchanges else 0
        if outcome.human is not None:
            d = outcome.human
            if d.action == "edit":
                self._decide(attempt, "rejected", gate.reason, entry)
                return Failure(gate.reason, "", sample, entry, rejected=True, edit=d)
            error = "## A human reviewer rejected this code before it ran against staging\n" + (
                ctx.sanitize(d.comment) or "(no comment given)"
            )
            return Failure(gate.reason, error, sample, entry, rejected=True)
        return Failure(gate.reason, outcome.error_text(), sample, entry)

    def _approval_hook(self, st: _State) -> ApprovalHook:
        ctx = self.ctx

        async def hook(payloads: list[tuple[int, Any]]) -> HumanDecision:
            shown = json.dumps([p for _, p in payloads], indent=2, ensure_ascii=False, default=str)
            request = ApprovalRequest(
                run_id=ctx.run_id,
                node_id=ctx.node.id,
                attempt=st.attempt,
                kind="approve",
                reason=f"approve attempt {st.attempt} before it is sent to {self._target()}",
                code=ctx.sanitize(st.code),
                diff=ctx.sanitize(_diff(st.prev, st.code, st.attempt)),
                code_sha256=_sha(st.code),
                target=ctx.sanitize(self._target()),
                payloads=ctx.sanitize(_clip(shown, MAX_BODY_CHARS)),
                rationale=ctx.sanitize(st.rationale),
                log=tuple(self.log),
            )
            return await ask(ctx, request, st.resume_data("approve"))

        return hook

    async def _exhausted(self, st: _State, failure: Failure) -> HumanDecision:
        """No rewrite left: surface to a human (choices) or fail as without one."""
        ctx, node = self.ctx, self.ctx.node
        reason = (
            f"{failure.reason}; no rewrite left (max_retries={node.max_retries}"
            + (
                f", {st.limit - node.max_retries} more granted"
                if st.limit > node.max_retries
                else ""
            )
            + "): surfaced to a human"
        )
        if not failure.resumed:
            self._decide(st.attempt, "surfaced", reason, {**failure.entry, "log": self.log})
        message = self._surface_message(st.attempt, failure.reason)
        if ctx.options.approver is None:
            raise NodeFailed(node.id, message)
        request = ApprovalRequest(
            run_id=ctx.run_id,
            node_id=node.id,
            attempt=st.attempt,
            kind="exhausted",
            reason=ctx.sanitize(
                f"attempt {st.attempt} failed ({failure.reason}) and no rewrite is left: "
                "retry with more attempts, edit the code, accept it as is, or reject (give up)"
            ),
            code=ctx.sanitize(st.code),
            diff=ctx.sanitize(_diff(st.prev, st.code, st.attempt)),
            code_sha256=_sha(st.code),
            target=ctx.sanitize(self._target()),
            rationale=ctx.sanitize(st.rationale),
            log=tuple(self.log),
        )
        data = st.resume_data("exhausted")
        data["last"] = {
            "reason": failure.reason,
            "error": ctx.sanitize(_clip(failure.error, MAX_ERROR_CHARS)),
            "sample": failure.sample,
            "rejected": failure.rejected,
        }
        decision = await ask(ctx, request, data)
        if decision.action == "reject":
            why = f" ({decision.comment})" if decision.comment else ""
            raise NodeFailed(node.id, ctx.sanitize(f"{message}\nGiven up by {decision.who}{why}."))
        return decision

    def _accepted(self, st: _State, failure: Failure, decision: HumanDecision) -> NodeOutput:
        comment = f": {decision.comment}" if decision.comment else ""
        self._decide(
            st.attempt,
            "accepted-by-human",
            f"accepted as is by {decision.who}{comment}; the code did NOT pass its check "
            f"({failure.reason})",
            {**decision.record(), "code_sha256": _sha(st.code), "gate": "accepted-by-human"},
        )
        return NodeOutput(
            "code",
            st.code,
            rationale=st.rationale,
            meta={
                "attempts": st.attempt,
                "decision_log": self.log,
                "accepted_by": decision.who,
                "accepted_at": decision.when,
            },
        )

    def _take_edit(self, st: _State, decision: HumanDecision) -> None:
        """The person's code becomes the next attempt (checked like any other; not re-asked)."""
        assert decision.code is not None
        comment = f": {decision.comment}" if decision.comment else ""
        st.advance(decision.code, f"edited by hand by {decision.who}{comment}")
        st.human_code, st.tokens = True, {"input": 0, "output": 0}
        self.ctx.retrying(st.attempt, f"attempt {st.attempt - 1}: code edited by {decision.who}")

    async def _rewrite(self, st: _State, failure: Failure) -> None:
        ctx = self.ctx
        before = (ctx.input_tokens, ctx.output_tokens)
        answer = await ctx.call_model(
            [Message("user", self._prompt(st.code, st.attempt, failure))],
            "code",
            purpose="adapt",
        )
        assert isinstance(answer, CodeAnswer)
        st.tokens = {
            "input": ctx.input_tokens - before[0],
            "output": ctx.output_tokens - before[1],
        }
        st.advance(answer.code, answer.rationale)
        st.rewrites += 1
        st.human_code = False
        ctx.retrying(st.attempt, f"attempt {st.attempt - 1}: {failure.reason}")

    def _restore(self, st: _State, point: dict[str, Any]) -> Failure | None:
        """Continue where a previous run's node waited (codes come from its artifacts)."""
        ctx = self.ctx
        st.attempt = int(point["attempt"])
        st.code = str(point["code"])
        st.prev = point.get("prev_code")
        st.rationale = str(point.get("rationale", ""))
        st.rewrites = int(point.get("rewrites", 0))
        st.limit = max(int(point.get("limit", ctx.node.max_retries)), st.rewrites)
        st.human_code = bool(point.get("human_code", False))
        self.log = [dict(e) for e in point.get("log", [])]
        if st.prev is not None:
            st.prev_artifact = ctx.save_artifact("code", st.prev, f".attempt{st.attempt - 1}")
        ctx.attempts = st.attempt
        ctx.decide(
            st.attempt,
            "resumed",
            f"continues at attempt {st.attempt}, where run {point.get('from_run', '?')} waited "
            f"({point.get('kind')}); earlier attempts restored from its artifacts",
            from_run=point.get("from_run"),
        )
        if point.get("kind") != "exhausted":
            return None
        last = point.get("last") or {}
        st.artifact = ctx.save_artifact("code", st.code, f".attempt{st.attempt}")
        entry = self.log[-1] if self.log else {}
        return Failure(
            str(last.get("reason", "")),
            str(last.get("error", "")),
            last.get("sample"),
            entry,
            rejected=bool(last.get("rejected")),
            resumed=True,
        )

    def _decide(self, attempt: int, verdict: str, reason: str, data: dict[str, Any]) -> None:
        # Not ctx.decide(): the log entry carries its own "attempt" and "reason" keys.
        ctx = self.ctx
        ctx.publish(
            Decision(
                run_id=ctx.run_id,
                node_id=ctx.node.id,
                attempt=attempt,
                verdict=verdict,
                reason=ctx.sanitize(reason),
                data=data,
            )
        )

    def _client(self) -> httpx.AsyncClient:
        timeout = self.staging.timeout if self.staging else 10.0
        # trust_env=False: never route staging calls through a proxy from the environment.
        return httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, transport=self.transport
        )

    def _target(self) -> str:
        if self.staging is None:
            return "no staging target"
        return f"{self.staging.method} {self.staging.url}"

    def _endpoint(self) -> str:
        """Method and path only, for the model: the host and port say nothing about the
        contract, and leaving them out keeps recorded prompts replayable on any port."""
        if self.staging is None:
            return "no staging target"
        return f"{self.staging.method} {urlsplit(self.staging.url).path or '/'}"

    # -- one attempt -----------------------------------------------------------------------
    async def _attempt(
        self,
        client: httpx.AsyncClient,
        code: str,
        attempt: int,
        ask: ApprovalHook | None = None,
    ) -> Outcome:
        out = Outcome()
        if self.tests is not None:
            await self._run_tests(code, out)
        payloads: list[tuple[int, Any]] = []
        for i, sample in enumerate(self.samples):
            assert self.entrypoint is not None
            result = await self.sandbox.run_sample(code, self.entrypoint, sample)
            info = self._sandbox_info(i, result)
            ex = Exchange(sample=i, sandbox=info)
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
                    f"## Output of sample {i} cannot be sent\n{self.ctx.sanitize(str(exc))}"
                )
                break
            payloads.append((i, result.value))
        if out.error_kind is not None or self.staging is None:
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
            await self._send_with_retries(client, payload, ex, attempt)
            out.infra_retries += ex.infra_retries
            out.status, out.error_kind = ex.status, ex.error_kind
            if ex.error_kind is not None or ex.status is None or not 200 <= ex.status <= 299:
                out.summary.append(self._http_summary(ex))
                if ex.body:
                    lang, body = _pretty_body(ex.body)
                    out.errors.append(
                        f"## Staging response to sample {i}: HTTP {ex.status}\n"
                        f"```{lang}\n{self.ctx.sanitize(body)}\n```"
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
        sanitize = self.ctx.sanitize
        if value is None or (not result.ok and not value.get("failed")):
            out.tests_failed = True
            out.summary.append("the test suite could not run")
            out.tests = {"passed": [], "failed": [], "error": self._sandbox_info(-1, result)}
            out.errors.append("## The test suite could not run\n" + self._exception_text(result))
            return
        passed = [str(n) for n in value.get("passed", [])]
        failed = [
            {
                "name": str(f.get("name", "?")),
                "error": _clip(sanitize(str(f.get("error", ""))), 1500),
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

    def _sandbox_info(self, sample: int, result: SandboxOutcome) -> dict[str, Any]:
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
            parts.append(f"The sandbox stopped the code: {result.stopped} limit.")
        if result.stderr.strip():
            parts.append("stderr:\n" + _clip(result.stderr, 1500))
        text = "\n".join(parts) or "the code failed without an error message"
        return f"```text\n{self.ctx.sanitize(_clip(text, MAX_ERROR_CHARS))}\n```"

    def _exception_section(self, sample: int, result: SandboxOutcome) -> str:
        return f"## Exception in the sandbox (sample {sample})\n" + self._exception_text(result)

    def _http_summary(self, ex: Exchange) -> str:
        if ex.status is None:
            kind = ex.error_kind.value if ex.error_kind else "no answer"
            return f"sample {ex.sample}: staging {kind}"
        message = ""
        try:
            body = json.loads(ex.body)
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("error") or "")
        except ValueError:
            message = ex.body.strip().splitlines()[0] if ex.body.strip() else ""
        text = f"sample {ex.sample}: HTTP {ex.status}" + (f" {message}" if message else "")
        return self.ctx.sanitize(text[:240])

    async def _send_with_retries(
        self, client: httpx.AsyncClient, payload: Any, ex: Exchange, attempt: int
    ) -> None:
        assert self.staging is not None
        staging = self.staging
        for try_ in range(staging.infra_retries + 1):
            status, kind, body, retry_after = await self._send(client, payload)
            ex.status, ex.error_kind, ex.body = status, kind, body
            gate = classify(status, error_kind=kind)
            if gate.verdict is not Verdict.INFRA or try_ == staging.infra_retries:
                return
            delay = self._backoff(try_, retry_after)
            ex.infra_retries += 1
            self._decide(
                attempt,
                "retry-infra",
                f"{gate.reason} (retry {try_ + 1} of {staging.infra_retries} in {delay:.2f}s)",
                {
                    "time": _now(),
                    "attempt": attempt,
                    "sample": ex.sample,
                    "http_status": status,
                    "error_kind": kind.value if kind else None,
                    "infra_try": try_ + 1,
                    "delay_s": round(delay, 4),
                },
            )
            await asyncio.sleep(delay)

    def _backoff(self, try_: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max_s, self.backoff_s * 2.0**try_)
        delay *= 0.5 + self.rng.random() / 2  # "equal jitter"
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    async def _send(
        self, client: httpx.AsyncClient, payload: Any
    ) -> tuple[int | None, ErrorKind | None, str, float | None]:
        """One staging request: (status, transport error kind, body, Retry-After seconds)."""
        assert self.staging is not None
        s = self.staging
        try:
            response = await client.request(s.method, s.url, json=payload, headers=s.headers)
        except httpx.TimeoutException:
            return None, ErrorKind.TIMEOUT, "", None
        except httpx.ConnectError:
            return None, ErrorKind.CONNECT, "", None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise StagingError(
                self.ctx.sanitize(
                    f"staging.url is not a usable http(s) URL ({exc}): fix staging.url"
                )
            ) from exc
        except httpx.TransportError:
            return None, ErrorKind.RESET, "", None
        retry_after: float | None = None
        header = response.headers.get("Retry-After")
        if header:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        body = response.text[:MAX_BODY_CHARS] if response.status_code >= 300 else ""
        return response.status_code, None, body, retry_after

    # -- log and prompt --------------------------------------------------------------------
    def _entry(
        self,
        attempt: int,
        code: str,
        prev: str | None,
        artifact: str,
        outcome: Outcome,
        gate: GateDecision,
        rationale: str,
        tokens: dict[str, int],
    ) -> dict[str, Any]:
        sanitize = self.ctx.sanitize
        return {
            "time": _now(),
            "attempt": attempt,
            "code_sha256": _sha(code),
            "diff": sanitize(_diff(prev, code, attempt)),
            "artifact": artifact,
            "sandbox": [ex.sandbox for ex in outcome.exchanges],
            "tests": outcome.tests,
            "http_status": outcome.status,
            "http": [
                {
                    "sample": ex.sample,
                    "status": ex.status,
                    "error_kind": ex.error_kind.value if ex.error_kind else None,
                    "infra_retries": ex.infra_retries,
                }
                for ex in outcome.exchanges
                if ex.status is not None
                or ex.error_kind in (ErrorKind.TIMEOUT, ErrorKind.CONNECT, ErrorKind.RESET)
            ],
            "gate": gate.verdict.value,
            "reason": gate.reason,
            "summary": sanitize("; ".join(outcome.summary)),
            "error": sanitize(_clip(outcome.error_text(), MAX_ERROR_CHARS)),
            "rationale": sanitize(rationale),
            "tokens": dict(tokens),
            "infra_retries": outcome.infra_retries,
        }

    def _prompt(self, code: str, attempt: int, failure: Failure) -> str:
        node = self.ctx.node
        ep = self.entrypoint or "the code"
        parts = [
            f"# Task\n{node.action.strip()}",
            f"# What happened\nAttempt {attempt} failed: {failure.reason}.\nEntrypoint: `{ep}`",
            _clip(failure.error, MAX_ERROR_CHARS),
        ]
        if failure.note:
            parts.append(f"# Note from a human reviewer\n{failure.note}")
        if self.samples:
            shown = failure.sample if failure.sample is not None else 0
            shown = shown if 0 <= shown < len(self.samples) else 0
            parts.append(
                f"# Sample input {shown}\n```json\n"
                f"{json.dumps(self.samples[shown], indent=2, ensure_ascii=False, default=str)}\n```"
            )
        parts.append(f"# Current code\n```python\n{code}\n```")
        where = f"returns a payload that {self._endpoint()} accepts" if self.staging else "runs"
        parts.append(
            f"Rewrite the complete code so that `{ep}(sample)` {where}"
            + (" and the tests pass" if self.tests is not None else "")
            + f". Keep the function name `{ep}`. The code runs in a sandbox without network "
            "access: return the payload, do not send it. Answer with `code` (complete Python "
            "source) and a short `rationale` (what changed and why)."
        )
        return self.ctx.sanitize("\n\n".join(p for p in parts if p))

    def _surface_message(self, attempt: int, reason: str) -> str:
        lines = [
            f"surfaced to a human after {attempt} attempts ({self.ctx.node.max_retries} rewrites): "
            f"{reason}. Decision log:"
        ]
        for e in self.log:
            lines.append(
                f"  attempt {e['attempt']} [{e['code_sha256'][:12]}] {e['gate']}: "
                f"{e['summary'] or e['reason']}"
            )
        lines.append("Every attempt's code is saved as an artifact; fix the code or the contract.")
        return self.ctx.sanitize("\n".join(lines))


async def run_adaptive(ctx: NodeContext) -> NodeOutput:
    """The engine's handler for ``type: adaptive`` nodes."""
    return await AdaptiveLoop(ctx).run()


def make_adaptive_handler(
    *,
    sandbox: SandboxPort | None = None,
    backoff_s: float | None = None,
    backoff_max_s: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> NodeHandler:
    """An adaptive handler with a given sandbox port, backoff or transport (tests, benchmarks)."""

    async def handler(ctx: NodeContext) -> NodeOutput:
        loop = AdaptiveLoop(
            ctx,
            sandbox=sandbox,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            transport=transport,
        )
        return await loop.run()

    return handler


def decision_log(events: Sequence[Any], node_id: str) -> list[dict[str, Any]]:
    """The per-attempt log entries of ``node_id`` from a run's events (``Decision.data``)."""
    return [
        dict(e.data)
        for e in events
        if getattr(e, "kind", None) == "decision"
        and e.node_id == node_id
        and e.verdict
        in ("success", "adapt", "rejected", "config", "staging-unavailable", "surfaced")
    ]


__all__ = [
    "INFRA_BACKOFF_MAX_S",
    "INFRA_BACKOFF_S",
    "LOG_KEYS",
    "AdaptiveLoop",
    "SandboxOutcome",
    "SandboxPort",
    "decision_log",
    "default_sandbox",
    "make_adaptive_handler",
    "run_adaptive",
]

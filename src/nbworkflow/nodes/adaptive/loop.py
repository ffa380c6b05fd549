"""The adaptive loop: attempt, let the gate decide, rewrite or ask a person, repeat.

The gate (``nodes.gate``) decides what an attempt's outcome means:

* success: the code is the node's output;
* adapt (a 400/422, an exception, failing tests): the sanitized error and the current code go to
  the model (``prompt``), whose validated ``{rationale, code}`` is the next attempt
  (``max_retries`` of them); after the last one the node fails "surfaced to a human" with the
  whole decision log;
* infra (408/429/5xx, timeouts, refused or reset connections): the staging client retries the
  same request with backoff and never rewrites; if staging stays down the node fails with
  "staging unavailable";
* config (401/403/404/...): the node stops and says what to fix.

People (``nbworkflow.approval``): with ``approve: true`` each attempt whose code ran cleanly in
the sandbox is shown (code, diff, payloads) to the run's approver before anything is sent to
staging: approve sends it; reject sends the comment to the model as the reason for a rewrite
(counted against ``max_retries``); edit makes the person's code the next attempt (checked, not
re-approved). When the rewrites are used up and an approver is set, it chooses: retry (more
rewrites), edit, accept as is (the node succeeds, marked ``accepted-by-human``) or reject (the
node fails "surfaced to a human"). An approver that cannot answer now makes the node wait
(``record.WaitPoint``); ``resume`` continues it from the same attempt (``record.ResumePoint``).

Every attempt publishes a ``Decision`` whose ``data`` is its ``AttemptRecord``; every attempt's
code is saved as an artifact ``<node>.attempt<n>``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ...agents.base import Message
from ...agents.structured import CodeAnswer
from ...exceptions import StagingError
from ...outputs import NodeOutput
from ...text import clip
from ..base import NodeContext, NodeHandler
from ..gate import LOGGED_VERDICTS, GateDecision, Verdict, classify
from .attempt import AttemptRunner, Exchange, Outcome, SandboxPort, default_sandbox, sandbox_record
from .people import People
from .prepare import Prepared, follow_keys, prepare
from .prompt import MAX_ERROR_CHARS, PromptInput, build_prompt
from .record import AttemptRecord, now, sha
from .staging import Reply, StagingClient
from .state import Failure, LoopState, diff_code


class AdaptiveLoop(People):
    """Runs one adaptive node; ``run_adaptive`` is the engine's entry point."""

    def __init__(self, ctx: NodeContext, *, sandbox: SandboxPort | None = None) -> None:
        self.ctx = ctx
        node, settings = ctx.node, ctx.settings
        self.settings = settings
        port = sandbox or ctx.options.sandbox_port or default_sandbox(settings.sandbox)
        # Jitter only spreads retries out; seeding it from the run keeps runs reproducible.
        self.rng = random.Random(f"{ctx.run_id}:{node.id}")
        self.staging = settings.staging
        self.port = port
        self.approve = node.approve
        self.log: list[dict[str, Any]] = []
        # Set by ``_prepare`` (before the first attempt: it may ask the model for samples).
        self.entrypoint: str | None = node.entrypoint
        self.samples: list[Any] = list(node.samples)
        self.tests: str | None = None

    async def _prepare(self) -> Prepared:
        ctx = self.ctx
        self.prepared = prepared = await prepare(ctx)
        self.code_from, self.entrypoint = prepared.code_from, prepared.entrypoint
        self.samples, self.tests = prepared.samples, prepared.tests
        self.runner = AttemptRunner(
            self.port,
            entrypoint=self.entrypoint,
            samples=self.samples,
            tests=self.tests,
            sanitize=ctx.sanitize,
        )
        return prepared

    def _client(self) -> StagingClient | None:
        if self.staging is None:
            return None
        return StagingClient(
            self.staging,
            rng=self.rng,
            sanitize=self.ctx.sanitize,
            transport=self.ctx.options.staging_transport,
        )

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> NodeOutput:
        ctx, node = self.ctx, self.ctx.node
        prepared = await self._prepare()
        source = ctx.upstream[self.code_from]
        st = LoopState(
            code=prepared.code, rationale=source.rationale, limit=self.settings.max_retries
        )
        failure: Failure | None = None
        point = ctx.options.resume_points.get(node.id)
        if point is not None:
            failure = self._restore(st, point)
        client = self._client()
        if client is None:
            return await self._loop(st, failure, None)
        async with client:
            return await self._loop(st, failure, client)

    async def _loop(
        self, st: LoopState, failure: Failure | None, client: StagingClient | None
    ) -> NodeOutput:
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

    async def _one_attempt(
        self, client: StagingClient | None, st: LoopState
    ) -> NodeOutput | Failure:
        """Run ``st.code`` once: the output on success, else what went wrong (or what the
        human said instead of approving). Config and infra problems raise."""
        ctx = self.ctx
        attempt, code = st.attempt, st.code
        artifact = ctx.save_artifact("code", code, f".attempt{attempt}")
        st.artifact = artifact
        hook = self._approval_hook(st) if self.approve and not st.human_code else None
        follow_keys(ctx, self.prepared, code, attempt)

        def on_infra(ex: Exchange, n: int, reply: Reply, delay: float, reason: str) -> None:
            assert self.staging is not None
            self._decide(
                attempt,
                "retry-infra",
                f"{reason} (retry {n} of {self.staging.infra_retries} in {delay:.2f}s)",
                {
                    "time": now(),
                    "attempt": attempt,
                    "sample": ex.sample,
                    "http_status": reply.status,
                    "error_kind": reply.error_kind.value if reply.error_kind else None,
                    "infra_try": n,
                    "delay_s": round(delay, 4),
                    "deadline_hit": reply.deadline_hit,
                },
            )

        outcome = await self.runner.run(code, client, on_infra, hook)
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
        entry = self._record(st, outcome, gate).to_log()
        self.log.append(entry)
        if gate.verdict is Verdict.SUCCESS:
            self._decide(attempt, "success", gate.reason, entry)
            return NodeOutput(
                "code",
                code,
                rationale=st.rationale,
                meta={
                    "attempts": attempt,
                    "decision_log": self.log,
                    **({"inferred": self.prepared.inferred} if self.prepared.inferred else {}),
                },
            )
        if gate.verdict is Verdict.CONFIG:
            self._decide(attempt, "config", gate.reason, entry)
            raise StagingError(
                ctx.sanitize(
                    f"staging configuration problem on attempt {attempt}: {gate.reason} "
                    f"({self._target()}); the code was not rewritten{self._no_path_hint(outcome.status)}"
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

    def _record(self, st: LoopState, outcome: Outcome, gate: GateDecision) -> AttemptRecord:
        sanitize = self.ctx.sanitize
        human = outcome.human
        return AttemptRecord(
            time=now(),
            attempt=st.attempt,
            code_sha256=sha(st.code),
            diff=sanitize(diff_code(st.prev, st.code, st.attempt)),
            artifact=st.artifact,
            settings=sandbox_record(self.settings.sandbox),
            sandbox=[ex.sandbox for ex in outcome.exchanges],
            tests=outcome.tests,
            http_status=outcome.status,
            http=outcome.http_records(),
            gate="rejected" if human is not None else gate.verdict.value,
            reason=gate.reason,
            summary=sanitize("; ".join(outcome.summary)),
            error=sanitize(clip(outcome.error_text(), MAX_ERROR_CHARS, middle=True)),
            rationale=sanitize(st.rationale),
            tokens=dict(st.tokens),
            infra_retries=outcome.infra_retries,
            human=human.record() if human is not None else None,
        )

    # -- the model -------------------------------------------------------------------------
    def prompt(self, code: str, attempt: int, failure: Failure) -> str:
        """The rewrite prompt for ``failure`` (sanitized as a whole, in ``build_prompt``)."""
        return build_prompt(
            PromptInput(
                action=self.ctx.node.action,
                attempt=attempt,
                reason=failure.reason,
                error=failure.error,
                entrypoint=self.entrypoint,
                code=code,
                samples=self.samples,
                sample=failure.sample,
                endpoint=self._endpoint(),
                has_tests=self.tests is not None,
                note=failure.note,
            ),
            self.ctx.sanitize,
        )

    async def _rewrite(self, st: LoopState, failure: Failure) -> None:
        ctx = self.ctx
        before = (ctx.input_tokens, ctx.output_tokens)
        answer = await ctx.call_model(
            [Message("user", self.prompt(st.code, st.attempt, failure))],
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


async def run_adaptive(ctx: NodeContext) -> NodeOutput:
    """The engine's handler for ``type: adaptive`` nodes."""
    return await AdaptiveLoop(ctx).run()


def make_adaptive_handler(*, sandbox: SandboxPort | None = None) -> NodeHandler:
    """An adaptive handler with a given sandbox port (tests, benchmarks). Backoff and the
    staging transport are run options (``RunOptions``)."""

    async def handler(ctx: NodeContext) -> NodeOutput:
        return await AdaptiveLoop(ctx, sandbox=sandbox).run()

    return handler


def decision_log(events: Sequence[Any], node_id: str) -> list[dict[str, Any]]:
    """The per-attempt log entries of ``node_id`` from a run's events (``Decision.data``)."""
    return [
        dict(e.data)
        for e in events
        if getattr(e, "kind", None) == "decision"
        and e.node_id == node_id
        and e.verdict in LOGGED_VERDICTS
    ]


__all__ = ["AdaptiveLoop", "decision_log", "make_adaptive_handler", "run_adaptive"]

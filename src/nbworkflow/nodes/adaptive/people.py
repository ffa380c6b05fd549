"""The people in the adaptive loop: approving code before staging, choosing when the rewrites
are used up, and a waiting node continued by ``resume``. ``AdaptiveLoop`` inherits these; they
read the loop's context, log and staging settings and publish through the same decision log.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ...approval import ApprovalRequest, HumanDecision
from ...config import StagingSettings
from ...exceptions import NodeFailed
from ...outputs import NodeOutput
from ...text import clip
from ..approval import ask
from ..base import NodeContext
from .attempt import ApprovalHook
from .prompt import MAX_ERROR_CHARS
from .record import LastFailure, ResumePoint, sha
from .staging import MAX_BODY_CHARS
from .state import Failure, LoopState, diff_code


class People:
    """Everything of the loop that involves a person (see the module docstring)."""

    ctx: NodeContext
    log: list[dict[str, Any]]
    staging: StagingSettings | None

    def _approval_hook(self, st: LoopState) -> ApprovalHook:
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
                diff=ctx.sanitize(diff_code(st.prev, st.code, st.attempt)),
                code_sha256=sha(st.code),
                target=ctx.sanitize(self._target()),
                payloads=ctx.sanitize(clip(shown, MAX_BODY_CHARS, middle=True)),
                rationale=ctx.sanitize(st.rationale),
                log=tuple(self.log),
            )
            return await ask(ctx, request, st.wait_point("approve").to_data())

        return hook

    async def _exhausted(self, st: LoopState, failure: Failure) -> HumanDecision:
        """No rewrite left: surface to a human (choices) or fail as without one."""
        ctx, node = self.ctx, self.ctx.node
        allowed = ctx.settings.max_retries
        reason = (
            f"{failure.reason}; no rewrite left (max_retries={allowed}"
            + (f", {st.limit - allowed} more granted" if st.limit > allowed else "")
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
            diff=ctx.sanitize(diff_code(st.prev, st.code, st.attempt)),
            code_sha256=sha(st.code),
            target=ctx.sanitize(self._target()),
            rationale=ctx.sanitize(st.rationale),
            log=tuple(self.log),
        )
        last = LastFailure(
            reason=failure.reason,
            error=ctx.sanitize(clip(failure.error, MAX_ERROR_CHARS, middle=True)),
            sample=failure.sample,
            rejected=failure.rejected,
        )
        decision = await ask(ctx, request, st.wait_point("exhausted", last).to_data())
        if decision.action == "reject":
            why = f" ({decision.comment})" if decision.comment else ""
            raise NodeFailed(node.id, ctx.sanitize(f"{message}\nGiven up by {decision.who}{why}."))
        return decision

    def _accepted(self, st: LoopState, failure: Failure, decision: HumanDecision) -> NodeOutput:
        comment = f": {decision.comment}" if decision.comment else ""
        self._decide(
            st.attempt,
            "accepted-by-human",
            f"accepted as is by {decision.who}{comment}; the code did NOT pass its check "
            f"({failure.reason})",
            {**decision.record(), "code_sha256": sha(st.code), "gate": "accepted-by-human"},
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

    def _take_edit(self, st: LoopState, decision: HumanDecision) -> None:
        """The person's code becomes the next attempt (checked like any other; not re-asked)."""
        assert decision.code is not None
        comment = f": {decision.comment}" if decision.comment else ""
        st.advance(decision.code, f"edited by hand by {decision.who}{comment}")
        st.human_code, st.tokens = True, {"input": 0, "output": 0}
        self.ctx.retrying(st.attempt, f"attempt {st.attempt - 1}: code edited by {decision.who}")

    def _restore(self, st: LoopState, point: ResumePoint) -> Failure | None:
        """Continue where a previous run's node waited (codes come from its artifacts)."""
        ctx, wait = self.ctx, point.wait
        st.attempt = wait.attempt
        st.code = point.code
        st.prev = point.prev_code
        st.rationale = wait.rationale
        st.rewrites = wait.rewrites
        st.limit = max(wait.limit, st.rewrites)
        st.human_code = wait.human_code
        self.log = [dict(e) for e in point.log]
        if st.prev is not None:
            st.prev_artifact = ctx.save_artifact("code", st.prev, f".attempt{st.attempt - 1}")
        ctx.attempts = st.attempt
        ctx.decide(
            st.attempt,
            "resumed",
            f"continues at attempt {st.attempt}, where run {point.from_run} waited "
            f"({wait.kind}); earlier attempts restored from its artifacts",
            from_run=point.from_run,
        )
        if wait.kind != "exhausted":
            return None
        last = wait.last or LastFailure("", "", None)
        st.artifact = ctx.save_artifact("code", st.code, f".attempt{st.attempt}")
        entry = self.log[-1] if self.log else {}
        return Failure(
            last.reason, last.error, last.sample, entry, rejected=last.rejected, resumed=True
        )

    def _decide(self, attempt: int, verdict: str, reason: str, data: dict[str, Any]) -> None:
        self.ctx.decide_with(attempt, verdict, reason, data)

    def _target(self) -> str:
        if self.staging is None:
            return "no staging target"
        return f"{self.staging.method} {self.staging.url}"

    def _no_path_hint(self, status: int | None) -> str:
        """For a 404 from a URL with no path: the usual slip is giving the service's base URL
        where the endpoint's full URL is expected."""
        if self.staging is None or status != 404:
            return ""
        if urlsplit(self.staging.url).path not in ("", "/"):
            return ""
        return (
            ". The URL has no path: staging.url, --staging and STAGING_URL take the "
            "endpoint's full URL (e.g. http://host:port/users), not the service's base URL"
        )

    def _endpoint(self) -> str | None:
        """Method and path only, for the model: the host and port say nothing about the
        contract, and leaving them out keeps recorded prompts replayable on any port."""
        if self.staging is None:
            return None
        return f"{self.staging.method} {urlsplit(self.staging.url).path or '/'}"

    def _surface_message(self, attempt: int, reason: str) -> str:
        lines = [
            f"surfaced to a human after {attempt} attempts "
            f"({self.ctx.settings.max_retries} rewrites): {reason}. Decision log:"
        ]
        for e in self.log:
            lines.append(
                f"  attempt {e['attempt']} [{e['code_sha256'][:12]}] {e['gate']}: "
                f"{e['summary'] or e['reason']}"
            )
        lines.append("Every attempt's code is saved as an artifact; fix the code or the contract.")
        return self.ctx.sanitize("\n".join(lines))


__all__ = ["People"]

"""Asking a person from a node (``ask``), and the ``approval`` node type (``run_approval``).

The vocabulary (requests, decisions, approvers, ``WaitingForHuman``) is ``nbworkflow.approval``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..approval import (
    ApprovalRequest,
    HumanDecision,
    PendingApprover,
    WaitingForHuman,
    check_decision,
)
from ..events import Decision
from ..exceptions import NodeFailed
from ..outputs import NodeOutput
from .base import NodeContext


async def ask(
    ctx: NodeContext, request: ApprovalRequest, data: Mapping[str, Any] | None = None
) -> HumanDecision:
    """Ask the run's approver; publish the answer as a ``Decision``; wait when there is none."""
    approver = ctx.options.approver or PendingApprover()
    decision = await approver.decide(request)
    if decision is None:
        raise WaitingForHuman(request, data)
    check_decision(request, decision)
    record = decision.record()
    if decision.comment:
        record["comment"] = ctx.sanitize(decision.comment)
    record["code_sha256"] = request.code_sha256
    record["request"] = request.kind
    ctx.publish(
        Decision(
            run_id=ctx.run_id,
            node_id=ctx.node.id,
            attempt=request.attempt,
            verdict=f"human-{decision.action}",
            reason=ctx.sanitize(
                f"{decision.action} by {decision.who}"
                + (f": {decision.comment}" if decision.comment else "")
            ),
            data=record,
        )
    )
    return decision


def _preview(content: str, fmt: str, data: Any) -> str:
    if fmt == "json" and data is not None:
        return json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return content


async def run_approval(ctx: NodeContext) -> NodeOutput:
    """The engine's handler for ``type: approval`` nodes: no model call; the upstream output
    passes through once a person approves it (or replaces it: ``edit``); reject fails it."""
    node = ctx.node
    (source,) = node.upstream
    upstream = ctx.upstream[source]
    request = ApprovalRequest(
        run_id=ctx.run_id,
        node_id=node.id,
        attempt=1,
        kind="approval",
        reason=ctx.sanitize(node.action.strip() or f"approve the output of '{source}'"),
        code=ctx.sanitize(_preview(upstream.content, upstream.format, upstream.data)),
        code_sha256=hashlib.sha256(upstream.content.encode()).hexdigest(),
    )
    decision = await ask(ctx, request, {"kind": "approval"})
    meta = {**upstream.meta, "approved_by": decision.who, "approved_at": decision.when}
    if decision.action == "approve":
        return replace(upstream, meta=meta)
    if decision.action == "edit":
        assert decision.code is not None
        data = upstream.data
        if upstream.format == "json":
            try:
                data = json.loads(decision.code)
            except ValueError as exc:
                raise NodeFailed(node.id, f"the edited output is not JSON: {exc}") from exc
        return replace(upstream, content=decision.code, data=data, meta={**meta, "edited": True})
    raise NodeFailed(
        node.id,
        ctx.sanitize(
            f"rejected by {decision.who}" + (f": {decision.comment}" if decision.comment else "")
        ),
    )


__all__ = ["ask", "run_approval"]

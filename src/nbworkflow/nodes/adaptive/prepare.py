"""Before the first attempt: what the node checks, with what, against what (``infer`` finds
what the spec leaves out; this module asks the model when it must and logs every inference)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...agents.base import Message
from ...agents.structured import JsonAnswer
from ...exceptions import WorkflowError
from ...text import clip
from ..base import NodeContext
from . import infer


@dataclass(slots=True)
class Prepared:
    code_from: str
    code: str
    entrypoint: str | None
    samples: list[Any]
    tests: str | None
    keyed: bool = False
    """The samples follow the keys the code reads (each rewrite may add some)."""
    inferred: list[dict[str, Any]] = field(default_factory=list)


def _say(ctx: NodeContext, prepared: Prepared, found: infer.Inferred, attempt: int = 1) -> None:
    value = found.value if isinstance(found.value, str) else repr(found.value)
    prepared.inferred.append(found.data())
    reason = f"{found.field} = {clip(value, 200)} (from {found.source})"
    ctx.decide_with(attempt, "inferred", reason, found.data())


async def prepare(ctx: NodeContext) -> Prepared:
    node, settings = ctx.node, ctx.settings
    where = f"'{node.id}' ({ctx.spec.where(node.id)})"
    source = infer.code_source(
        node.id,
        where,
        dict(ctx.upstream),
        code_from=node.code_from,
        tests_from=node.tests_from,
    )
    tests = ctx.upstream[node.tests_from].content if node.tests_from else None
    out = Prepared(source.node_id, source.code, node.entrypoint, list(node.samples), tests)
    if source.found_in_text:
        _say(
            ctx,
            out,
            infer.Inferred(
                "code_from", source.node_id, "the one upstream text that holds one Python function"
            ),
        )
    staging = settings.staging
    if staging is not None and staging.source != "spec":
        target = f"{staging.method} {staging.url}"
        _say(ctx, out, infer.Inferred("staging", target, staging.source))
    if staging is None and tests is None:
        raise WorkflowError(
            f"adaptive node {where} checks nothing: set 'staging:' (or run with --staging "
            "URL|openapi:FILE, or STAGING_URL) and/or 'tests_from:'"
        )
    if out.entrypoint is None and (staging is not None or out.samples):
        up = ctx.spec.node(source.node_id)
        found = infer.entrypoint(
            source.code,
            [(f"node '{node.id}''s action", node.action), (f"'{up.id}''s action", up.action)],
        )
        if found is None:
            defined = ", ".join(infer.public_functions(source.code)) or "none"
            raise WorkflowError(
                f"adaptive node {where}: cannot infer 'entrypoint' (public functions in the "
                f"code of '{source.node_id}': {defined}): set it, e.g. entrypoint: sync_to_crm"
            )
        out.entrypoint = found.value
        _say(ctx, out, found)
    if staging is not None and not out.samples:
        await _samples(ctx, out, where)
    return out


async def _samples(ctx: NodeContext, out: Prepared, where: str) -> None:
    assert out.entrypoint is not None
    keys = infer.keys_read(out.code, out.entrypoint)
    if keys:
        out.samples, out.keyed = [infer.sample_from_keys(keys)], True
        what = f"the keys '{out.entrypoint}' reads: {', '.join(keys)}"
        _say(ctx, out, infer.Inferred("samples", out.samples, what))
        return
    try:
        answer = await ctx.call_model(
            [Message("user", infer.samples_prompt(ctx.node.action, out.entrypoint, out.code))],
            "json",
            json_schema=infer.SAMPLES_SCHEMA,
            purpose="samples",
        )
    except WorkflowError as exc:
        raise WorkflowError(
            f"adaptive node {where}: cannot infer 'samples' (asking the model failed: "
            f"{ctx.sanitize(str(exc))[:300]}): set them, e.g. samples: "
            "[{email: dev@example.com, first: Ada, last: Lovelace, plan: pro}]"
        ) from exc
    assert isinstance(answer, JsonAnswer)
    out.samples = infer.check_model_samples(answer.data, where)
    _say(ctx, out, infer.Inferred("samples", out.samples, "the model, asked once"))


def follow_keys(ctx: NodeContext, out: Prepared, code: str, attempt: int) -> None:
    """Samples inferred from the code's keys grow with a rewrite that reads a new key (the
    article's fix reads ``plan``), so the check never fails for a key nobody supplied."""
    if not out.keyed or out.entrypoint is None:
        return
    keys = infer.keys_read(code, out.entrypoint)
    grown = infer.sample_from_keys(keys, out.samples[0])
    if grown != out.samples[0]:
        out.samples[0] = grown
        found = infer.Inferred("samples", list(out.samples), f"the keys attempt {attempt} reads")
        _say(ctx, out, found, attempt)


__all__ = ["Prepared", "follow_keys", "prepare"]

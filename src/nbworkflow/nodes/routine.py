"""``routine`` nodes: one validated structured model call, retried on transient failures."""

from __future__ import annotations

import json
from pathlib import Path

from ..agents.base import Message
from ..agents.structured import CodeAnswer, JsonAnswer, TextAnswer
from ..exceptions import OutputValidationError, ProviderError, WorkflowError
from ..spec import InputSpec
from .base import NodeContext, NodeOutput

MAX_INPUT_CHARS = 60_000


async def read_input(ctx: NodeContext, item: InputSpec) -> str:
    """The text of one declared input (a file, a URL, or an upstream node's output)."""
    if item.node:
        return ctx.upstream[item.node].content
    if item.file:
        path = Path(item.file)
        if not path.is_absolute():
            path = ctx.spec.base_dir / path
        try:
            return path.read_text(encoding="utf-8", errors="replace")[:MAX_INPUT_CHARS]
        except OSError as exc:
            raise WorkflowError(
                f"input file {item.file} cannot be read ({exc.strerror}); paths are relative to "
                f"the spec's folder {ctx.spec.base_dir}"
            ) from exc
    import httpx

    assert item.url
    try:
        async with httpx.AsyncClient(timeout=20, follow_redirects=True) as client:
            response = await client.get(item.url)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise WorkflowError(f"input URL {item.url} could not be fetched: {exc}") from exc
    return response.text[:MAX_INPUT_CHARS]


async def build_prompt(ctx: NodeContext) -> str:
    """The node's action followed by its context: declared inputs, then upstream outputs."""
    parts = [f"# Task\n{ctx.node.action.strip()}"]
    named = set()
    for item in ctx.node.inputs:
        text = await read_input(ctx, item)
        named.add(item.node)
        parts.append(f"# Input: {item.label}\n{text}")
    for dep in ctx.node.upstream:
        if dep in named:
            continue
        out = ctx.upstream[dep]
        fence = "python" if out.format == "code" else ("json" if out.format == "json" else "")
        body = f"```{fence}\n{out.content}\n```" if fence else out.content
        parts.append(f"# Output of upstream step '{dep}'\n{body}")
    fmt = ctx.node.output.format
    parts.append(
        {
            "code": "Answer with `code` (complete Python source) and a short `rationale`.",
            "text": "Answer with `content` (Markdown) and a short `rationale`.",
            "json": "Answer with `data` (the JSON value asked for) and a short `rationale`.",
        }[fmt]
    )
    return "\n\n".join(parts)


def to_output(fmt: str, answer: object) -> NodeOutput:
    if isinstance(answer, CodeAnswer):
        return NodeOutput("code", answer.code, rationale=answer.rationale)
    if isinstance(answer, JsonAnswer):
        text = json.dumps(answer.data, indent=2, ensure_ascii=False)
        return NodeOutput("json", text, data=answer.data, rationale=answer.rationale)
    assert isinstance(answer, TextAnswer)
    return NodeOutput(fmt, answer.content, rationale=answer.rationale)


async def run_routine(ctx: NodeContext) -> NodeOutput:
    prompt = await build_prompt(ctx)
    fmt = ctx.node.output.format
    attempt = 1
    while True:
        try:
            answer = await ctx.call_model(
                [Message("user", prompt)], fmt, json_schema=ctx.node.output.json_schema
            )
            ctx.decide(attempt, "success", f"{fmt} answer validated")
            return to_output(fmt, answer)
        except (OutputValidationError, ProviderError) as exc:
            retryable = isinstance(exc, OutputValidationError) or exc.retryable
            if not retryable or attempt > ctx.settings.max_retries:
                raise
            attempt += 1
            ctx.retrying(attempt, f"{type(exc).__name__}: {exc}")


__all__ = ["build_prompt", "read_input", "run_routine", "to_output"]

"""The node runner: one node from start to its last event.

It builds the node's context, finishes it from a resumed run or the node cache when it can, else
calls the node type's handler (within the node's ``timeout``), and turns the outcome into
events: ``NodeFinished`` (with its artifact), ``NodeFailed``, ``NodeCancelled`` or, for a node
that needs a person, ``NodeWaiting``. Outputs go to the run folder and the cache from here.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .. import events as ev
from ..approval import WaitingForHuman
from ..cache import NodeCache, node_key
from ..events import RunEvent
from ..exceptions import WorkflowError
from ..nodes.base import NodeContext, NodeHandler, RunContext
from ..outputs import NodeOutput
from ..runlog import RunWriter
from ..spec import NodeSpec

PREVIEW_CHARS = 400


class NodeRunner:
    """Runs nodes of one run; ``outputs`` collects what succeeded."""

    def __init__(
        self,
        run: RunContext,
        *,
        nodes: Mapping[str, NodeSpec],
        handlers: Mapping[str, NodeHandler],
        writer: RunWriter | None,
        cache: NodeCache | None,
        provider_name: str,
        force: set[str],
        reuse: Mapping[str, NodeOutput],
        resumed_from: str | None,
        cancel_reason: Callable[[], str],
    ) -> None:
        self.run = run
        self.nodes = nodes
        self.handlers = handlers
        self.writer = writer
        self.cache = cache
        self.provider_name = provider_name
        self.force = force
        self.reuse = reuse
        self.resumed_from = resumed_from
        self.cancel_reason = cancel_reason
        self.outputs: dict[str, NodeOutput] = {}
        self.publish: Callable[[RunEvent], None] = run.publish
        self.run_id = run.run_id

    async def __call__(self, node_id: str) -> None:
        node = self.nodes[node_id]
        handler = self.handlers[node.type]
        ctx = NodeContext(self.run, node, {up: self.outputs[up] for up in node.upstream})
        self.publish(ev.NodeStarted(run_id=self.run_id, node_id=node_id))
        t0 = time.perf_counter()
        key = None
        if self.cache is not None and node.cacheable and node_id not in self.force:
            key = self._key(ctx)
        if (key is not None or node_id in self.reuse) and self._reused(ctx, key, t0):
            return
        timeout = ctx.settings.timeout
        try:
            if timeout is None:
                output = await handler(ctx)
            else:
                async with asyncio.timeout(timeout):
                    output = await handler(ctx)
        except WaitingForHuman as waiting:
            self.publish(waiting.request.to_event(waiting.data))
            raise
        except asyncio.CancelledError:
            self.publish(
                ev.NodeCancelled(
                    run_id=self.run_id,
                    node_id=node_id,
                    reason=self.cancel_reason(),
                    duration_s=round(time.perf_counter() - t0, 4),
                )
            )
            raise
        except Exception as exc:
            self._failed(ctx, exc, t0)
            raise
        self.outputs[node_id] = output
        if self.cache is not None and node.cacheable:
            self.cache.put(key or self._key(ctx), node_id, output, self.run_id)
        self._finished(ctx, output, t0)

    def _key(self, ctx: NodeContext) -> str:
        return node_key(
            ctx.spec, ctx.node, self.provider_name, ctx.upstream, model=ctx.settings.model
        )

    def _failed(self, ctx: NodeContext, exc: Exception, t0: float) -> None:
        node_id, timeout = ctx.node.id, ctx.settings.timeout
        message = str(exc)
        if isinstance(exc, TimeoutError) and timeout is not None:
            message = (
                f"timed out after {timeout:g}s: raise the node's 'timeout' "
                f"({ctx.spec.where(node_id)})"
            )
        if not isinstance(exc, (WorkflowError, TimeoutError)):
            message = f"{type(exc).__name__}: {exc}"
        self.publish(
            ev.NodeFailed(
                run_id=self.run_id,
                node_id=node_id,
                error_type=type(exc).__name__,
                message=message,
                attempts=ctx.attempts,
                duration_s=round(time.perf_counter() - t0, 4),
                input_tokens=ctx.input_tokens,
                output_tokens=ctx.output_tokens,
            )
        )
        if not isinstance(exc, (WorkflowError, TimeoutError, OSError)):
            # Our own bug (or a handler's): say so loudly, but through the sanitizer too.
            warnings.warn(
                self.run.sanitize(f"node '{node_id}' crashed: {exc!r}"),
                RuntimeWarning,
                stacklevel=1,
            )

    def _reused(self, ctx: NodeContext, key: str | None, t0: float) -> bool:
        """Finish a node from a resumed run or the cache, if possible; True when it was."""
        node_id = ctx.node.id
        how: dict[str, Any]
        if node_id in self.reuse:
            output = self.reuse[node_id]
            ctx.decide(1, "restored", f"output restored from run {self.resumed_from}")
            how = {"restored_from": self.resumed_from or "an earlier run"}
        elif key is not None and (entry := self.cache.get(key) if self.cache else None):
            output = entry.output
            ctx.decide(
                1, "cached", f"output from the node cache (made by run {entry.run_id})", key=key
            )
            how = {"cached": True}
        else:
            return False
        self.outputs[node_id] = output
        self._finished(ctx, replace(output, meta={**output.meta, **how}), t0)
        return True

    def _finished(self, ctx: NodeContext, output: NodeOutput, t0: float) -> None:
        node_id = ctx.node.id
        artifact = None
        if self.writer is not None:
            artifact = self.writer.write_artifact(node_id, output.format, output.content)
        meta = output.meta
        self.publish(
            ev.NodeFinished(
                run_id=self.run_id,
                node_id=node_id,
                attempts=ctx.attempts,
                duration_s=round(time.perf_counter() - t0, 4),
                artifact=artifact,
                preview=output.content[:PREVIEW_CHARS],
                input_tokens=ctx.input_tokens,
                output_tokens=ctx.output_tokens,
                cached=bool(meta.get("cached")) if meta else False,
                accepted_by=meta.get("accepted_by") if meta else None,
                restored_from=meta.get("restored_from") if meta else None,
            )
        )


def save_artifact(writer: RunWriter | None) -> Callable[[str, str, str, str], str]:
    """``save(node_id, fmt, content, suffix) -> path in the run folder`` ("" without one)."""

    def save(node_id: str, fmt: str, content: str, suffix: str) -> str:
        if writer is None:
            return ""
        return writer.write_artifact(node_id, fmt, content, suffix=suffix)

    return save


__all__ = ["PREVIEW_CHARS", "NodeRunner", "save_artifact"]

"""``adaptive`` nodes: PLACEHOLDER until the adaptive-loop issue lands."""

from __future__ import annotations

from ..exceptions import WorkflowError
from .base import NodeContext, NodeOutput


async def run_adaptive(ctx: NodeContext) -> NodeOutput:
    raise WorkflowError("adaptive nodes are not implemented yet")

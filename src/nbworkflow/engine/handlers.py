"""Which handler runs each node type (the built-in ones, or the caller's)."""

from __future__ import annotations

from collections.abc import Mapping

from ..exceptions import WorkflowError
from ..nodes.base import NodeHandler
from ..spec import WorkflowSpec


def default_handlers() -> dict[str, NodeHandler]:
    from ..nodes.adaptive import run_adaptive
    from ..nodes.approval import run_approval
    from ..nodes.routine import run_routine

    return {"routine": run_routine, "adaptive": run_adaptive, "approval": run_approval}


def handlers_for(
    spec: WorkflowSpec, handlers: Mapping[str, NodeHandler] | None
) -> dict[str, NodeHandler]:
    found = dict(handlers or default_handlers())
    missing = sorted({n.type for n in spec.nodes} - set(found))
    if missing:
        raise WorkflowError(
            f"no handler for node type(s) {', '.join(missing)}: pass handlers= for them"
        )
    return found


__all__ = ["default_handlers", "handlers_for"]

"""What the scheduler derives from a spec, once per spec (``WorkflowSpec.derived``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..events import NodeInfo
from ..spec import NodeSpec, WorkflowSpec


@dataclass(frozen=True, slots=True)
class Plan:
    order: tuple[str, ...]
    roots: tuple[str, ...]
    children: dict[str, tuple[str, ...]]
    indegree: dict[str, int]
    by_id: dict[str, NodeSpec]
    infos: tuple[NodeInfo, ...]
    """Every node's static part, in ``order``, for ``RunStarted``."""

    @classmethod
    def of(cls, spec: WorkflowSpec) -> Plan:
        order = tuple(spec.topological_order())
        children: dict[str, list[str]] = {nid: [] for nid in order}
        for node in spec.nodes:
            for up in node.upstream:
                children[up].append(node.id)
        by_id = {n.id: n for n in spec.nodes}
        return cls(
            order=order,
            roots=tuple(nid for nid in order if not by_id[nid].upstream),
            children={nid: tuple(c) for nid, c in children.items()},
            indegree={nid: len(by_id[nid].upstream) for nid in order},
            by_id=by_id,
            infos=tuple(
                NodeInfo(
                    id=n.id,
                    type=n.type,
                    agent=n.agent,
                    action=n.action,
                    depends_on=n.upstream,
                    max_retries=n.max_retries,
                )
                for n in (by_id[i] for i in order)
            ),
        )

    @classmethod
    def derived(cls, spec: WorkflowSpec) -> Plan:
        plan: Plan = spec.derived("engine.plan", cls.of)
        return plan


__all__ = ["Plan"]

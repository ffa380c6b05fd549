"""Checks a typed model cannot express: node fields that fit only some node types, and the
graph (ids unique, references known, no cycle). Problems are collected, never raised here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..exceptions import SpecIssue
from .errors import Suggester
from .located import Located, Path_
from .models import _ADAPTIVE_ONLY, _ID_RE, NodeSpec


def _check_node(
    node: NodeSpec, path: Path_, loc: Located, explicit: set[str] | None = None
) -> list[SpecIssue]:
    out: list[SpecIssue] = []
    nid = node.id
    # A default (e.g. ``defaults: {approve: true}``) applies to the nodes it fits, silently.
    explicit = set(node.model_fields_set) if explicit is None else explicit
    if not _ID_RE.match(node.id):
        out.append(
            loc.issue(
                (*path, "id"),
                f"invalid node id '{node.id}': use letters, digits, '_', '-' or '.', starting with a letter",
                node_id=nid,
            )
        )
    if not node.action.strip() and node.type != "approval":
        out.append(loc.issue(path, "missing 'action': say what this node must do", node_id=nid))
    if node.type == "approval" and len(node.upstream) != 1:
        out.append(
            loc.issue(
                path,
                "approval nodes approve exactly one upstream output: name it in 'depends_on' "
                f"(found {len(node.upstream)})",
                node_id=nid,
            )
        )
    if node.type in ("routine", "approval"):
        for f in _ADAPTIVE_ONLY:
            if f in node.model_fields_set and (f != "approve" or f in explicit):
                out.append(
                    loc.issue(
                        (*path, f),
                        f"'{f}' only applies to adaptive nodes: set 'type: adaptive' or remove it"
                        + (" (or add a node of type: approval)" if f == "approve" else ""),
                        key=True,
                        node_id=nid,
                    )
                )
    else:
        # What the article's YAML leaves out is inferred when the node runs (``nodes.adaptive.
        # infer``); the run fails naming the field when it cannot be. Say so now, don't refuse.
        if not node.entrypoint:
            out.append(
                loc.issue(
                    path,
                    "no 'entrypoint': it will be inferred from the code (its one public "
                    "function) or the action's 'name(...)'; set e.g. entrypoint: sync_to_crm",
                    node_id=nid,
                    severity="warning",
                )
            )
        if node.staging is None and node.tests_from is None:
            out.append(
                loc.issue(
                    path,
                    "nothing to check against ('staging' or 'tests_from'): the run needs a "
                    "staging API (nbworkflow run --staging URL|openapi:FILE, or STAGING_URL)",
                    node_id=nid,
                    severity="warning",
                )
            )
        if node.approve and node.staging is None and "approve" in explicit:
            out.append(
                loc.issue(
                    (*path, "approve"),
                    "'approve: true' pauses before the staging call, and this node has no "
                    "'staging': add one or remove 'approve'",
                    key=True,
                    node_id=nid,
                )
            )
        if node.staging is not None and not node.samples:
            out.append(
                loc.issue(
                    path,
                    "'staging' without 'samples': inputs will be inferred from the code's keys "
                    "or asked of the model once; set 'samples:' to choose them",
                    node_id=nid,
                    severity="warning",
                )
            )
    if node.output.format == "json" and node.output.json_schema is not None:
        schema = node.output.json_schema
        if not isinstance(schema.get("type", "object"), (str, list)):
            out.append(
                loc.issue(
                    (*path, "output", "schema"), "schema 'type' must be a string", node_id=nid
                )
            )
    for j, inp in enumerate(node.inputs):
        given = [k for k in ("file", "url", "node") if getattr(inp, k)]
        if len(given) != 1:
            out.append(
                loc.issue(
                    (*path, "inputs", j),
                    "each input needs exactly one of 'file', 'url' or 'node'",
                    node_id=nid,
                )
            )
        if inp.url and not inp.url.startswith(("http://", "https://")):
            out.append(
                loc.issue(
                    (*path, "inputs", j, "url"),
                    "url inputs must start with http:// or https://",
                    node_id=nid,
                )
            )
    return out


def _raw_refs(
    raw: dict[str, Any], path: Path_, node_id: str | None
) -> list[tuple[str | None, Path_, str]]:
    """``depends_on`` of a node that failed validation, so its references are checked too."""
    deps = raw.get("depends_on")
    if isinstance(deps, str):
        return [(node_id, (*path, "depends_on"), deps)]
    if isinstance(deps, list):
        return [
            (node_id, (*path, "depends_on", j), d) for j, d in enumerate(deps) if isinstance(d, str)
        ]
    return []


def _check_graph(
    nodes: list[NodeSpec],
    paths: list[Path_],
    declared: list[tuple[str, Path_]],
    loose_refs: list[tuple[str | None, Path_, str]],
    loc: Located,
) -> tuple[list[SpecIssue], list[str]]:
    out: list[SpecIssue] = []
    first: dict[str, Path_] = {}
    for node_id, path in declared:
        if node_id in first:
            prev = loc.mark(first[node_id])
            out.append(
                loc.issue(
                    (*path, "id"),
                    f"duplicate node id '{node_id}' (first defined on line {prev.line if prev else '?'}): "
                    "rename one of them",
                    node_id=node_id,
                )
            )
        else:
            first[node_id] = path
    ids = list(first)
    refs: list[tuple[str | None, Path_, str]] = list(loose_refs)
    for node, path in zip(nodes, paths, strict=True):
        refs += [(node.id, (*path, "depends_on", j), d) for j, d in enumerate(node.depends_on)]
        refs += [
            (node.id, (*path, "inputs", j, "node"), i.node)
            for j, i in enumerate(node.inputs)
            if i.node
        ]
        refs += [
            (node.id, (*path, f), v) for f in ("code_from", "tests_from") if (v := getattr(node, f))
        ]
    suggest = Suggester(ids)
    listing = f"; known nodes: {', '.join(ids)}" if len(ids) <= 8 else ""
    for owner, rpath, ref in refs:
        if ref == owner:
            out.append(
                loc.issue(rpath, f"node '{owner}' depends on itself: remove '{ref}'", node_id=owner)
            )
        elif ref not in first:
            out.append(
                loc.issue(
                    rpath,
                    f"unknown node '{ref}'{suggest(ref) or listing}",
                    node_id=owner,
                )
            )
    if out or len(nodes) != len(declared):
        return out, []
    cycle = _find_cycle(nodes)
    if cycle:
        where = paths[[n.id for n in nodes].index(cycle[0])]
        out.append(
            loc.issue(
                (*where, "depends_on"),
                f"dependency cycle: {' -> '.join(cycle)}; remove one of these depends_on edges",
                node_id=cycle[0],
            )
        )
    return out, cycle


def _find_cycle(nodes: list[NodeSpec]) -> list[str]:
    deps = {n.id: n.upstream for n in nodes}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in deps:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(deps[start]))]
        state[start] = 1
        while stack:
            current, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[current] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                chain = [s for s, _ in stack]
                loop = [*chain[chain.index(nxt) :], nxt]
                loop.reverse()  # depends_on points upstream; show it in run order
                return loop
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))
    return []

"""``load_workflow``: spec text -> a frozen ``WorkflowSpec`` or one ``SpecError`` listing every
problem, located. Stages: decode, YAML (bounded: ``located.py``), interpolation, structure
(every node is checked even when an earlier one is broken), then the graph (``checks.py``).
Raw PyYAML or Pydantic errors never reach the user: each becomes a ``SpecIssue`` here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..exceptions import SpecIssue
from .checks import _check_graph, _check_node, _raw_refs
from .errors import did_you_mean, fail, mask_secrets, safe_issue, show, summarise, type_name
from .located import Located, Path_, Refused, compose, decode
from .models import MAX_RETRIES_LIMIT, NODE_TYPES, NodeSpec, SpecOrigin, WorkflowSpec
from .variables import Interpolation

_NODE_FIELDS = tuple(NodeSpec.model_fields)
_TOP_FIELDS = tuple(WorkflowSpec.model_fields)


def load_workflow(
    path: str | os.PathLike[str] | None = None,
    *,
    text: str | bytes | None = None,
    variables: Mapping[str, Any] | None = None,
    use_env: bool = True,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> WorkflowSpec:
    """Load and validate a workflow from a YAML file or text; raises ``SpecError``.

    ``${VAR}`` in any string is filled from ``variables``, then (``use_env``) the environment;
    ``${VAR:-default}`` gives a fallback (which may hold ``${OTHER}`` itself) and ``$$`` a
    literal ``$``. Relative ``file:`` inputs resolve against ``base_dir`` (default: the file's
    folder, or the working directory).
    """
    if (path is None) == (text is None):
        raise TypeError("load_workflow() takes a path or text=..., not both")
    if path is not None:
        p = Path(path)
        filename = filename or str(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise fail([SpecIssue(f"cannot read the workflow file: {reason}", filename)]) from exc
        decoded = decode(data, filename)
        if isinstance(decoded, SpecIssue):
            raise fail([decoded])
        text = decoded
        folder: Path | None = p.resolve().parent
    else:
        filename = filename or "<workflow>"
        folder = None
        if isinstance(text, bytes):  # tolerated: the same located decode as for a file
            decoded = decode(text, filename)
            if isinstance(decoded, SpecIssue):
                raise fail([decoded])
            text = decoded
        elif not isinstance(text, str):
            raise TypeError(f"load_workflow(text=...) takes str, not {type(text).__name__}")
    assert text is not None
    lookup: dict[str, str] = {}
    if use_env:
        lookup.update(os.environ)
    lookup.update({k: str(v) for k, v in (variables or {}).items()})
    where = Path(base_dir) if base_dir is not None else (folder or Path.cwd())
    return _parse(text, filename, lookup, where)


def _read_yaml(text: str, filename: str) -> tuple[Any, Located]:
    loc = Located(filename)
    try:
        root = compose(text)
    except Refused as exc:
        raise fail([SpecIssue(exc.message, filename, exc.line, exc.col)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        ctx = f" {exc.context}" if exc.context else ""
        raise fail(
            [
                SpecIssue(
                    f"YAML syntax error: {problem}{ctx}; check indentation and quoting",
                    filename,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise fail(
            [
                SpecIssue(
                    f"character {_char(exc.character)} is not allowed in YAML: remove it",
                    filename,
                    line,
                    col,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise fail([SpecIssue(f"YAML error: {exc}", filename)]) from None
    if root is None:
        raise fail(
            [
                SpecIssue(
                    "the workflow is empty: write a mapping with 'name' and 'nodes'", filename, 1, 1
                )
            ]
        )
    return loc.build(root), loc


def _parse(text: str, filename: str, lookup: Mapping[str, str], base_dir: Path) -> WorkflowSpec:
    data, loc = _read_yaml(text, filename)
    if not isinstance(data, dict):
        raise fail(
            [
                loc.issue(
                    (),
                    f"the top level must be a mapping with 'name' and 'nodes', got {type_name(data)}",
                )
            ]
        )
    variables = Interpolation(lookup)
    data = _interpolate(data, (), variables, loc)
    issues = loc.issues

    raw_nodes = data.get("nodes")
    if raw_nodes is None:
        issues.append(loc.issue((), "missing required key 'nodes': list the workflow's steps"))
        raw_nodes = []
    elif not isinstance(raw_nodes, list):
        issues.append(
            loc.issue(("nodes",), f"'nodes' must be a list of nodes, got {type_name(raw_nodes)}")
        )
        raw_nodes = []
    elif not raw_nodes:
        issues.append(
            loc.issue(("nodes",), "the workflow has no nodes: add at least one under 'nodes'")
        )

    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        issues.append(loc.issue(("defaults",), "'defaults' must be a mapping of node fields"))
        defaults = {}
    for key in defaults:
        if key in ("id", "depends_on", "type"):
            issues.append(loc.issue(("defaults", key), f"'{key}' cannot have a default", key=True))
        elif key not in _NODE_FIELDS:
            issues.append(
                loc.issue(
                    ("defaults", key),
                    f"unknown node field '{key}'{did_you_mean(key, _NODE_FIELDS)}",
                    key=True,
                )
            )
    good_defaults = {
        k: v
        for k, v in defaults.items()
        if k in _NODE_FIELDS and k not in ("id", "depends_on", "type")
    }

    # Top level, nodes validated separately so each node's problems are found. Keys starting
    # with ``x-`` are the user's own (a place for YAML anchors, as in docker compose files).
    top = {k: v for k, v in data.items() if k != "nodes" and not k.startswith("x-")}
    try:
        WorkflowSpec.model_validate({**top, "nodes": []})
    except ValidationError as exc:
        issues += _translate_all(exc, (), loc, None, _TOP_FIELDS)

    nodes: list[NodeSpec] = []
    node_paths: list[Path_] = []
    declared: list[tuple[str, Path_]] = []  # every id written, even on nodes that are invalid
    loose_refs: list[tuple[str | None, Path_, str]] = []  # depends_on of invalid nodes
    for i, raw in enumerate(raw_nodes):
        npath: Path_ = ("nodes", i)
        if not isinstance(raw, dict):
            issues.append(
                loc.issue(
                    npath,
                    f"each node must be a mapping with 'id' and 'action', got {type_name(raw)}",
                )
            )
            continue
        node_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        if node_id is not None:
            declared.append((node_id, npath))
        merged = {**good_defaults, **raw}
        try:
            node = NodeSpec.model_validate(merged)
        except ValidationError as exc:
            for err in exc.errors():
                err_path = err["loc"]
                from_defaults = err_path and err_path[0] in good_defaults and err_path[0] not in raw
                issues += _translate_all(
                    [err], ("defaults",) if from_defaults else npath, loc, node_id, _NODE_FIELDS
                )
            loose_refs.extend(_raw_refs(raw, npath, node_id))
            continue
        issues.extend(_check_node(node, npath, loc, explicit=set(raw)))
        nodes.append(node)
        node_paths.append(npath)

    cycle: list[str] = []
    if declared:
        graph_issues, cycle = _check_graph(nodes, node_paths, declared, loose_refs, loc)
        issues.extend(graph_issues)
    issues = mask_secrets(issues, variables.used, data.get("secrets"))
    errors = [i for i in issues if i.severity != "warning"]
    if errors:
        raise fail(errors, cycle)
    origin = SpecOrigin(
        file=filename,
        text=text,
        base_dir=base_dir,
        node_lines={
            n.id: m.line for n, p in zip(nodes, node_paths, strict=True) if (m := loc.mark(p))
        },
        variables=dict(variables.used),
        # Escaped and bounded as errors are: a spec of many bare nodes gets a summary.
        warnings=tuple(summarise([safe_issue(i) for i in issues if i.severity == "warning"])),
    )
    return WorkflowSpec.model_validate({**top, "nodes": nodes}, context={"origin": origin})


def _interpolate(data: Any, path: Path_, variables: Interpolation, loc: Located) -> Any:
    if isinstance(data, dict):
        return {k: _interpolate(v, (*path, k), variables, loc) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, (*path, i), variables, loc) for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data
    before = len(variables.problems)
    out = variables.expand(data)
    loc.issues.extend(loc.issue(path, p) for p in variables.problems[before:])
    return out


def _translate_all(
    errors: ValidationError | list[Any],
    base: Path_,
    loc: Located,
    node_id: str | None,
    fields: tuple[str, ...],
) -> list[SpecIssue]:
    found = errors.errors() if isinstance(errors, ValidationError) else errors
    return [
        _translate(err, base, loc, node_id, fields)
        for err in found
        if (*base, *err["loc"]) not in loc.broken
    ]


def _translate(
    err: Mapping[str, Any], base: Path_, loc: Located, node_id: str | None, fields: tuple[str, ...]
) -> SpecIssue:
    """One Pydantic error -> one located, human SpecIssue."""
    sub = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = (*base, *sub)
    kind = err["type"]
    field = next((p for p in reversed(sub) if isinstance(p, str)), "")
    if kind == "extra_forbidden":
        hint = did_you_mean(field, fields if len(sub) == 1 else ())
        allowed = "" if hint else f"; allowed here: {', '.join(fields)}" if len(sub) == 1 else ""
        return loc.issue(path, f"unknown key '{field}'{hint}{allowed}", key=True, node_id=node_id)
    if kind == "missing":
        return loc.issue(path[:-1], f"missing required key '{field}'", node_id=node_id)
    value = err.get("input")
    if field == "type" and kind == "literal_error" and len(sub) == 1:
        return loc.issue(
            path,
            f"unknown node type {show(value)}{did_you_mean(str(value)[:100], NODE_TYPES)}; "
            f"use one of: {', '.join(NODE_TYPES)}",
            node_id=node_id,
        )
    ctx = err.get("ctx") or {}
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        lo = _bound(field, "ge") if kind.startswith("greater") else None
        msg = f"{field} is {show(value)}: {err['msg'].lower()}"
        if field == "max_retries":
            msg = f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}, got {show(value)}"
        elif lo is not None:
            msg += f" (at least {lo})"
        return loc.issue(path, msg, node_id=node_id)
    got = (
        f", got {type_name(value)} {show(value)}"
        if not isinstance(value, (dict, list))
        else (f", got {type_name(value)}")
    )
    text = err["msg"]
    if kind == "value_error":  # one of our validators: its message is already for people
        text = text.removeprefix("Value error, ")
    if ctx.get("expected"):
        text = f"must be one of {ctx['expected']}"
    # Without a node id the issue shows its path, which already names the field.
    prefix = f"{field or 'value'}: " if node_id is not None else ""
    return loc.issue(path, f"{prefix}{text}{got}", node_id=node_id)


def _char(c: Any) -> str:
    code = c if isinstance(c, int) else ord(c) if isinstance(c, str) and len(c) == 1 else None
    return f"U+{code:04X}" if code is not None else show(c)


def _bound(field: str, which: str) -> Any:
    info = NodeSpec.model_fields.get(field) or WorkflowSpec.model_fields.get(field)
    for meta in getattr(info, "metadata", []):
        if hasattr(meta, which):
            return getattr(meta, which)
    return None

"""YAML text -> a validated ``WorkflowSpec``, with every problem located at file:line:col.

The seed's YAML loads as it is (``name``, ``version``, ``nodes`` with ``id``, ``type``, ``agent``,
``action``, ``depends_on``, ``max_retries``). Everything a real workflow needs on top of that is
optional and documented on the fields below (they are also the published JSON Schema).

Validation runs in stages and reports *all* problems of a stage at once: YAML syntax, then
structure (keys, types, ranges; every node is checked even when an earlier one is broken), then
the graph (ids, references, cycles). Raw PyYAML or Pydantic errors never reach the user: each is
translated into a ``SpecIssue`` that names the place and the fix.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .exceptions import CycleError, SpecError, SpecIssue

NodeType = Literal["routine", "adaptive", "approval"]
NODE_TYPES: tuple[str, ...] = ("routine", "adaptive", "approval")
MAX_RETRIES_LIMIT = 10

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OutputSpec(_Strict):
    """What a node produces. ``output: code`` is shorthand for ``output: {format: code}``."""

    format: Literal["text", "code", "json"] = "text"
    """``text`` (Markdown), ``code`` (Python source) or ``json`` (validated against ``schema``)."""
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    """For ``json``: a JSON Schema the answer must satisfy."""


class InputSpec(_Strict):
    """Context handed to the model with the node's action: exactly one of file, url or node."""

    file: str | None = None
    """A local file, relative to the spec's folder."""
    url: str | None = None
    """An http(s) URL fetched when the node runs."""
    node: str | None = None
    """An upstream node id: its output (this also makes it a dependency)."""
    name: str | None = None
    """Label shown to the model; defaults to the file name, URL or node id."""

    @property
    def source(self) -> str:
        return self.file or self.url or self.node or ""

    @property
    def label(self) -> str:
        """What the prompt calls this input: a file by its name, not by where it sits on this
        machine (no home folders in prompts; recorded cassettes survive moving the project)."""
        if self.name:
            return self.name
        return Path(self.file).name if self.file else self.source


class StagingSpec(_Strict):
    """Where an adaptive node checks the payload its code produced."""

    url: str
    """Full URL of the staging endpoint, e.g. ``${STAGING_URL}/users``."""
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every request; use ``${VAR}`` for tokens (they are redacted everywhere)."""
    timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds per request before it counts as an infrastructure failure."""
    infra_retries: int = Field(default=3, ge=0, le=20)
    """How often a 5xx/timeout/connection failure is retried (same code, with backoff)."""


class SandboxOptions(_Strict):
    """How generated code is run (see the README's security model)."""

    backend: Literal["auto", "zygote", "bwrap", "docker", "process"] = "auto"
    isolation: Literal["best", "strict"] = "best"
    """``strict`` refuses to run without bwrap or docker."""
    timeout: float = Field(default=10.0, gt=0, le=600)
    memory_mb: int = Field(default=256, ge=16, le=16384)


class NodeSpec(_Strict):
    """One agent step of the workflow."""

    id: str
    """Unique name; letters, digits, ``_``, ``-``, ``.``; starts with a letter or ``_``."""
    type: NodeType = "routine"
    """``routine`` (one structured model call), ``adaptive`` (write, check, rewrite) or
    ``approval`` (no model call: a person approves its one upstream output, which passes
    through; reject fails it with the comment)."""
    agent: str = ""
    """The persona, used as the system prompt (e.g. ``Backend Engineer``)."""
    action: str = ""
    """What to do, sent to the model together with the node's inputs and upstream outputs."""
    depends_on: tuple[str, ...] = ()
    """Nodes that must succeed first. A single id may be given as a string."""
    max_retries: int = Field(default=2, ge=0, le=MAX_RETRIES_LIMIT)
    """Routine: retries after a failed model call. Adaptive: code rewrites allowed."""
    timeout: float | None = Field(default=None, gt=0, le=86400)
    """Seconds the whole node may take; none by default."""
    model: str | None = None
    """Overrides the workflow's ``model``."""
    max_tokens: int = Field(default=4096, ge=1, le=128000)
    temperature: float | None = Field(default=None, ge=0, le=1)
    output: OutputSpec = Field(default_factory=OutputSpec)
    inputs: tuple[InputSpec, ...] = ()
    # adaptive only
    code_from: str | None = None
    """Adaptive: the upstream node whose output is the code to check (default: the code node)."""
    entrypoint: str | None = None
    """Adaptive: the function to call in the generated code, e.g. ``sync_to_crm``."""
    samples: tuple[Any, ...] = ()
    """Adaptive: inputs the entrypoint is called with, one call per sample."""
    staging: StagingSpec | None = None
    """Adaptive: the API that judges the produced payloads."""
    tests_from: str | None = None
    """Adaptive: an upstream node whose output holds ``test_*`` functions run in the sandbox."""
    sandbox: SandboxOptions | None = None
    """Adaptive: overrides the workflow's ``sandbox`` options."""
    approve: bool = False
    """Adaptive: a person approves each attempt's code (shown with its diff and payloads)
    before anything is sent to staging; reject sends their comment to the model."""
    cache: bool | None = None
    """Reuse this node's output from the node cache when nothing it depends on changed.
    Default: yes for routine nodes; no for adaptive ones (they check a live staging API)."""

    @property
    def cacheable(self) -> bool:
        if self.type == "approval":
            return False  # a person's decision is never replayed from the cache
        return self.cache if self.cache is not None else self.type == "routine"

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_id_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("output", mode="before")
    @classmethod
    def _output_shorthand(cls, value: Any) -> Any:
        return {"format": value} if isinstance(value, str) else value

    @field_validator("inputs", mode="before")
    @classmethod
    def _input_shorthand(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [{"file": v} if isinstance(v, str) else v for v in value]
        return value

    @cached_property
    def upstream(self) -> tuple[str, ...]:
        """Every node this one waits for: ``depends_on`` plus nodes named by inputs/code_from."""
        extra = [i.node for i in self.inputs if i.node]
        extra += [r for r in (self.code_from, self.tests_from) if r]
        seen = dict.fromkeys(self.depends_on)
        seen.update(dict.fromkeys(extra))
        return tuple(seen)


_ADAPTIVE_ONLY = (
    "code_from",
    "entrypoint",
    "samples",
    "staging",
    "tests_from",
    "sandbox",
    "approve",
)


class WorkflowSpec(_Strict):
    """A workflow: a DAG of agent nodes and the settings they share."""

    name: str
    version: str = "1"
    description: str = ""
    model: str = "claude-sonnet-4-5"
    """Default model for every node."""
    max_concurrency: int = Field(default=4, ge=1, le=256)
    """How many nodes may run at the same time."""
    fail_fast: bool = False
    """Stop the whole run at the first failed node (default: only its downstream is skipped)."""
    token_budget: int | None = Field(default=None, ge=1)
    """Stop the run when input + output tokens exceed this."""
    secrets: tuple[str, ...] = ()
    """Environment variable names whose values are redacted everywhere (on top of the defaults)."""
    sandbox: SandboxOptions = Field(default_factory=SandboxOptions)
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Node fields applied to every node that does not set them (e.g. ``max_retries``)."""
    nodes: tuple[NodeSpec, ...]

    _source_file: str = PrivateAttr(default="<workflow>")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _node_lines: dict[str, int] = PrivateAttr(default_factory=dict)
    _source_text: str = PrivateAttr(default="")
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)
    _by_id: dict[str, NodeSpec] | None = PrivateAttr(default=None)
    _derived: dict[str, tuple[tuple[NodeSpec, ...], Any]] = PrivateAttr(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("secrets", mode="before")
    @classmethod
    def _one_secret_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    # -- accessors -------------------------------------------------------------------------
    @property
    def source_file(self) -> str:
        return self._source_file

    @property
    def source_text(self) -> str:
        """The YAML as written (before ``${VAR}`` interpolation, so it holds no secret values)."""
        return self._source_text

    @property
    def base_dir(self) -> Path:
        """Folder that relative ``file:`` inputs are resolved against."""
        return self._base_dir

    @property
    def variables(self) -> dict[str, str]:
        """The ``${VAR}`` values interpolated into this spec (name -> value)."""
        return dict(self._variables)

    def node(self, node_id: str) -> NodeSpec:
        if self._by_id is None:  # built once; the model is frozen
            self._by_id = {n.id: n for n in self.nodes}
        return self._by_id[node_id]

    def where(self, node_id: str) -> str:
        """``file:line`` of a node, for runtime messages."""
        line = self._node_lines.get(node_id)
        return f"{self._source_file}:{line}" if line else self._source_file

    def topological_order(self) -> list[str]:
        order: tuple[str, ...] = self.derived("order", lambda s: tuple(topological_order(s.nodes)))
        return list(order)

    def derived(self, key: str, build: Callable[[WorkflowSpec], Any]) -> Any:
        """``build(self)``, computed once and kept while ``nodes`` stays the same object (the
        spec is frozen; a ``model_copy`` with other nodes builds again). For data that depends
        on the nodes only, such as the engine's schedule: running a spec twice costs it once."""
        hit = self._derived.get(key)
        if hit is None or hit[0] is not self.nodes:
            hit = (self.nodes, build(self))
            self._derived[key] = hit
        return hit[1]

    def downstream(self, node_id: str) -> set[str]:
        """Every node that (transitively) depends on ``node_id``."""
        children: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for up in n.upstream:
                children[up].append(n.id)
        found: set[str] = set()
        stack = [node_id]
        while stack:
            for child in children[stack.pop()]:
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found


def topological_order(nodes: tuple[NodeSpec, ...] | list[NodeSpec]) -> list[str]:
    """Kahn's algorithm; ties keep declaration order so the result is deterministic."""
    indeg = {n.id: len(n.upstream) for n in nodes}
    children: dict[str, list[str]] = {n.id: [] for n in nodes}
    for n in nodes:
        for up in n.upstream:
            children[up].append(n.id)
    ready = deque(n.id for n in nodes if indeg[n.id] == 0)
    order: list[str] = []
    while ready:
        current = ready.popleft()
        order.append(current)
        for child in children[current]:
            indeg[child] -= 1
            if indeg[child] == 0:
                ready.append(child)
    return order


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the workflow YAML, for editors (``nbworkflow schema``)."""
    schema = WorkflowSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "nbworkflow workflow"
    return schema


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class _Mark:
    line: int
    col: int


class _Located:
    """Plain Python data built from a YAML node tree, with a mark for every path."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.value_marks: dict[Path_, _Mark] = {}
        self.key_marks: dict[Path_, _Mark] = {}
        self.issues: list[SpecIssue] = []
        self._constructor = yaml.SafeLoader("")

    def mark(self, path: Path_, *, key: bool = False) -> _Mark | None:
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path:
            if path in self.value_marks:
                return self.value_marks[path]
            path = path[:-1]
        return self.value_marks.get(())

    def issue(
        self, path: Path_, message: str, *, key: bool = False, node_id: str | None = None
    ) -> SpecIssue:
        m = self.mark(path, key=key)
        return SpecIssue(
            message=message,
            file=self.filename,
            line=m.line if m else None,
            col=m.col if m else None,
            path=format_path(path),
            node_id=node_id,
        )

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.value_marks[path] = _Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = (*path, key)
                if key in out:
                    self.key_marks[child] = _Mark(
                        key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    )
                    self.issues.append(
                        self.issue(child, f"duplicate key '{key}': remove one of them", key=True)
                    )
                    continue
                self.key_marks[child] = _Mark(
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_VAR_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(
    data: Any,
    path: Path_,
    lookup: Mapping[str, str],
    loc: _Located,
    used: dict[str, str],
) -> Any:
    if isinstance(data, dict):
        return {k: _interpolate(v, (*path, k), lookup, loc, used) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, (*path, i), lookup, loc, used) for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in lookup:
            used[name] = lookup[name]
            return lookup[name]
        if default is not None:
            return default
        loc.issues.append(
            loc.issue(
                path,
                f"undefined variable ${{{name}}}: set the environment variable {name}, pass it "
                f"with --var {name}=... (CLI) / variables={{'{name}': ...}}, or write "
                f"${{{name}:-default}}",
            )
        )
        return m.group(0)

    return _VAR_RE.sub(repl, data)


def _did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


_NODE_FIELDS = tuple(NodeSpec.model_fields)
_TOP_FIELDS = tuple(f for f in WorkflowSpec.model_fields)


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _translate(
    err: Mapping[str, Any], base: Path_, loc: _Located, node_id: str | None, fields: tuple[str, ...]
) -> SpecIssue:
    """One Pydantic error -> one located, human SpecIssue."""
    sub = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = (*base, *sub)
    kind = err["type"]
    field = str(sub[-1]) if sub else ""
    if kind == "extra_forbidden":
        hint = _did_you_mean(field, fields if len(sub) == 1 else ())
        allowed = "" if hint else f"; allowed here: {', '.join(fields)}" if len(sub) == 1 else ""
        return loc.issue(path, f"unknown key '{field}'{hint}{allowed}", key=True, node_id=node_id)
    if kind == "missing":
        return loc.issue(path[:-1], f"missing required key '{field}'", node_id=node_id)
    value = err.get("input")
    if field == "type" and kind == "literal_error" and len(sub) == 1:
        return loc.issue(
            path,
            f"unknown node type '{value}'{_did_you_mean(str(value), NODE_TYPES)}; "
            f"use one of: {', '.join(NODE_TYPES)}",
            node_id=node_id,
        )
    ctx = err.get("ctx") or {}
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        lo = _bound(field, "ge") if kind.startswith("greater") else None
        msg = f"{field} is {value!r}: {err['msg'].lower()}"
        if field == "max_retries":
            msg = f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}, got {value!r}"
        elif lo is not None:
            msg += f" (at least {lo})"
        return loc.issue(path, msg, node_id=node_id)
    got = (
        f", got {_type_name(value)} {value!r}"
        if not isinstance(value, (dict, list))
        else (f", got {_type_name(value)}")
    )
    text = err["msg"]
    if ctx.get("expected"):
        text = f"must be one of {ctx['expected']}"
    return loc.issue(path, f"{field or 'value'}: {text}{got}", node_id=node_id)


def _mask_secrets(issues: list[SpecIssue], used: Mapping[str, str], listed: Any) -> list[SpecIssue]:
    """Error messages echo bad values ("got text '...'"): one that came from a secret
    variable is shown as ``${NAME}`` instead, which also says where it came from."""
    from .sanitize import is_secret_name

    listed = {listed} if isinstance(listed, str) else set(listed or ())
    masks = sorted(
        (
            (value, f"${{{name}}}")
            for name, value in used.items()
            if len(value) >= 4 and (name in listed or is_secret_name(name))
        ),
        key=lambda vm: -len(vm[0]),
    )
    if not masks:
        return issues
    out = []
    for issue in issues:
        message = issue.message
        for value, mask in masks:
            message = message.replace(value, mask)
        out.append(replace(issue, message=message) if message != issue.message else issue)
    return out


def _bound(field: str, which: str) -> Any:
    info = NodeSpec.model_fields.get(field) or WorkflowSpec.model_fields.get(field)
    for meta in getattr(info, "metadata", []):
        if hasattr(meta, which):
            return getattr(meta, which)
    return None


def load_workflow(
    path: str | os.PathLike[str] | None = None,
    *,
    text: str | None = None,
    variables: Mapping[str, Any] | None = None,
    use_env: bool = True,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> WorkflowSpec:
    """Load and validate a workflow from a YAML file or text; raises ``SpecError``.

    ``${VAR}`` in any string is filled from ``variables``, then (``use_env``) the environment;
    ``${VAR:-default}`` gives a fallback and ``$$`` a literal ``$``. Relative ``file:`` inputs
    resolve against ``base_dir`` (default: the file's folder, or the working directory).
    """
    if (path is None) == (text is None):
        raise TypeError("load_workflow() takes a path or text=..., not both")
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(
                [SpecIssue(f"cannot read the workflow file: {exc.strerror}", str(p))]
            ) from exc
        filename = filename or str(path)
        folder = p.resolve().parent
    else:
        filename = filename or "<workflow>"
        folder = Path.cwd()
    assert text is not None
    lookup: dict[str, str] = {}
    if use_env:
        lookup.update(os.environ)
    lookup.update({k: str(v) for k, v in (variables or {}).items()})
    spec = _parse(text, filename, lookup)
    spec._source_text = text
    spec._base_dir = Path(base_dir) if base_dir is not None else folder
    return spec


def _parse(text: str, filename: str, lookup: Mapping[str, str]) -> WorkflowSpec:
    loc = _Located(filename)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        ctx = f" {exc.context}" if exc.context else ""
        raise SpecError(
            [
                SpecIssue(
                    f"YAML syntax error: {problem}{ctx}; check indentation and quoting",
                    filename,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(f"YAML error: {exc}", filename)]) from None
    if root is None:
        raise SpecError(
            [
                SpecIssue(
                    "the workflow is empty: write a mapping with 'name' and 'nodes'", filename, 1, 1
                )
            ]
        )
    try:
        data = loc.build(root)
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(f"YAML error: {exc}", filename)]) from None
    if not isinstance(data, dict):
        raise SpecError(
            [
                loc.issue(
                    (),
                    f"the top level must be a mapping with 'name' and 'nodes', got {_type_name(data)}",
                )
            ]
        )
    used: dict[str, str] = {}
    data = _interpolate(data, (), lookup, loc, used)
    issues = loc.issues

    raw_nodes = data.get("nodes")
    if raw_nodes is None:
        issues.append(loc.issue((), "missing required key 'nodes': list the workflow's steps"))
        raw_nodes = []
    elif not isinstance(raw_nodes, list):
        issues.append(
            loc.issue(("nodes",), f"'nodes' must be a list of nodes, got {_type_name(raw_nodes)}")
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
                    f"unknown node field '{key}'{_did_you_mean(key, _NODE_FIELDS)}",
                    key=True,
                )
            )
    good_defaults = {
        k: v
        for k, v in defaults.items()
        if k in _NODE_FIELDS and k not in ("id", "depends_on", "type")
    }

    # Top level, nodes validated separately so each node's problems are found.
    top = {k: v for k, v in data.items() if k != "nodes"}
    try:
        WorkflowSpec.model_validate({**top, "nodes": []})
    except ValidationError as exc:
        for err in exc.errors():
            issues.append(_translate(err, (), loc, None, _TOP_FIELDS))

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
                    f"each node must be a mapping with 'id' and 'action', got {_type_name(raw)}",
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
                if err_path and err_path[0] in good_defaults and err_path[0] not in raw:
                    issues.append(_translate(err, ("defaults",), loc, node_id, _NODE_FIELDS))
                else:
                    issues.append(_translate(err, npath, loc, node_id, _NODE_FIELDS))
            loose_refs.extend(_raw_refs(raw, npath, node_id))
            continue
        issues.extend(_check_node(node, npath, loc, explicit=set(raw)))
        nodes.append(node)
        node_paths.append(npath)

    cycle: list[str] = []
    if declared:
        graph_issues, cycle = _check_graph(nodes, node_paths, declared, loose_refs, loc)
        issues.extend(graph_issues)
    if issues:
        issues = _mask_secrets(issues, used, data.get("secrets"))
        issues.sort(key=lambda i: (i.line or 0, i.col or 0))
        if cycle:
            raise CycleError(issues, cycle)
        raise SpecError(issues)
    spec = WorkflowSpec.model_validate({**top, "nodes": nodes})
    spec._source_file = filename
    spec._node_lines = {
        n.id: m.line for n, p in zip(nodes, node_paths, strict=True) if (m := loc.mark(p))
    }
    spec._variables = used
    return spec


def _check_node(
    node: NodeSpec, path: Path_, loc: _Located, explicit: set[str] | None = None
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
        if not node.entrypoint:
            out.append(
                loc.issue(
                    path,
                    "adaptive nodes need 'entrypoint': the function to call, e.g. sync_to_crm",
                    node_id=nid,
                )
            )
        if node.staging is None and node.tests_from is None:
            out.append(
                loc.issue(
                    path,
                    "adaptive nodes need something to check against: 'staging' (an API) and/or "
                    "'tests_from' (a node that wrote tests)",
                    node_id=nid,
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
                    "'staging' needs 'samples': inputs to call the entrypoint with",
                    node_id=nid,
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
    loc: _Located,
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
    for owner, rpath, ref in refs:
        if ref == owner:
            out.append(
                loc.issue(rpath, f"node '{owner}' depends on itself: remove '{ref}'", node_id=owner)
            )
        elif ref not in first:
            out.append(
                loc.issue(
                    rpath,
                    f"unknown node '{ref}'{_did_you_mean(ref, ids)}; known nodes: {', '.join(ids)}",
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


__all__ = [
    "InputSpec",
    "NodeSpec",
    "OutputSpec",
    "SandboxOptions",
    "StagingSpec",
    "WorkflowSpec",
    "json_schema",
    "load_workflow",
    "topological_order",
]

"""The workflow's typed model: what a valid spec is (also the published JSON Schema).

The seed's YAML loads as it is (``name``, ``version``, ``nodes`` with ``id``, ``type``, ``agent``,
``action``, ``depends_on``, ``max_retries``). Everything a real workflow needs on top of that is
optional and documented on the fields below. Turning YAML text into these models, with every
problem located, is the job of ``load.py``; this module knows nothing about YAML.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from ..config import DEFAULT_MODEL
from ..exceptions import SpecIssue

NodeType = Literal["routine", "adaptive", "approval"]
NODE_TYPES: tuple[str, ...] = ("routine", "adaptive", "approval")
MAX_RETRIES_LIMIT = 10

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed here (they would drive the terminal)")
    return value


Label = Annotated[str, AfterValidator(_no_control)]
"""Text printed as it is wherever the workflow is shown (name, model, persona): no control
characters, so a spec cannot recolour or clear a terminal."""


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
    agent: Label = ""
    """The persona, used as the system prompt (e.g. ``Backend Engineer``)."""
    action: str = ""
    """What to do, sent to the model together with the node's inputs and upstream outputs."""
    depends_on: tuple[str, ...] = ()
    """Nodes that must succeed first. A single id may be given as a string."""
    max_retries: int = Field(default=2, ge=0, le=MAX_RETRIES_LIMIT)
    """Routine: retries after a failed model call. Adaptive: code rewrites allowed."""
    timeout: float | None = Field(default=None, gt=0, le=86400)
    """Seconds the whole node may take; none by default."""
    model: Label | None = None
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

    _upstream: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any, /) -> None:
        # Derived once, while the node is built (the scheduler reads it for every node run);
        # never written to a finished node, so a node stays the value it was loaded as.
        self._upstream = self._compute_upstream()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._upstream = copy._compute_upstream()
        return copy

    def _compute_upstream(self) -> tuple[str, ...]:
        extra = [i.node for i in self.inputs if i.node]
        extra += [r for r in (self.code_from, self.tests_from) if r]
        seen = dict.fromkeys(self.depends_on)
        seen.update(dict.fromkeys(extra))
        return tuple(seen)

    @property
    def upstream(self) -> tuple[str, ...]:
        """Every node this one waits for: ``depends_on`` plus nodes named by inputs/code_from."""
        # straight from the private dict: pydantic's __getattr__ for private attributes costs
        # microseconds, and the scheduler asks this for every node it runs
        upstream: tuple[str, ...] = self.__pydantic_private__["_upstream"]  # type: ignore[index]
        return upstream


ADAPTIVE_FIELDS = (
    "code_from",
    "entrypoint",
    "samples",
    "staging",
    "tests_from",
    "sandbox",
    "approve",
)
"""Node fields that only adaptive nodes may set."""
_ADAPTIVE_ONLY = ADAPTIVE_FIELDS


@dataclass(frozen=True)
class SpecOrigin:
    """Where a loaded spec came from; set once, when the spec is built."""

    file: str = "<workflow>"
    text: str = ""
    """The YAML as written, before interpolation."""
    base_dir: Path | None = None
    """Folder for relative ``file:`` inputs; ``None``: the working directory at use."""
    node_lines: dict[str, int] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    warnings: tuple[SpecIssue, ...] = ()
    """Problems that did not refuse the spec (``SpecIssue.severity == "warning"``)."""


class _Memo:
    """Derived data kept beside a spec. Every memo equals every other, so a spec that has been
    run compares equal to a fresh load of the same text."""

    __slots__ = ("_hits",)

    def __init__(self) -> None:
        self._hits: dict[tuple[str, int], tuple[object, Any]] = {}

    def get(self, key: tuple[str, int], owner: object, build: Callable[[], Any]) -> Any:
        hit = self._hits.get(key)
        if hit is None or hit[0] is not owner:  # an id can be reused once its owner is gone
            hit = (owner, build())
            self._hits[key] = hit
        return hit[1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Memo)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> _Memo:
        return _Memo()


class WorkflowSpec(_Strict):
    """A workflow: a DAG of agent nodes and the settings they share."""

    name: Label
    version: Label = "1"
    description: str = ""
    model: Label = DEFAULT_MODEL
    """Default model for every node."""
    max_concurrency: int = Field(default=4, ge=1, le=256)
    """How many nodes may run at the same time."""
    fail_fast: bool = False
    """Stop the whole run at the first failed node (default: only its downstream is skipped)."""
    token_budget: int | None = Field(default=None, ge=1)
    """Stop the run when input + output tokens exceed this."""
    cost_budget: float | None = None
    """Stop the run when its model calls cost more than this many US dollars (priced from the
    ``genai-prices`` table; calls of unknown price are counted apart, not in the sum)."""
    secrets: tuple[str, ...] = ()
    """Environment variable names whose values are redacted everywhere (on top of the defaults)."""
    sandbox: SandboxOptions = Field(default_factory=SandboxOptions)
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Node fields applied to every node that does not set them (e.g. ``max_retries``)."""
    nodes: tuple[NodeSpec, ...]

    _origin: SpecOrigin = PrivateAttr(default_factory=lambda: SpecOrigin())
    _memo: _Memo = PrivateAttr(default_factory=lambda: _Memo())

    def model_post_init(self, context: Any, /) -> None:
        # Where the spec came from is given at construction (``model_validate(...,
        # context={"origin": ...})``), never written afterwards: a loaded spec is frozen for real.
        if isinstance(context, dict) and isinstance(context.get("origin"), SpecOrigin):
            self._origin = context["origin"]

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("cost_budget", mode="before")
    @classmethod
    def _dollars(cls, value: Any) -> Any:
        # One message for every wrong shape ("2.50 $", true, -1, .nan): what to write instead.
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is None or (ok and math.isfinite(value) and value > 0):
            return value
        raise ValueError("write a number of US dollars above 0, e.g. cost_budget: 2.50")

    @field_validator("secrets", mode="before")
    @classmethod
    def _one_secret_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    # -- accessors -------------------------------------------------------------------------
    @property
    def source_file(self) -> str:
        return self._origin.file

    @property
    def source_text(self) -> str:
        """The YAML as written (before ``${VAR}`` interpolation, so it holds no secret values)."""
        return self._origin.text

    @property
    def base_dir(self) -> Path:
        """Folder that relative ``file:`` inputs are resolved against."""
        return self._origin.base_dir if self._origin.base_dir is not None else Path.cwd()

    @property
    def warnings(self) -> tuple[SpecIssue, ...]:
        """What loading found worth saying but did not refuse, located (e.g. an adaptive node
        without ``entrypoint``: the run infers it). Set when the spec is built."""
        return self._origin.warnings

    @property
    def variables(self) -> dict[str, str]:
        """The ``${VAR}`` values interpolated into this spec (name -> value)."""
        return dict(self._origin.variables)

    def node(self, node_id: str) -> NodeSpec:
        by_id: dict[str, NodeSpec] = self.derived(
            "spec.by_id", lambda s: {n.id: n for n in s.nodes}
        )
        return by_id[node_id]

    def where(self, node_id: str) -> str:
        """``file:line`` of a node, for runtime messages."""
        line = self._origin.node_lines.get(node_id)
        return f"{self._origin.file}:{line}" if line else self._origin.file

    def topological_order(self) -> list[str]:
        order: tuple[str, ...] = self.derived("order", lambda s: tuple(topological_order(s.nodes)))
        return list(order)

    def derived(self, key: str, build: Callable[[WorkflowSpec], Any]) -> Any:
        """``build(self)``, computed once and kept while ``nodes`` stays the same object (a
        ``model_copy`` with other nodes builds again). For data that depends on the nodes only,
        such as the engine's schedule: running a spec twice costs it once. The memo is not part
        of the spec's value (equality, dumps and copies ignore what it holds)."""
        memo: _Memo = self.__pydantic_private__["_memo"]  # type: ignore[index]  # fast path
        return memo.get((key, id(self.nodes)), self.nodes, lambda: build(self))

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

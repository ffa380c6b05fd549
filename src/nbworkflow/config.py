"""One configuration: the frozen settings of a run and of each of its nodes.

Every setting has one way in and one place it is decided. ``build_settings`` merges, field by
field and in this order (later wins):

1. built-in defaults (``SandboxSettings()``, the spec models' defaults);
2. the workflow's fields (``model``, ``sandbox:``, ``max_concurrency``, ``token_budget``,
   ``cost_budget``...);
3. the workflow's ``defaults:`` block, then the node's own fields: a node's
   ``sandbox: {timeout: 5}`` changes the timeout and keeps every other sandbox field it did not
   write (isolation, memory, backend) from the layers before;
4. the options of the CLI, the magic or the Python API (``RunOptions``): ``--model`` is the model
   of every request of the run, ``--sandbox`` the backend of every sandbox job.

Three settings only ever get stricter, whatever a later layer says:

* ``isolation``: ``strict`` anywhere (workflow, defaults, node) stays ``strict``; an option or a
  backend choice never turns it back to ``best`` (the sandbox refuses a weak backend under it);
* ``memory_mb``: a workflow that writes ``sandbox: {memory_mb: N}`` sets a ceiling its nodes may
  lower but not raise (asking for more is a spec error that names the fix);
* network: no setting turns it on; sandboxed code has no network on every backend but the
  ``process`` fallback, which ``isolation: strict`` refuses.

Consumers read ``RunSettings`` / ``NodeSettings`` (the engine, the node context, the adaptive
loop, the cache key, ``RunStarted``) and never look at the spec's raw fields again for these.
The type-only imports below point up the layers on purpose: this module reads specs and names
the types of injected parts, but imports none of them at run time.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import WorkflowError

if TYPE_CHECKING:
    import httpx

    from .approval import Approver
    from .nodes.adaptive.attempt import SandboxPort
    from .nodes.adaptive.record import ResumePoint
    from .spec import NodeSpec, WorkflowSpec

Isolation = Literal["best", "strict"]
DEFAULT_MODEL = "claude-sonnet-5"
"""The model of a workflow that names none (a bare name is Anthropic's). It was
claude-sonnet-4-5 until Anthropic's SDK listed that one as ending on 2026-11-30."""
INFRA_BACKOFF_S = 0.5
"""First infrastructure retry of a staging request waits about this long (then doubling)."""
INFRA_BACKOFF_MAX_S = 8.0
"""No single infrastructure wait is longer."""
MAX_STAGING_BODY_BYTES = 256 * 1024
"""Most bytes read of any staging response body; the rest is never read (cut while streaming)."""


@dataclass(frozen=True, slots=True)
class StagingTarget:
    """The run's staging API for adaptive nodes that name none (``--staging``, ``STAGING_URL``,
    or the contract mock ``--staging openapi:FILE`` starts: ``staging.target``)."""

    url: str
    """The endpoint's full URL, e.g. ``http://127.0.0.1:8765/users``."""
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    source: str = "--staging"
    """Where it came from, as the decision log says it."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Options given for one run by the CLI, the magic or Python (the most specific layer).

    Every field is typed: a misspelt option is a ``TypeError``, never silently ignored.
    ``None`` means "not given": the spec decides.
    """

    model: str | None = None
    """Model of every request of the run (overrides the workflow's and each node's)."""
    sandbox_backend: str | None = None
    """Sandbox backend (``zygote``, ``bwrap``, ``docker``, ``process``) of every sandbox job."""
    max_concurrency: int | None = None
    fail_fast: bool | None = None
    token_budget: int | None = None
    cost_budget: float | None = None
    """US dollars the run's model calls may cost (``--cost-budget``; beats the workflow's)."""
    approver: Approver | None = None
    """Who answers approval requests (``nbworkflow.approval``). ``None``: nodes that need an
    approval wait for it (the run ends ``waiting``), and an adaptive node that used up its
    rewrites fails "surfaced to a human". Pass ``PendingApprover()`` to make exhausted nodes
    wait too."""
    staging: StagingTarget | str | None = None
    """Staging API of adaptive nodes without ``staging:``: a URL, ``openapi:FILE[#METHOD
    /path]`` (the run starts that document's contract mock; ``arun_workflow`` resolves it) or
    a ``StagingTarget``. ``None``: ``STAGING_URL`` from the environment, if set."""
    resume_points: Mapping[str, ResumePoint] = field(default_factory=dict)
    """Per node id: where a waiting adaptive node of a previous run stopped (set by resume)."""
    spent_before: Spent | None = None
    """What the run's earlier segments used (set by resume; the budgets count it)."""
    # Injected parts and knobs for tests and benchmarks.
    infra_backoff_s: float | None = None
    """First staging infrastructure retry waits about this long (default ``INFRA_BACKOFF_S``)."""
    infra_backoff_max_s: float | None = None
    """Cap of one infrastructure wait (default ``INFRA_BACKOFF_MAX_S``)."""
    sandbox_port: SandboxPort | None = None
    """Replaces the real sandbox of adaptive nodes (a test double; code never runs in-process)."""
    staging_transport: httpx.AsyncBaseTransport | None = None
    """An ``httpx`` transport for staging requests (e.g. ``MockTransport``)."""


@dataclass(frozen=True, slots=True)
class Spent:
    """What the earlier segments of a resumed run used (set by resume): the run's token and
    cost budgets count it, so approving and resuming never restarts a budget from zero."""

    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    """Dollars of the calls whose price was known."""
    segments: int = 0
    """How many earlier segments this sums."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """The effective sandbox settings of one node: what its sandbox jobs get."""

    backend: str = "auto"
    isolation: Isolation = "best"
    timeout: float = 10.0
    """Wall-clock seconds per sandbox job (the sandbox derives its CPU limit from it)."""
    memory_mb: int = 256

    def record(self) -> dict[str, Any]:
        """As written in each adaptive attempt's decision-log entry."""
        return {
            "backend": self.backend,
            "isolation": self.isolation,
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
        }


@dataclass(frozen=True, slots=True)
class StagingSettings:
    """The effective settings of an adaptive node's staging requests."""

    url: str
    method: str
    headers: Mapping[str, str]
    timeout: float
    """Total seconds one request may take, connect to last body byte (a deadline, not a
    per-read timeout: a server that trickles bytes is cut at it)."""
    infra_retries: int
    backoff_s: float
    backoff_max_s: float
    max_body_bytes: int = MAX_STAGING_BODY_BYTES
    source: str = "spec"
    """``spec`` (the node's ``staging:``) or where the run's default came from."""


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The effective settings of one node."""

    node_id: str
    model: str
    """The model every request of this node names."""
    max_tokens: int
    temperature: float | None
    timeout: float | None
    """Seconds the whole node may take (``None``: no limit)."""
    max_retries: int
    sandbox: SandboxSettings
    staging: StagingSettings | None


@dataclass(frozen=True, slots=True)
class RunSettings:
    """The effective settings of one run; ``nodes`` holds each node's."""

    model: str
    """The run's model as ``RunStarted`` records it (a node may name its own)."""
    max_concurrency: int
    fail_fast: bool
    token_budget: int | None
    cost_budget: float | None
    """US dollars the run may spend on model calls (``None``: no limit, still priced)."""
    sandbox: SandboxSettings
    """The workflow's sandbox settings (what a node that writes none gets)."""
    nodes: Mapping[str, NodeSettings]
    options: RunOptions
    """The options the settings were built with (approver, resume points, injected parts)."""

    def node(self, node_id: str) -> NodeSettings:
        return self.nodes[node_id]


_DEFAULT = SandboxSettings()


def _fields_set(value: Any) -> dict[str, Any]:
    """The fields a person wrote in a ``SandboxOptions`` (or a raw ``defaults:`` mapping)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return {name: getattr(value, name) for name in value.model_fields_set}


def _sandbox_for(
    spec: WorkflowSpec,
    node: NodeSpec | None,
    options: RunOptions,
    workflow_level: SandboxSettings | None = None,
) -> SandboxSettings:
    workflow = _fields_set(spec.sandbox)
    layers = [workflow]
    if node is not None:
        defaults = spec.defaults.get("sandbox") if spec.defaults else None
        if node.sandbox is None and not isinstance(defaults, Mapping) and workflow_level:
            return workflow_level  # the node writes nothing of its own: share the run's
        layers += [_fields_set(defaults) if isinstance(defaults, Mapping) else {}]
        layers += [_fields_set(node.sandbox)]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    strict = any(layer.get("isolation") == "strict" for layer in layers)
    ceiling = workflow.get("memory_mb")
    memory = int(merged.get("memory_mb", _DEFAULT.memory_mb))
    if ceiling is not None and memory > ceiling and node is not None:
        raise WorkflowError(
            f"node '{node.id}' ({spec.where(node.id)}): sandbox.memory_mb {memory} is above the "
            f"workflow's sandbox.memory_mb {ceiling}, which is a ceiling for every node: raise "
            "the workflow's or lower the node's"
        )
    backend = options.sandbox_backend or str(merged.get("backend", _DEFAULT.backend))
    return SandboxSettings(
        backend=backend,
        isolation="strict" if strict else "best",
        timeout=float(merged.get("timeout", _DEFAULT.timeout)),
        memory_mb=memory,
    )


def _run_staging(node: NodeSpec, options: RunOptions) -> StagingTarget | None:
    target = options.staging
    if node.type != "adaptive" or target is None:
        return None
    if isinstance(target, StagingTarget):
        return target
    if target.startswith(("http://", "https://")):
        return StagingTarget(url=target)
    raise WorkflowError(
        f"staging {target!r}: give an http(s) URL of the endpoint, or openapi:FILE[#METHOD "
        "/path] through nbworkflow run / arun_workflow (which start that document's mock)"
    )


def _staging_for(node: NodeSpec, options: RunOptions) -> StagingSettings | None:
    s = node.staging
    if s is None:
        # The article's adaptive node names no staging: the run's default serves it.
        run = _run_staging(node, options)
        if run is None:
            return None
        url, method, headers, source = run.url, run.method, run.headers, run.source
        timeout, infra_retries = 10.0, 3
    else:
        url, method, headers, source = s.url, s.method, s.headers, "spec"
        timeout, infra_retries = s.timeout, s.infra_retries
    return StagingSettings(
        url=url,
        method=method,
        headers=MappingProxyType(dict(headers)),
        timeout=timeout,
        infra_retries=infra_retries,
        source=source,
        backoff_s=INFRA_BACKOFF_S if options.infra_backoff_s is None else options.infra_backoff_s,
        backoff_max_s=(
            INFRA_BACKOFF_MAX_S
            if options.infra_backoff_max_s is None
            else options.infra_backoff_max_s
        ),
    )


def node_settings(
    spec: WorkflowSpec,
    node: NodeSpec,
    options: RunOptions,
    workflow_sandbox: SandboxSettings | None = None,
) -> NodeSettings:
    """One node's settings (``build_settings`` builds them all; this is its one step)."""
    return NodeSettings(
        node_id=node.id,
        model=options.model or node.model or spec.model,
        max_tokens=node.max_tokens,
        temperature=node.temperature,
        timeout=node.timeout,
        max_retries=node.max_retries,
        sandbox=_sandbox_for(spec, node, options, workflow_sandbox),
        staging=_staging_for(node, options),
    )


_USD_FIX = "give a number of US dollars above 0 (e.g. --cost-budget 2.50)"


def _cost_budget(value: float | None) -> float | None:
    # The spec checks its own field; an option (CLI, magic, Python) is checked here, once.
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value > 0):
        raise WorkflowError(f"cost budget {value!r}: {_USD_FIX}")
    return float(value)


def usd_option(text: str) -> float:
    """``--cost-budget`` as the CLI and the magic parse it: a usage error names the fix."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: {_USD_FIX}")
    return value


def build_settings(spec: WorkflowSpec, options: RunOptions | None = None) -> RunSettings:
    """The run's settings and every node's, merged as the module docstring says."""
    options = options or RunOptions()
    # Node settings depend on the spec and on these options only: derived once per spec and
    # options (as the engine's schedule is), so running a spec again costs nothing here.
    key = (
        f"config.nodes:{options.model!r}:{options.sandbox_backend!r}:"
        f"{options.infra_backoff_s!r}:{options.infra_backoff_max_s!r}:{options.staging!r}"
    )

    def build(_: WorkflowSpec) -> tuple[SandboxSettings, Mapping[str, NodeSettings]]:
        workflow = _sandbox_for(spec, None, options)
        nodes = {n.id: node_settings(spec, n, options, workflow) for n in spec.nodes}
        return workflow, MappingProxyType(nodes)

    workflow_sandbox, nodes = spec.derived(key, build)
    return RunSettings(
        model=options.model or spec.model,
        max_concurrency=options.max_concurrency or spec.max_concurrency,
        fail_fast=spec.fail_fast if options.fail_fast is None else options.fail_fast,
        token_budget=spec.token_budget if options.token_budget is None else options.token_budget,
        cost_budget=_cost_budget(
            spec.cost_budget if options.cost_budget is None else options.cost_budget
        ),
        sandbox=workflow_sandbox,
        nodes=nodes,
        options=options,
    )


__all__ = [
    "DEFAULT_MODEL",
    "INFRA_BACKOFF_MAX_S",
    "INFRA_BACKOFF_S",
    "MAX_STAGING_BODY_BYTES",
    "NodeSettings",
    "RunOptions",
    "RunSettings",
    "SandboxSettings",
    "Spent",
    "StagingSettings",
    "StagingTarget",
    "build_settings",
    "node_settings",
    "usd_option",
]

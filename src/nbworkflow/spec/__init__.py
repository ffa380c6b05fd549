"""The workflow spec: typed models (``models``), a bounded located YAML reader (``located``),
``${VAR}`` interpolation (``variables``), checks (``checks``), problems -> ``SpecError``
(``errors``) and ``load_workflow`` tying them together (``load``)."""

from __future__ import annotations

from .load import load_workflow
from .models import (
    MAX_RETRIES_LIMIT,
    NODE_TYPES,
    InputSpec,
    NodeSpec,
    NodeType,
    OutputSpec,
    SandboxOptions,
    SpecOrigin,
    StagingSpec,
    WorkflowSpec,
    json_schema,
    topological_order,
)

__all__ = [
    "MAX_RETRIES_LIMIT",
    "NODE_TYPES",
    "InputSpec",
    "NodeSpec",
    "NodeType",
    "OutputSpec",
    "SandboxOptions",
    "SpecOrigin",
    "StagingSpec",
    "WorkflowSpec",
    "json_schema",
    "load_workflow",
    "topological_order",
]

"""The whole error tree of nbworkflow.

"You wrote the spec wrong" is kept apart from "the run failed"::

    WorkflowError
    +-- SpecError (also ValueError)      .errors: [SpecIssue(file, line, col, path, message)]
    |   +-- CycleError                   .cycle: ["a", "b", "a"]
    +-- ProviderError                    .status_code, .retryable; mapped once from SDK errors
    |   +-- OutputValidationError        .attempts, .last_response
    |   +-- BudgetExceeded               the run's token budget is spent
    +-- SandboxError
    |   +-- SandboxUnavailable           says how to install what is missing
    +-- StagingError                     .status_code; the staging target is down or refuses us
    +-- NodeFailed                       .node_id, cause chained
    +-- RunCancelled

Every message says what to do about it. Every error pickles with its fields (``.errors``,
``.cycle``, ``.attempts``...): a batch's workers send them back to the notebook. The notebook magic turns only ``WorkflowError`` into a
short ``UsageError`` (no traceback); anything else is our bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal


class WorkflowError(Exception):
    """Base class of every error nbworkflow raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle's default calls cls(*self.args): wrong for every error whose __init__ takes
        # something else than its message (SpecError(errors), NodeFailed(node_id, message)...).
        # Rebuild from the message and the fields instead, without calling __init__.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[WorkflowError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a workflow spec, located as precisely as the YAML allows."""

    message: str
    """What is wrong and how to fix it."""
    file: str = "<workflow>"
    """The spec's file name, or ``<workflow>`` / ``<cell>`` for text."""
    line: int | None = None
    """1-based line of the offending YAML node."""
    col: int | None = None
    """1-based column of the offending YAML node."""
    path: str = ""
    """Dotted location inside the document, e.g. ``nodes[2].depends_on``."""
    node_id: str | None = None
    """The node the problem belongs to, when there is one."""
    severity: Literal["error", "warning"] = "error"
    """``error`` (the spec is refused) or ``warning`` (it loads; the run decides, e.g. an
    adaptive node's missing ``entrypoint`` is inferred when it runs)."""

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return where

    def __str__(self) -> str:
        parts = [self.location()]
        if self.node_id:
            parts.append(f"node '{self.node_id}'")
        elif self.path:
            parts.append(self.path)
        return f"{': '.join(parts)}: {self.message}"


class SpecError(WorkflowError, ValueError):
    """The workflow spec is invalid. ``.errors`` lists every problem found, not only the first."""

    def __init__(self, errors: Sequence[SpecIssue]) -> None:
        self.errors: list[SpecIssue] = list(errors)
        count = len(self.errors)
        head = f"{count} problem{'s' if count != 1 else ''} in the workflow spec"
        super().__init__(head + ":\n" + "\n".join(f"  {e}" for e in self.errors))


class CycleError(SpecError):
    """The nodes' ``depends_on`` edges form a cycle; ``.cycle`` is the loop, first node repeated."""

    def __init__(self, errors: Sequence[SpecIssue], cycle: Sequence[str]) -> None:
        self.cycle: list[str] = list(cycle)
        super().__init__(errors)


class ProviderError(WorkflowError):
    """A model call failed. ``retryable`` says whether trying again later can help."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class OutputValidationError(ProviderError):
    """The model's answer never matched the required structure, even after repair prompts."""

    def __init__(self, message: str, *, attempts: int, last_response: str) -> None:
        super().__init__(message, retryable=False)
        self.attempts = attempts
        self.last_response = last_response


class BudgetExceeded(ProviderError):
    """The run used more than its ``token_budget`` or ``cost_budget`` allows (``budget``
    says which: ``"token"`` or ``"cost"``)."""

    def __init__(self, message: str, *, budget: str = "token") -> None:
        super().__init__(message, retryable=False)
        self.budget = budget


class SandboxError(WorkflowError):
    """Generated code could not be run in the sandbox (not: the code raised; that is a result)."""


class SandboxUnavailable(SandboxError):
    """The requested sandbox backend is not available here; the message says how to install it."""


class StagingError(WorkflowError):
    """The staging target is unreachable, down, or refuses our credentials."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class NodeFailed(WorkflowError):
    """A node of the workflow failed; the cause is chained (``__cause__``)."""

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(f"node '{node_id}' failed: {message}")
        self.node_id = node_id
        self.reason = message


class RunCancelled(WorkflowError):
    """The run was cancelled (Ctrl-C, kernel interrupt, task cancellation)."""


__all__ = [
    "BudgetExceeded",
    "CycleError",
    "NodeFailed",
    "OutputValidationError",
    "ProviderError",
    "RunCancelled",
    "SandboxError",
    "SandboxUnavailable",
    "SpecError",
    "SpecIssue",
    "StagingError",
    "WorkflowError",
]

"""A run's secrets: which values are redacted, and the two ways text is cleaned with them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

from ..events import NodeInfo
from ..sanitize import redact_values as _redact_values
from ..sanitize import sanitize as _sanitize
from ..sanitize import value_redactor
from ..spec import WorkflowSpec


def secret_values(spec: WorkflowSpec, extra: Iterable[str] = ()) -> list[str]:
    """Values to redact by exact match: the spec's ``secrets:`` env vars, secret-looking
    interpolated ``${VAR}`` values, and whatever the caller registers."""
    from ..sanitize import is_secret_name

    values = [os.environ[name] for name in spec.secrets if os.environ.get(name)]
    values += [v for k, v in spec.variables.items() if k in spec.secrets or is_secret_name(k)]
    values += list(extra)
    return [v for v in dict.fromkeys(values) if v]


class RunSecrets:
    """The run's secret values and the sanitizers built on them."""

    def __init__(self, spec: WorkflowSpec, known: Iterable[str] = ()) -> None:
        self.values = secret_values(spec, known)

    def sanitize(self, text: str) -> str:
        """Every redaction rule plus the run's values: for error text and events."""
        return _sanitize(text, self.values)

    def redact_values(self, text: str) -> str:
        """Only the run's exact values: for everything sent to the model."""
        return _redact_values(text, self.values)

    def node_infos(self, infos: tuple[NodeInfo, ...]) -> tuple[NodeInfo, ...]:
        """The nodes as ``RunStarted`` shows them (log, widget): a secret value interpolated
        into a persona or an action is removed there too."""
        scrub = value_redactor(self.values)
        if scrub is None:
            return infos
        return tuple(
            info
            if scrub(info.agent) == info.agent and scrub(info.action) == info.action
            else replace(info, agent=scrub(info.agent), action=scrub(info.action))
            for info in infos
        )


__all__ = ["RunSecrets", "secret_values"]

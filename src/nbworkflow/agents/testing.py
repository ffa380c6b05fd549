"""Where the guard and the Messages API double used to live: kept so old imports still work.

The guard is product code in ``nbworkflow.agents.guard`` (imported here as before); the doubles
moved to ``nbworkflow.testing`` and are imported from there only when asked for (a lazy,
documented exception to "nothing imports testing").
"""

from __future__ import annotations

from typing import Any

from .guard import (
    ALLOW_ENV,
    allow_model_requests,
    check_model_request,
    is_loopback,
    model_requests_allowed,
)


def __getattr__(name: str) -> Any:
    from ..testing import messages  # lazy: the product never loads the doubles

    if name in messages.__all__:
        return getattr(messages, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALLOW_ENV",
    "allow_model_requests",
    "check_model_request",
    "is_loopback",
    "model_requests_allowed",
]

"""The model-request guard: with ``NBWORKFLOW_ALLOW_MODEL_REQUESTS=0`` (the test suite sets it)
every provider refuses a base URL that is not loopback, so no test reaches a real model by
accident. It is product code (every provider calls ``check_model_request`` before a request);
the doubles the tests talk to instead live in ``nbworkflow.testing``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from ..exceptions import ProviderError

ALLOW_ENV = "NBWORKFLOW_ALLOW_MODEL_REQUESTS"
"""Environment variable: ``0`` (or ``false``/``no``/``off``) blocks non-loopback model calls."""

_FALSE = {"0", "false", "no", "off"}


def model_requests_allowed() -> bool:
    """Whether calls to a real (non-loopback) model endpoint are allowed right now."""
    return os.environ.get(ALLOW_ENV, "1").strip().lower() not in _FALSE


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine (127.0.0.0/8, ::1 or ``localhost``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_model_request(url: str) -> None:
    """Raise ``ProviderError`` if a model call to ``url`` is blocked by the guard."""
    if model_requests_allowed() or is_loopback(url):
        return
    raise ProviderError(
        f"real model requests are blocked ({ALLOW_ENV}=0, as in the test suite): refusing to "
        f"call {url}. Point the provider at a loopback server "
        "(nbworkflow.testing.MessagesServer), use --provider replay or scripted, or set "
        f"{ALLOW_ENV}=1 to allow live calls"
    )


@contextmanager
def allow_model_requests(allow: bool = True) -> Iterator[None]:
    """Temporarily allow (or block) real model requests, restoring the setting afterwards."""
    old = os.environ.get(ALLOW_ENV)
    os.environ[ALLOW_ENV] = "1" if allow else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ALLOW_ENV, None)
        else:
            os.environ[ALLOW_ENV] = old


__all__ = [
    "ALLOW_ENV",
    "allow_model_requests",
    "check_model_request",
    "is_loopback",
    "model_requests_allowed",
]

"""The run's staging API for adaptive nodes that name none: ``--staging URL`` or ``STAGING_URL``
(with ``Authorization: Bearer $STAGING_TOKEN`` when that is set), or ``--staging
openapi:FILE[#METHOD /path]``, which starts that document's contract mock for the run (loopback,
a fresh token that the run redacts as a known secret)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import RunOptions, StagingTarget
from ..exceptions import WorkflowError
from .document import DocumentError, load_document

OPENAPI_PREFIX = "openapi:"


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class RunStaging:
    """The options with their staging resolved, the secret values the run must redact, and
    what starts serving the mock (bound already: its URL is in the options)."""

    options: RunOptions
    secrets: tuple[str, ...] = ()
    start: Callable[[], object] = _nothing


def resolve_staging(
    options: RunOptions, stack: ExitStack, environ: Mapping[str, str] | None = None
) -> RunStaging:
    """``options.staging`` (else ``STAGING_URL``) as a ``StagingTarget``. A contract mock it
    names is bound here, served by ``RunStaging.start`` and stopped with ``stack``."""
    env = os.environ if environ is None else environ
    given = options.staging
    source = "--staging"
    if given is None:
        given = env.get("STAGING_URL") or None
        source = "STAGING_URL"
    if given is None or isinstance(given, StagingTarget):
        return RunStaging(options)
    if not given.startswith(OPENAPI_PREFIX):
        if not given.startswith(("http://", "https://")):
            raise WorkflowError(
                f"{source} {given!r}: give the endpoint's http(s) URL (e.g. "
                "http://127.0.0.1:8765/users) or openapi:FILE[#METHOD /path]"
            )
        # The examples' convention: a bearer token in STAGING_TOKEN (redacted by its name).
        token = env.get("STAGING_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        target = StagingTarget(url=given, headers=headers, source=source)
        return RunStaging(replace(options, staging=target), (token,) if token else ())
    return _start_mock(options, given, stack)


def _start_mock(options: RunOptions, given: str, stack: ExitStack) -> RunStaging:
    from .mock import OpenAPIMock

    file, _, operation = given[len(OPENAPI_PREFIX) :].partition("#")
    token = secrets.token_urlsafe(24)
    try:
        document = load_document(Path(file))
    except DocumentError as exc:  # unreadable or refused: picking an operation would not help
        raise WorkflowError(f"--staging {given}: {exc}") from exc
    try:
        mock = OpenAPIMock(document, operation.strip() or None, token=token)
    except DocumentError as exc:
        raise WorkflowError(
            f"--staging {given}: {exc} (write openapi:FILE#METHOD /path to pick one)"
        ) from exc
    op = mock.operation
    if "{" in op.path:
        raise WorkflowError(
            f"--staging {given}: '{op}' has path parameters; stage an operation without them"
        )
    mock.bind()
    stack.callback(mock.stop)
    target = StagingTarget(
        url=mock.url + op.path,
        method=op.method,
        headers={"Authorization": f"Bearer {token}"},
        source=f"the contract mock of {Path(file).name} ({op})",
    )
    return RunStaging(replace(options, staging=target), (token,), mock.start)


__all__ = ["OPENAPI_PREFIX", "RunStaging", "resolve_staging"]

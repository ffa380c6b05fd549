"""The Python API of a run: ``arun_workflow`` / ``run_workflow`` and their arguments.

Every argument that is a setting lands in ``RunOptions`` (the same fields the CLI and the magic
fill), and the run's settings are built from it once (``config.build_settings``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..agents.base import Provider
from ..approval import Approver, DecisionsApprover, HumanDecision
from ..cache import CACHE_DIRNAME, NodeCache
from ..config import RunOptions, build_settings
from ..exceptions import WorkflowError
from ..nodes.base import NodeHandler
from ..outputs import NodeOutput
from ..runlog import DEFAULT_ROOT, RunWriter, new_run_id
from ..spec import WorkflowSpec, load_workflow
from .bus import Subscriber
from .handlers import handlers_for
from .run import Engine, RunResult


async def arun_workflow(
    spec: WorkflowSpec | str | os.PathLike[str],
    *,
    provider: Provider | str | None = None,
    provider_options: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    runs_dir: str | os.PathLike[str] | None = DEFAULT_ROOT,
    subscribers: Sequence[Subscriber] = (),
    max_concurrency: int | None = None,
    fail_fast: bool | None = None,
    known_secrets: Iterable[str] = (),
    token_budget: int | None = None,
    cost_budget: float | None = None,
    handlers: Mapping[str, NodeHandler] | None = None,
    options: RunOptions | None = None,
    run_id: str | None = None,
    cache: bool | str | os.PathLike[str] | NodeCache = True,
    rerun: Iterable[str] = (),
    reuse: Mapping[str, NodeOutput] | None = None,
    resumed_from: str | None = None,
    approver: Approver | None = None,
    decisions: Mapping[str, HumanDecision] | None = None,
) -> RunResult:
    """Run a workflow and return its ``RunResult``; see ``run_workflow`` for the arguments.

    Cancelling the awaiting task cancels every running node, records the run as cancelled, and
    re-raises ``CancelledError``.
    """
    if not isinstance(spec, WorkflowSpec):
        spec = load_workflow(spec, variables=variables)
    from ..agents import resolve_provider

    options = options or RunOptions()
    prov_options = dict(provider_options or {})
    # The earlier spelling ``provider_options={"cost_budget": ...}`` (documented) lands in the
    # same field; the provider never sees it.
    legacy_budget = prov_options.pop("cost_budget", None)
    if legacy_budget is not None and cost_budget is None and options.cost_budget is None:
        cost_budget = legacy_budget
    # The Python API's own arguments land in the same fields as the CLI's and the magic's.
    given: dict[str, Any] = {
        "max_concurrency": max_concurrency,
        "fail_fast": fail_fast,
        "token_budget": token_budget,
        "cost_budget": cost_budget,
        "approver": approver,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if given:
        options = replace(options, **given)
    if decisions:
        unknown = sorted(set(decisions) - {n.id for n in spec.nodes})
        if unknown:
            raise WorkflowError(
                f"decisions for unknown node(s) {', '.join(unknown)}; nodes: "
                + ", ".join(n.id for n in spec.nodes)
            )
        options = replace(options, approver=DecisionsApprover(decisions, fallback=options.approver))
    # The contract mock that ``staging="openapi:FILE"`` names: bound now (its URL goes into the
    # settings), served only while the engine runs, stopped in the ``finally`` below.
    mock = ExitStack()
    options, known_secrets, serve = _run_staging(options, known_secrets, mock)
    settings = build_settings(spec, options)  # the one place settings are decided
    handlers = handlers_for(spec, handlers)  # before anything is written
    if settings.options.model and "model" not in prov_options:
        # Not a second place the model is decided (requests name it): a provider that picks
        # a vendor per model string must know every model the run may name.
        prov_options["model"] = settings.options.model
    prov = resolve_provider(provider, spec=spec, **prov_options)
    writer = None
    if runs_dir is not None:  # the folder is made exclusively: its name is the run's id
        writer = RunWriter.create(Path(runs_dir), spec.name, run_id)
        run_id = writer.run_id
        writer.write_text("workflow.yaml", spec.source_text)
    run_id = run_id or new_run_id(spec.name)
    node_cache: NodeCache | None = None
    if isinstance(cache, NodeCache):
        node_cache = cache
    elif cache is True and runs_dir is not None:
        node_cache = NodeCache(Path(runs_dir) / CACHE_DIRNAME)
    elif cache and not isinstance(cache, bool):
        node_cache = NodeCache(cache)
    engine = Engine(
        spec,
        prov,
        run_id=run_id,
        writer=writer,
        subscribers=subscribers,
        handlers=handlers,
        settings=settings,
        known_secrets=known_secrets,
        cache=node_cache,
        rerun=rerun,
        reuse=reuse,
        resumed_from=resumed_from,
    )
    try:
        serve()
        return await engine.run()
    finally:
        mock.close()
        if writer is not None:
            writer.close()
        if provider is None or isinstance(provider, str):
            await prov.aclose()


def _run_staging(
    options: RunOptions, known_secrets: Iterable[str], stack: ExitStack
) -> tuple[RunOptions, tuple[str, ...], Callable[[], object]]:
    """``options.staging`` (or ``STAGING_URL``) resolved, the secrets it adds, and what starts
    serving its mock (nothing to start for a URL)."""
    if options.staging is None and not os.environ.get("STAGING_URL"):
        return options, tuple(known_secrets), lambda: None
    # Imported only when asked for: the staging package loads openapi-core.
    from ..staging.target import resolve_staging

    staged = resolve_staging(options, stack)
    return staged.options, (*known_secrets, *staged.secrets), staged.start


def run_workflow(spec: WorkflowSpec | str | os.PathLike[str], **kwargs: Any) -> RunResult:
    """Run a workflow to the end and return its ``RunResult`` (sync wrapper for scripts).

    Arguments: ``provider`` (a Provider, or ``"scripted"``/``"replay"``/``"anthropic"``/
    ``"auto"``), ``provider_options``, ``variables`` (for ``${VAR}``), ``runs_dir`` (``None``:
    write no run folder), ``subscribers`` (callables receiving every event), ``max_concurrency``,
    ``fail_fast``, ``known_secrets``, ``token_budget``, ``cost_budget`` (US dollars),
    ``handlers``, ``options``, ``run_id``,
    ``cache`` (``True``: ``<runs_dir>/.cache``; a folder; a ``NodeCache``; ``False``: off),
    ``rerun`` (node ids to run again, with their downstream, despite the cache), ``approver``
    (who answers approval requests, ``nbworkflow.approval``; default: nobody, so nodes that
    need a person wait and the run ends ``waiting``) and ``decisions`` (answers given in
    advance, ``{node_id: HumanDecision(...)}``).
    Called from a thread that already runs an event loop (a notebook), it runs the engine on a
    private loop in a worker thread.
    """
    return run_workflow_sync(arun_workflow(spec, **kwargs))


def run_workflow_sync(coro: Coroutine[Any, Any, RunResult]) -> RunResult:
    """Run ``coro`` to the end, from plain code or from a thread that already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="nbworkflow") as pool:
        return pool.submit(asyncio.run, coro).result()


__all__ = [
    "arun_workflow",
    "run_workflow",
    "run_workflow_sync",
]

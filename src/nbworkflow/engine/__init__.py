"""The engine: runs a workflow's nodes in dependency order and publishes what happens.

Rooms: ``scheduler`` (the ready queue: who runs when, failures, skips, cancellation),
``runner`` (one node: cache, handler, timeout, its events and artifacts), ``bus`` (the one way
events leave a run: sanitized by the fields the event classes mark, then state, log,
subscribers), ``secrets`` (the run's secret values), ``plan`` (what is derived once per spec),
``handlers`` (node type -> handler), ``run`` (``Engine``, ``RunResult``, ``run.json``) and
``api`` (``arun_workflow``, ``run_workflow``). ``bench/engine.py`` measures the cost per node.
"""

from __future__ import annotations

from .api import arun_workflow, run_workflow, run_workflow_sync
from .bus import EventBus, Subscriber
from .handlers import default_handlers
from .run import Engine, RunResult
from .runner import PREVIEW_CHARS
from .scheduler import HOPS
from .secrets import secret_values

__all__ = [
    "HOPS",
    "PREVIEW_CHARS",
    "Engine",
    "EventBus",
    "RunResult",
    "Subscriber",
    "arun_workflow",
    "default_handlers",
    "run_workflow",
    "run_workflow_sync",
    "secret_values",
]

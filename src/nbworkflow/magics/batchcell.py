"""``%%workflow --map VAR_OR_FILE``: the cell's workflow once per item, as one batch.

The cell's YAML may use ``${item.field}``, which the spec loader cannot take as a variable, so
the cell is never loaded as a plain spec here: it goes to the batch layer as a ``WorkflowText``
with the ``<cell>`` file name and the ``%%workflow`` line counted, and spec errors name the
editor's lines. The batch is checked once (items, spec) before anything is shown; then a live
``BatchView`` runs while the cell blocks on a ``LoopThreadRun``, the same wait as a single run
(``wait`` in a plain shell, ``wait_async`` when the kernel awaits the cell, so the item picker
answers mid-batch); an interrupt cancels the batch, and the view becomes the static rendering.

The magic (``workflow.py``) parses the options and resolves the notebook's variables, script
and provider; this module turns them into a batch and raises ``WorkflowError`` for bad input
(the magic makes that a short ``UsageError``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .advice import CELL_LINE_OFFSET, companion
from .runner import LoopThreadRun, RunInterrupted

if TYPE_CHECKING:
    from ..batch import BatchResult

UNFIT = {
    "background": "a batch blocks its cell like a run (interrupt the kernel to cancel it); for "
    "a batch that leaves the notebook free, call `task = asyncio.ensure_future("
    "nbworkflow.arun_workflows(...))` in a cell",
    "record": "many runs at once cannot record one cassette: record a single run (without "
    "--map), then give the batch --cassette FILE",
    "who": "nobody answers approval buttons in a batch: an item whose node waits for a person "
    "ends 'waiting'; continue it with `nbworkflow resume RUN --approve NODE`",
    "cost_budget": "a budget for a whole batch does not exist yet: `cost_budget:` in the "
    "workflow caps each item's run; watch `batch.cost_usd` for the total",
}
"""Options of a single run that do not fit a batch, and what to do instead."""


def refuse_unfit(args: argparse.Namespace) -> None:
    for name, why in UNFIT.items():
        if getattr(args, name, None):
            flag = name.replace("_", "-")
            raise UsageError(f"--{flag} does not fit a batch (--map): {why}")


@dataclass
class BatchCell:
    """One ``--map`` cell: its items, its workflow text, its provider, its batch run."""

    args: argparse.Namespace
    cell: str
    user_ns: dict[str, Any]
    variables: dict[str, str]
    provider: Any
    """A provider name, or the notebook's own Provider object."""
    script: Any
    runs_root: Path
    display: Callable[..., Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    provider_options: dict[str, Any] = field(default_factory=dict)
    batch_id: str = ""
    executor: dict[str, Any] = field(default_factory=dict)
    """``run_workflows``' executor and address, from ``--cluster``."""
    source: Any = None
    """The cell as a ``WorkflowText`` (set by ``prepare``)."""
    view: Any = None
    handle: Any = None
    run: LoopThreadRun[BatchResult] | None = None

    def prepare(self) -> None:
        """Items and spec checked (a ``WorkflowError`` names the problem), provider chosen."""
        from ..batch import WorkflowText, load_items
        from ..batch.manifest import new_batch_id
        from ..batch.options import executor_options, map_inputs
        from ..batch.plan import read_source
        from ..exceptions import WorkflowError

        args = self.args
        if args.items_at_once is not None and args.items_at_once < 1:
            raise WorkflowError(f"--items-at-once {args.items_at_once}: give at least 1")
        self.items = load_items(map_inputs(args.map, self.user_ns))
        if not self.items:
            raise WorkflowError(f"--map {args.map}: no items to run the workflow over")
        self.source = WorkflowText(self.cell, filename="<cell>", line_offset=CELL_LINE_OFFSET)
        # The batch checks the spec again when it starts; checking here too means a spec error
        # shows no view, and gives the workflow's name for the files next to the notebook.
        name = read_source(self.source, self.variables, self.items[0], remote=False).name
        options: dict[str, Any] = {}
        if self.script is not None:
            options["script"] = self.script
        if args.cassette:
            options["cassette"] = args.cassette
        if args.latency:
            options["latency"] = args.latency
        if args.model:
            options["model"] = args.model
        provider = self.provider
        if provider == "auto" and self.script is None and not args.cassette:
            found = companion("cassette", name)
            if found is not None:
                options["cassette"] = str(found)
            elif (found := companion("script", name)) is not None:
                options["script"] = str(found)
        if provider == "auto" and "script" in options and not args.cassette:
            provider = "scripted"
        self.provider, self.provider_options = provider, options
        self.batch_id = args.batch_id or new_batch_id()
        self.executor = executor_options(args.cluster)

    def start(self) -> LoopThreadRun[BatchResult]:
        """Show the live view (unless ``--quiet``) and start the batch on its loop thread."""
        from ..batch import arun_workflows
        from ..config import RunOptions

        args = self.args
        watchers: list[Any] = []
        if not args.quiet:
            from ..sanitize import sanitize
            from ..widgets.batch import BatchView

            # Events were sanitized by each run; artifacts read back from disk are not.
            self.view = BatchView(redact=sanitize)
            bundle = self.view.live_bundle()
            bundle["text/plain"] = f"batch {self.batch_id}: {len(self.items)} items running"
            self.handle = self.display(bundle, raw=True, display_id=True)
            self.view.attach(self.handle)
            watchers.append(self.view)
        kwargs: dict[str, Any] = {
            **self.executor,
            "batch_id": self.batch_id,
            "max_concurrency": args.items_at_once,
            "watchers": watchers,
            "provider": self.provider,
            "provider_options": self.provider_options,
            "variables": self.variables,
            "runs_dir": self.runs_root,
            "cache": not args.no_cache,
            "rerun": tuple(args.rerun or ()),
            "options": RunOptions(
                model=args.model,
                sandbox_backend=args.sandbox,
                max_concurrency=args.max_concurrency,
                fail_fast=True if args.fail_fast else None,
                token_budget=args.token_budget,
            ),
        }
        run: LoopThreadRun[BatchResult] = LoopThreadRun(
            lambda: arun_workflows(self.source, self.items, **kwargs),
            name=f"nbworkflow-batch-{self.batch_id}",
        )
        self.run = run.start()
        return run

    def wait(self) -> None:
        """Block until the batch ends (a plain shell); an interrupt cancels it."""
        try:
            self.start().wait()
        except KeyboardInterrupt:
            # Also between start() and wait(): the batch may run already, stop it all the same.
            if self.run is not None:
                self.run.cancel()
                self.run.join_after_cancel()
            self.settle(interrupted=True)
        except Exception:
            if self.run is None:  # it did not start: nothing to settle
                raise
        self.settle()

    async def wait_async(self) -> None:
        """The awaited cell: the kernel's loop keeps turning, so the item picker answers."""
        run = self.start()
        try:
            await run.wait_async()
        except RunInterrupted:
            self.settle(interrupted=True)
        except Exception:
            pass  # settle() raises what ended the batch
        self.settle()

    def settle(self, *, interrupted: bool = False) -> None:
        """Bind ``--out``, print (``--quiet``) or leave the static rendering, say what failed."""
        from ..batch.options import batch_lines

        run = self.run
        if interrupted:
            done = self.view.cancelled() if self.view is not None else ""
            raise UsageError(
                f"batch {self.batch_id} cancelled by a kernel interrupt{': ' if done else ''}"
                f"{done}. Items that succeeded are kept: run the cell again with --batch-id "
                f"{self.batch_id} to run only the others"
            )
        assert run is not None
        error = run.future.exception()
        if error is not None:
            if self.view is not None:
                self.handle.update({"text/plain": ""}, raw=True)
            raise error
        result = run.future.result()
        if self.args.out:
            self.user_ns[self.args.out] = result
        lines = batch_lines(result)
        if self.args.quiet:
            print("\n".join(lines))
        if not result.ok:  # as a failed run, and `nbworkflow run --map`'s exit code
            from ..sanitize import sanitize

            raise UsageError(sanitize(lines[0] if self.args.quiet else "\n".join(lines)))


__all__ = ["UNFIT", "BatchCell", "refuse_unfit"]

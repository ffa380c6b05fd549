"""What a batch hands back, and the updates a live view of it receives.

Plain dataclasses of plain values: they cross process boundaries (Dask) and are written to the
batch manifest, so they hold no provider, no spec object, no open file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import RunEvent

SUCCEEDED = "succeeded"
ERROR = "error"
"""The item's run could not start (a field the workflow needs is missing, a spec error...)."""
LOST = "lost"
"""The item never came back (its worker died more often than Dask retries, or the batch was
cancelled): run it again by resuming the batch."""


@dataclass(slots=True)
class ItemOutput:
    """A node's output as the batch returns it (``NodeOutput`` without its engine metadata)."""

    format: str
    content: str
    data: Any = None


@dataclass(slots=True)
class ItemResult:
    """One item of a batch: how its run ended and where its record is."""

    index: int
    """Position of the item in the batch's input (and of its workflow, for many workflows)."""
    key: str
    """Stable key of (workflow, item): what a resumed batch recognises."""
    workflow: str
    item: dict[str, Any]
    status: str
    """A run status (``succeeded``, ``failed``, ``waiting``, ``cancelled``) or ``error``/``lost``."""
    run_id: str = ""
    run_dir: str = ""
    """The run's folder, with its ``events.jsonl`` (the record of truth)."""
    outputs: dict[str, ItemOutput] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """Dollars of the priced model calls; ``None`` when no call was priced."""
    message: str = ""
    """Why it did not succeed (already sanitized by the engine)."""
    duration_s: float = 0.0
    worker: str = ""
    """Where it ran: ``local`` or the Dask worker's address."""
    resumed: bool = False
    """Taken from the batch manifest: it succeeded before and was not run again."""
    archive: bytes | None = None
    """The run folder as a gzip'd tar, when the worker has no disk shared with the notebook
    (unpacked into ``runs_dir`` by the notebook, then dropped)."""

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def output(self, node_id: str) -> ItemOutput:
        try:
            return self.outputs[node_id]
        except KeyError:
            raise KeyError(
                f"item {self.index} has no output for node '{node_id}' (status: {self.status})"
            ) from None


@dataclass
class BatchResult:
    """Every item's result, in input order."""

    batch_id: str
    batch_dir: Path | None
    items: list[ItemResult]
    duration_s: float = 0.0
    executor: str = "local"
    dashboard: str | None = None
    """The Dask dashboard's address, when a cluster ran the batch."""

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ItemResult]:
        return iter(self.items)

    def __getitem__(self, index: int) -> ItemResult:
        return self.items[index]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.items)

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.items if not r.ok]

    def counts(self) -> dict[str, int]:
        """Items per status, e.g. ``{"succeeded": 98, "failed": 2}``."""
        return dict(Counter(r.status for r in self.items))

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.items)

    @property
    def cost_usd(self) -> float | None:
        costs = [r.cost_usd for r in self.items if r.cost_usd is not None]
        return round(sum(costs), 6) if costs else None

    def summary(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        rate = len(self.items) / self.duration_s if self.duration_s else 0.0
        line = (
            f"batch {self.batch_id}: {len(self.items)} items ({counts}) in {self.duration_s:.1f}s"
        )
        line += f" · {rate:.1f} items/s"
        if self.tokens:
            line += f" · {self.tokens} tokens"
        if self.cost_usd is not None:
            line += f" · ${self.cost_usd:.4f}"
        return line

    def __repr__(self) -> str:
        return f"<BatchResult {self.summary()}>"


# -- what a live view receives -------------------------------------------------------------
@dataclass(slots=True)
class BatchStarted:
    batch_id: str
    total: int
    """Items in the batch, those restored from the manifest included."""
    labels: list[str]
    """A short label per item, in input order (for a view's list)."""
    executor: str
    dashboard: str | None = None


@dataclass(slots=True)
class ItemEvent:
    """An event of one item's run, as it happened (streamed back from a worker)."""

    index: int
    event: RunEvent
    worker: str = ""
    """The Dask worker that ran it (``""``: this process)."""


@dataclass(slots=True)
class ItemDone:
    result: ItemResult


@dataclass(slots=True)
class BatchFinished:
    result: BatchResult


BatchUpdate = BatchStarted | ItemEvent | ItemDone | BatchFinished
Watcher = Callable[[BatchUpdate], None]
"""Receives every update of a batch, in the notebook's process (a live view, a progress line)."""

__all__ = [
    "ERROR",
    "LOST",
    "SUCCEEDED",
    "BatchFinished",
    "BatchResult",
    "BatchStarted",
    "BatchUpdate",
    "ItemDone",
    "ItemEvent",
    "ItemOutput",
    "ItemResult",
    "Watcher",
]

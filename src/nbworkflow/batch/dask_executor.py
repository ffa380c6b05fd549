"""The Dask executor: each item's whole workflow is one ``async`` task on a worker.

Dask is imported only here, and only when a batch asks for it. Measured on this machine:

- A worker runs at most ``nthreads`` tasks at once, ``async`` ones too; an async task holds
  its slot while it awaits a model, without using the thread. So the ``LocalCluster`` started
  here gives each worker as many slots as items it should have in flight (threads are only
  created for sync tasks, which we never submit). A cluster of your own: start its workers
  with ``--nthreads`` set to the items each should run at once.
- Events stream back with ``log_event`` / ``subscribe_topic`` (``Pub``/``Sub`` are gone);
  each worker's events arrive in the order it logged them, so each run's are in order.
- A worker that dies takes its running items with it; the scheduler runs them again elsewhere
  (up to ``distributed.scheduler.allowed-failures`` times), then the item is ``lost``.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from ..events import EVENT_ADAPTER, RunEvent, event_to_dict
from ..exceptions import WorkflowError
from .result import ERROR, LOST, ItemResult
from .task import RunTask, execute

RESUBMITS = 3
"""Times an item is sent again when its result was lost with its worker."""
SLOTS_PER_WORKER = 32
"""Items a worker of the embedded cluster runs at once (all awaiting models, mostly)."""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise WorkflowError(
            "executor='dask' needs Dask: pip install 'nbworkflow[dask]' (dask[distributed])"
        ) from exc
    return distributed


async def run_item(task: RunTask) -> ItemResult:
    """What a worker runs: the item's workflow, its events logged to the batch's topic."""
    emit: Callable[[RunEvent], None] | None = None
    if task.topic is not None:
        from distributed import get_worker

        worker, topic, index = get_worker(), task.topic, task.index

        def emit(event: RunEvent) -> None:
            worker.log_event(topic, {"i": index, "e": event_to_dict(event)})

    return await execute(task, emit)


def _is_loopback(address: str) -> bool:
    host = urlsplit(address).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or address.startswith("inproc://")


@asynccontextmanager
async def _client(
    address: Any, workers: int | None, slots: int
) -> AsyncIterator[tuple[Any, str | None, bool]]:
    """An asynchronous client on this loop: (client, dashboard link, disk shared?)."""
    distributed = _import_distributed()
    if address is None:
        n = workers or os.cpu_count() or 1
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=max(1, math.ceil(slots / n)),
            processes=True,
            asynchronous=True,
            dashboard_address=":0",
        )
        try:
            await cluster
        except RuntimeError as exc:
            raise WorkflowError(
                f"the local Dask cluster did not start ({exc}); in a script, run the batch "
                "under `if __name__ == '__main__':` (worker processes import your script "
                "again), or give address= of a running scheduler"
            ) from exc
        async with cluster, distributed.Client(cluster, asynchronous=True) as client:
            yield client, cluster.dashboard_link, True
        return
    security = None
    if isinstance(address, distributed.Client):
        security = address.security
        address = address.scheduler.address
    if not isinstance(address, str):
        raise WorkflowError(
            f"address={address!r}: give a scheduler address ('tcp://host:8786') or a "
            "distributed.Client"
        )
    try:
        client = await distributed.Client(address, asynchronous=True, security=security)
    except OSError as exc:
        raise WorkflowError(
            f"cannot reach the Dask scheduler at {address} ({exc}): is it running?"
        ) from exc
    try:
        yield client, client.dashboard_link, _is_loopback(address)
    finally:
        await client.close()


async def run_on_dask(
    tasks: Sequence[RunTask],
    *,
    address: Any,
    workers: int | None,
    limit: int | None,
    shared_disk: bool | None,
    stream: bool,
    on_started: Callable[[str | None], None],
    on_event: Callable[[int, RunEvent, str], None],
    on_done: Callable[[ItemResult], None],
) -> None:
    distributed = _import_distributed()
    slots = limit or SLOTS_PER_WORKER * (workers or os.cpu_count() or 1)
    async with _client(address, workers, slots) as (client, dashboard, local_disk):
        ship = not (local_disk if shared_disk is None else shared_disk)
        topic = f"nbworkflow-batch-{secrets.token_hex(4)}" if stream else None
        if topic is not None:

            def handler(entry: tuple[float, Any]) -> None:
                message = entry[1]
                event = EVENT_ADAPTER.validate_python(message["e"])
                on_event(int(message["i"]), event, str(message.get("worker", "")))

            client.subscribe_topic(topic, handler)
        on_started(dashboard)
        by_key: dict[str, RunTask] = {}
        pending = list(reversed(tasks))
        in_flight = limit or len(tasks)
        done = distributed.as_completed()

        def submit(task: RunTask) -> None:
            task.topic, task.ship_run = topic, ship
            attempt = tries[task.index] = tries.get(task.index, 0) + 1
            future = client.submit(
                run_item, task, key=f"nbw-item-{task.key}-{task.index}-{attempt}"
            )
            by_key[future.key] = task
            done.add(future)

        tries: dict[int, int] = {}
        while pending and len(by_key) < in_flight:
            submit(pending.pop())
        async for future in done:
            task = by_key.pop(future.key)
            try:
                result = await future
            except distributed.KilledWorker as exc:
                result = _failed(task, LOST, f"its worker died too often: {exc}")
            except Exception as exc:
                if future.status != "error" and tries[task.index] < RESUBMITS:
                    # Finished, but its result died with its worker before we fetched it:
                    # run it again (the run folder and the node cache make that idempotent).
                    submit(task)
                    continue
                result = _failed(task, ERROR, f"{type(exc).__name__}: {exc}")
            on_done(result)
            if pending:
                submit(pending.pop())
        if topic is not None:
            client.unsubscribe_topic(topic)


def _failed(task: RunTask, status: str, message: str) -> ItemResult:
    return ItemResult(task.index, task.key, task.workflow, task.item, status, message=message)


__all__ = ["SLOTS_PER_WORKER", "run_item", "run_on_dask"]

"""Run the async engine from a blocking cell: a private event loop on a daemon thread.

``asyncio.run()`` cannot run inside ipykernel's own loop, so the engine gets a loop of its own on
a daemon thread and the cell's main thread blocks on a ``concurrent.futures.Future``. A kernel
interrupt raises ``KeyboardInterrupt`` in that blocked main thread; ``cancel()`` then cancels the
engine's main task *on its loop* (``call_soon_threadsafe(task.cancel)``), so every node sees
``CancelledError``, kills its sandbox and is recorded as cancelled. Stopping the loop instead
would leave coroutines that never run their cleanup.

``wait_async`` is the same wait for a cell that the kernel awaits (``magics.awaited``): the
kernel's own loop keeps turning, so widget messages (the node picker) are handled mid-run, and a
kernel interrupt arrives as ``CancelledError`` instead of ``KeyboardInterrupt``.

No IPython here: the magic does the displaying.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

CANCEL_GRACE = 10.0
"""Seconds to wait for a cancelled run to record its cancellation before giving up on it."""
INTERRUPT_TICK = 0.1
"""An awaited cell wakes the kernel's loop this often, so an interrupt is seen in time."""


class RunInterrupted(Exception):
    """The awaited cell was interrupted; the run was cancelled and has recorded it."""


class LoopThreadRun(Generic[T]):
    """One coroutine run to completion on its own loop in a daemon thread."""

    def __init__(
        self, factory: Callable[[], Awaitable[T]], *, name: str = "nbworkflow-run"
    ) -> None:
        self.factory = factory
        self.future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[T] | None = None
        self._started = threading.Event()
        self.cancel_requested = False

    def start(self) -> LoopThreadRun[T]:
        self.thread.start()
        self._started.wait()
        return self

    def _main(self) -> None:
        async def main() -> T:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._started.set()
            if self.cancel_requested:  # cancelled before the loop existed
                raise asyncio.CancelledError
            return await self.factory()

        try:
            result = asyncio.run(main())
        except BaseException as exc:  # CancelledError included: the caller inspects it
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)
        finally:
            self._started.set()

    @property
    def done(self) -> bool:
        return self.future.done()

    def cancel(self) -> None:
        """Ask the run to stop: cancels the engine's task on its own loop (thread-safe)."""
        self.cancel_requested = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            # The loop may close in between: the run is over anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    def wait(self) -> T:
        """Block until the run ends; a ``KeyboardInterrupt`` cancels it, waits for the
        cancellation to be recorded, and propagates."""
        try:
            return self.future.result()
        except KeyboardInterrupt:
            self.cancel()
            self.join_after_cancel()
            raise

    async def wait_async(self) -> T:
        """``wait`` for an awaited cell. Raises ``RunInterrupted`` when the awaiting task is
        cancelled (ipykernel turns a kernel interrupt into that): a ``KeyboardInterrupt``
        raised in a task would stop the kernel's own loop."""
        waiter = asyncio.wrap_future(self.future)
        try:
            while not waiter.done():
                # asyncio.wait never cancels ``waiter`` (the thread still has to record how
                # the run ended). The tick matters: ipykernel's SIGINT handler schedules the
                # cancellation with a callback that does not wake the loop up, so without a
                # timer an interrupt waited for the run's end (measured: 3.7 s late).
                await asyncio.wait({waiter}, timeout=INTERRUPT_TICK)
            return waiter.result()
        except asyncio.CancelledError:
            self.cancel()
            deadline = _now() + CANCEL_GRACE
            while self.thread.is_alive() and _now() < deadline:
                with contextlib.suppress(asyncio.CancelledError):  # a second interrupt
                    await asyncio.sleep(0.05)
            raise RunInterrupted from None

    def join_after_cancel(self, grace: float = CANCEL_GRACE) -> bool:
        """Wait (ignoring further interrupts) until the thread ends; False if it did not."""
        deadline = _now() + grace
        while self.thread.is_alive() and _now() < deadline:
            try:
                self.thread.join(timeout=0.05)
            except KeyboardInterrupt:
                self.cancel()  # a second Ctrl-C: ask again, keep waiting for the record
        return not self.thread.is_alive()


def _now() -> float:
    import time

    return time.monotonic()


__all__ = ["CANCEL_GRACE", "LoopThreadRun", "RunInterrupted"]

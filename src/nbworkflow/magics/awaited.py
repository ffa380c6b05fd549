"""Let the kernel await a ``%%workflow`` cell, so the live view's controls answer mid-run.

ipykernel handles widget messages (a pick in the node drop-down) only between cells, unless the
running cell is a coroutine that it awaits: since 7.4 it dispatches comm messages while such a
cell waits. IPython makes a cell a coroutine when its code has a top-level ``await``, so this
input transformer (``input_transformers_post``: it sees the cell after IPython turned the cell
magic into a ``run_cell_magic`` call) puts ``await`` in front of that call and marks the magic's
line with ``MARK``; the magic then returns a coroutine that waits for the run without blocking
the kernel's loop (``LoopThreadRun.wait_async``).

Why not jupyter-ui-poll: it polls the shell channel from the blocked cell, and under ipykernel
7.4 that never delivers the message (measured: a widget update sent mid-cell was still not
applied 20 s later, and the cell never returned).

Anywhere else (plain IPython, an older ipykernel, ``%autoawait off``, a cell run from a thread)
the cell is left alone and blocks as before.
"""

from __future__ import annotations

import threading
from typing import Any

MARK = "--nbw-awaited "
"""Prefix of the magic's line when the kernel awaits the cell (never typed by a person)."""
CALL = "get_ipython().run_cell_magic('workflow', "
MIN_IPYKERNEL = (7, 4)
"""First ipykernel that dispatches comm messages while an awaited cell runs."""


def kernel_can_await(shell: Any) -> bool:
    """Whether awaiting a cell keeps widget messages flowing in this shell right now."""
    if getattr(shell, "kernel", None) is None:
        return False
    try:
        import ipykernel
        from IPython.core.async_helpers import _asyncio_runner
    except ImportError:  # pragma: no cover - a kernel without ipykernel
        return False
    if tuple(getattr(ipykernel, "version_info", (0, 0))[:2]) < MIN_IPYKERNEL:
        return False
    return (
        bool(getattr(shell, "autoawait", False))
        and getattr(shell, "loop_runner", None) is _asyncio_runner
        and threading.current_thread() is threading.main_thread()
    )


class AwaitWorkflowCells:
    """The input transformer (see the module docstring)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def __call__(self, lines: list[str]) -> list[str]:
        if not lines or not lines[0].startswith(CALL) or not kernel_can_await(self.shell):
            return lines
        rest = lines[0][len(CALL) :]
        # Adjacent string literals concatenate: '--nbw-awaited ' '--script answers'.
        return [f"await {CALL}{MARK!r} {rest}", *lines[1:]]


def install(shell: Any) -> None:
    """Add the transformer once (``%reload_ext`` must not stack a second one)."""
    post = getattr(shell, "input_transformers_post", None)
    if post is None or any(isinstance(t, AwaitWorkflowCells) for t in post):
        return
    post.append(AwaitWorkflowCells(shell))


__all__ = ["MARK", "AwaitWorkflowCells", "install", "kernel_can_await"]

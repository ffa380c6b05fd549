"""The progress board: a live board of node statuses on a terminal, plain lines otherwise
(the lines are ``report.progress_line``'s, the same words the log uses).

Why a node failed, was skipped or cancelled is printed once: on a terminal, whole on the
board's final drawing (the board stays on screen just above the summary, and ``said`` tells
the summary not to repeat it); in plain lines (a log file, CI) only under the summary, where
a reader of the end of the output looks. A waiting node's reason is said with how to answer
it, under the summary, either way.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO

from .. import events as ev
from ..events import NodeStatus, RunEvent
from ..report import fmt_seconds, progress_line
from ..state import RunState
from ..text import clip

_SYMBOL = {
    NodeStatus.PENDING: "·",
    NodeStatus.RUNNING: "▶",
    NodeStatus.RETRYING: "↻",
    NodeStatus.SUCCEEDED: "✔",
    NodeStatus.FAILED: "✘",
    NodeStatus.SKIPPED: "⤼",
    NodeStatus.CANCELLED: "■",
    NodeStatus.WAITING: "⏸",
}
_COLOR = {
    NodeStatus.PENDING: "2",
    NodeStatus.RUNNING: "36",
    NodeStatus.RETRYING: "33",
    NodeStatus.SUCCEEDED: "32",
    NodeStatus.FAILED: "31",
    NodeStatus.SKIPPED: "2",
    NodeStatus.CANCELLED: "35",
    NodeStatus.WAITING: "1;33",
}
_SAYS_WHY = (NodeStatus.FAILED, NodeStatus.RETRYING, NodeStatus.SKIPPED, NodeStatus.CANCELLED)
"""Statuses whose reason the board shows (a waiting node's is said with how to answer it)."""
BOARD_CHARS = 60
"""Characters of a reason on the board while the run goes on (a longer line would wrap and
break the redraw in place); the final drawing shows reasons whole."""


class Progress:
    """Subscriber that shows a run: a live board on a terminal, plain lines otherwise."""

    def __init__(self, stream: IO[str] | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.color = self.live and not os.environ.get("NO_COLOR")
        self.state = RunState()
        self._drawn = 0
        self._last = 0.0
        self.paused = False
        """Set while a question is on screen: the board must not draw over it."""
        self.said: set[str] = set()
        """Nodes whose reason this output has shown whole (the summary need not repeat it)."""

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused, self._drawn = False, 0  # draw a fresh board below the answered question

    def _paint(self, status: NodeStatus, text: str) -> str:
        return f"\x1b[{_COLOR[status]}m{text}\x1b[0m" if self.color else text

    def __call__(self, event: RunEvent) -> None:
        self.state.apply(event)
        if self.live:
            if self.paused:
                return
            now = time.monotonic()
            if isinstance(event, (ev.RunStarted, ev.RunFinished)) or now - self._last > 0.1:
                self._last = now
                self._draw_board(final=isinstance(event, ev.RunFinished))
            return
        line = progress_line(event, reasons=False)
        if line:
            print(line, file=self.stream, flush=True)

    def _draw_board(self, *, final: bool = False) -> None:
        now = time.time()
        lines = []
        for node in self.state.nodes.values():
            label = f"{_SYMBOL[node.status]} {node.id:<28} {node.status.value:<10}"
            extra = f" {fmt_seconds(node.elapsed(now))}"
            if node.attempts > 1:
                extra += f"  attempt {node.attempts}"
            if node.message and node.status in _SAYS_WHY:
                extra += f"  {node.message if final else clip(node.message, BOARD_CHARS)}"
                if final:
                    self.said.add(node.id)
            elif node.status is NodeStatus.WAITING and not final:
                extra += f"  {clip(node.message, BOARD_CHARS)}"
            lines.append(self._paint(node.status, label) + extra)
        out = ""
        if self._drawn:
            out += f"\x1b[{self._drawn}F"
        out += "".join(f"\x1b[2K{line}\n" for line in lines)
        self._drawn = len(lines)
        self.stream.write(out)
        self.stream.flush()


__all__ = ["Progress"]

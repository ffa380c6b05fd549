"""The terminal approver: shows a node's question on the terminal and reads the answer without
blocking the event loop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import IO

from ..approval import ApprovalRequest, HumanDecision, default_who
from .progress import Progress

_KEYS = {"approve": "a", "reject": "r", "edit": "e", "retry": "t", "accept": "accept"}
"""What to type for each choice; accepting failing code takes the whole word on purpose."""


class TerminalApprover:
    """Asks on the terminal: shows the (sanitized) code, its diff and the payloads, then reads
    the answer without blocking the event loop (other nodes keep running). One question at a
    time; end of input (Ctrl-D) leaves the node waiting."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        who: str | None = None,
        progress: Progress | None = None,
        input_fd: int | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.who = who or default_who()
        self.progress = progress
        self.input_fd = sys.stdin.fileno() if input_fd is None else input_fd
        self._lock: asyncio.Lock | None = None

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self.progress is not None:
                self.progress.pause()
            try:
                self._show(request)
                return await self._ask(request)
            except EOFError:
                self._say("no answer (end of input): the node waits; resume the run later")
                return None
            finally:
                if self.progress is not None:
                    self.progress.resume()

    def _say(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _show(self, r: ApprovalRequest) -> None:
        self._say()
        self._say(f"=== {r.node_id}: a human decision is needed (attempt {r.attempt}) ===")
        self._say(r.reason)
        if r.rationale:
            self._say(f"rationale: {r.rationale}")
        for entry in r.log:
            summary = entry.get("summary") or entry.get("reason") or ""
            self._say(f"  attempt {entry.get('attempt')} {entry.get('gate')}: {summary}")
        self._say("--- output ---" if r.kind == "approval" else "--- code ---")
        for i, line in enumerate(r.code.splitlines(), 1):
            self._say(f"{i:4} | {line}")
        if r.diff:
            self._say("--- diff against the previous attempt ---")
            self._say(r.diff)
        if r.payloads:
            self._say(f"--- payloads for {r.target} ---")
            self._say(r.payloads)

    async def _readline(self, prompt: str) -> str:
        self.stream.write(prompt)
        self.stream.flush()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(self.input_fd, 65536)
            except OSError:
                data = b""
            if not done.done():
                done.set_result(data)

        # A reader callback, not input() in a thread: a thread blocked in input() would keep
        # the process alive after Ctrl-C until someone pressed Enter.
        loop.add_reader(self.input_fd, readable)
        try:
            data = await done
        finally:
            loop.remove_reader(self.input_fd)
        if not data:
            raise EOFError
        return data.decode(errors="replace").rstrip("\r\n")

    async def _ask(self, r: ApprovalRequest) -> HumanDecision:
        label = {"reject": "reject/give up"} if r.kind == "exhausted" else {}
        menu = ", ".join(
            f"{label.get(c, c)} [{_KEYS[c]}]" if _KEYS[c] != c else f"{c} [type '{c}']"
            for c in r.choices
        )
        while True:
            answer = (await self._readline(f"{menu}? ")).strip().lower()
            action = next((c for c in r.choices if answer in (c, _KEYS[c])), None)
            if answer == "give up" and "reject" in r.choices:
                action = "reject"
            if action is None:
                self._say(f"please answer one of: {menu}")
                continue
            if action == "approve":
                return HumanDecision("approve", who=self.who, code_sha256=r.code_sha256)
            if action == "reject":
                what = "why (sent to the model)" if r.kind == "approve" else "comment"
                comment = (await self._readline(f"{what}: ")).strip()
                if not comment and r.kind == "approve":
                    self._say("a rejection needs a comment: it tells the model what to change")
                    continue
                return HumanDecision("reject", comment, who=self.who)
            if action == "retry":
                raw = (await self._readline("how many more attempts [1]: ")).strip() or "1"
                if not raw.isdigit() or int(raw) < 1:
                    self._say("a positive number, please")
                    continue
                comment = (await self._readline("note for the model (optional): ")).strip()
                return HumanDecision("retry", comment, who=self.who, extra_attempts=int(raw))
            if action == "edit":
                code = await self._edit(r)
                if code is None:
                    continue
                comment = (await self._readline("what did you change (optional): ")).strip()
                return HumanDecision("edit", comment, who=self.who, code=code)
            comment = (await self._readline("why accept code that failed (optional): ")).strip()
            return HumanDecision("accept", comment, who=self.who, code_sha256=r.code_sha256)

    async def _edit(self, r: ApprovalRequest) -> str | None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix=f"nbworkflow-{r.node_id}-", suffix=".py")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(r.code)
        raw = await self._readline(
            f"edit {name} (the code above), then press Enter (or type another file's path): "
        )
        path = Path(raw.strip() or name)
        try:
            code = path.read_text(encoding="utf-8")
        except OSError as exc:
            self._say(f"cannot read {path}: {exc.strerror}")
            return None
        if not code.strip():
            self._say(f"{path} is empty")
            return None
        return code


__all__ = ["TerminalApprover"]

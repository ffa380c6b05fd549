"""Caller-side plumbing shared by the subprocess backends: spawn, feed, capture, stop, decode.

One selector loop reads stdout, stderr and the out-of-band result pipe, enforces the wall-clock
deadline and the output cap, and watches a cancel pipe. When the sandboxed process ends (or is
stopped) the whole tree is killed and the pipes get a short grace to reach EOF: a grandchild that
keeps stdout open cannot hold the caller past ``timeout + 1 s``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._model import StopReason
from ._wire import MAGIC, unframe

__all__ = ["MAGIC", "Cancel", "HeadTail", "Raw", "decode_result", "spawn", "spawn_and_collect"]
_GRACE_S = 0.3


class Cancel:
    """A self-pipe that wakes the selector loop when the awaiting task is cancelled."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)
        self.is_set = False

    def set(self) -> None:
        self.is_set = True
        with contextlib.suppress(OSError):
            os.write(self.w, b"x")

    def close(self) -> None:
        for fd in (self.r, self.w):
            with contextlib.suppress(OSError):
                os.close(fd)


class HeadTail:
    """Keeps the first and last ``keep // 2`` bytes of a stream and counts the rest."""

    def __init__(self, keep: int) -> None:
        self.half = max(keep // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> bytes:
        if not self.truncated:
            return bytes(self.head + self.tail)
        dropped = self.total - len(self.head) - len(self.tail)
        return bytes(self.head) + b"\n[... %d bytes truncated ...]\n" % dropped + bytes(self.tail)


@dataclass
class Raw:
    """What the caller saw of one execution, before it becomes a ``SandboxResult``."""

    result: dict[str, Any] | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    truncated: bool = False
    exit_code: int | None = None
    stopped: StopReason | None = None
    duration_s: float = 0.0
    note: str = ""
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Sinks:
    """The three pipes out of a sandbox, read without blocking: stdout and stderr (head and tail
    kept; ``raw.stopped = "output"`` once both together pass ``output_bytes``) and the result."""

    def __init__(
        self,
        sel: selectors.BaseSelector,
        out_fd: int,
        err_fd: int,
        result_fd: int,
        output_bytes: int,
        raw: Raw,
    ) -> None:
        self.sel, self.output_bytes, self.raw = sel, output_bytes, raw
        keep = max(output_bytes, 2)
        self.out, self.err = HeadTail(keep), HeadTail(keep)
        self.result = bytearray()
        self.streams: dict[int, HeadTail | bytearray] = {
            out_fd: self.out,
            err_fd: self.err,
            result_fd: self.result,
        }
        for fd in self.streams:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        self.open_fds = set(self.streams)

    def read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.sel.unregister(fd)
            self.open_fds.discard(fd)
            return
        sink = self.streams[fd]
        if isinstance(sink, bytearray):
            if len(sink) + len(chunk) > 64 * self.output_bytes + (1 << 20):
                self.raw.note = "the result is too large"
                self.raw.stopped = "output"
            else:
                sink += chunk
        else:
            sink.add(chunk)
            if self.out.total + self.err.total > self.output_bytes:
                self.raw.stopped = "output"


def new_nonce() -> bytes:
    return os.urandom(16).hex().encode()


def decode_result(data: bytes, nonce: bytes) -> tuple[dict[str, Any] | None, str]:
    """Validate one framed result; anything else is a crash, never a success."""
    body, why = unframe(data, nonce)
    if body is None:
        return None, why
    try:
        payload = json.loads(body.decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError):
        return None, "malformed result payload"
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool):
        return None, "malformed result payload"
    return payload, ""


def kill_proc_tree(root_pid: int) -> None:
    """SIGKILL ``root_pid``'s descendants (Linux /proc walk), then its process group."""
    for _ in range(10):
        found = _descendants(root_pid)
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if not found:
            break
    with contextlib.suppress(OSError):
        os.killpg(root_pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    if not sys.platform.startswith("linux"):
        return []
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            out.append(child)
            stack.append(child)
    return out


@dataclass
class Spawned:
    """A started sandbox process waiting for its request on stdin."""

    proc: subprocess.Popen[bytes]
    res_r: int


def spawn(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str | None,
    result_fd_arg: Callable[[int], list[str]],
    extra_fds: Sequence[int] = (),
) -> Spawned:
    """Start ``argv + result_fd_arg(fd)`` with piped stdio and a dedicated result pipe;
    ``extra_fds`` (e.g. the seccomp program) are inherited and closed here afterwards."""
    try:
        res_r, res_w = os.pipe()
    except OSError:
        for fd in extra_fds:
            os.close(fd)
        raise
    try:
        proc = subprocess.Popen(
            [*argv, *result_fd_arg(res_w)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(res_w, *extra_fds),
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        os.close(res_r)
        raise
    finally:
        for fd in (res_w, *extra_fds):
            os.close(fd)
    return Spawned(proc, res_r)


def discard(spawned: Spawned) -> None:
    """Kill and reap a spawned sandbox that will not be used."""
    with contextlib.suppress(OSError):
        os.killpg(spawned.proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        spawned.proc.kill()
    spawned.proc.wait()
    for stream in (spawned.proc.stdin, spawned.proc.stdout, spawned.proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    with contextlib.suppress(OSError):
        os.close(spawned.res_r)


def spawn_and_collect(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str | None,
    request: bytes,
    nonce: bytes,
    result_fd_arg: Callable[[int], list[str]],
    output_bytes: int,
    timeout: float,
    cancel: Cancel | None,
    kill_tree: Callable[[int, bool], None],
    signal_exit_offset: int | None = None,
    spawned: Spawned | None = None,
    extra_fds: Sequence[int] = (),
) -> Raw:
    """Run ``argv + result_fd_arg(fd)`` (or use ``spawned``, started ahead of time); the request
    goes to stdin, the result comes back on a dedicated pipe."""
    start = time.monotonic()
    raw = Raw()
    if spawned is None:
        spawned = spawn(argv, env=env, cwd=cwd, result_fd_arg=result_fd_arg, extra_fds=extra_fds)
    proc, res_r = spawned.proc, spawned.res_r
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sinks = Sinks(sel, proc.stdout.fileno(), proc.stderr.fileno(), res_r, output_bytes, raw)
    out, err, result = sinks.out, sinks.err, sinks.result
    open_fds, read_ready = sinks.open_fds, sinks.read
    stdin_fd = proc.stdin.fileno()
    os.set_blocking(stdin_fd, False)
    pending = memoryview(request)
    sel.register(stdin_fd, selectors.EVENT_WRITE)
    pidfd = -1
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(proc.pid)
            sel.register(pidfd, selectors.EVENT_READ)
    if cancel is not None:
        sel.register(cancel.r, selectors.EVENT_READ)
    deadline = start + timeout

    def close_stdin() -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(stdin_fd)
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]

    try:
        exited = False
        while not exited and raw.stopped is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raw.stopped = "timeout"
                break
            wait = remaining if pidfd >= 0 else min(remaining, 0.01)
            for key, _ in sel.select(wait):
                fd = int(key.fd)
                if fd == pidfd:
                    exited = True
                elif cancel is not None and fd == cancel.r:
                    raw.cancelled = True
                elif fd == stdin_fd:
                    try:
                        n = os.write(stdin_fd, pending)
                        pending = pending[n:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        pending = pending[:0]
                    if not pending:
                        close_stdin()
                elif fd in open_fds:
                    read_ready(fd)
            if raw.cancelled:
                raw.stopped = "signal"
                break
            if pidfd < 0 and proc.poll() is not None:
                exited = True
        close_stdin()
        # Stop everything that is left (daemons, background children), then drain the pipes.
        kill_tree(proc.pid, exited and raw.stopped is None)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        grace = time.monotonic() + _GRACE_S
        while open_fds and time.monotonic() < grace:
            events = sel.select(max(0.0, grace - time.monotonic()))
            for key, _ in events:
                fd = int(key.fd)
                if fd in open_fds:
                    read_ready(fd)
                    if raw.stopped == "output" and not exited:
                        break
    finally:
        sel.close()
        for fd in (res_r, pidfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        if proc.returncode is None:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
    raw.duration_s = time.monotonic() - start
    code = proc.returncode
    if signal_exit_offset is not None and code is not None and code > signal_exit_offset:
        code = -(code - signal_exit_offset)
    raw.exit_code = code
    raw.stdout, raw.stderr = out.text(), err.text()
    raw.truncated = out.truncated or err.truncated
    if raw.stopped is None or raw.stopped == "output":
        payload, note = decode_result(bytes(result), nonce)
        if raw.stopped is None:
            raw.result = payload
            raw.note = raw.note or note
    return raw

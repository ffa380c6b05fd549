"""The sandbox's public value types: limits in, result out, and a backend's self-report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..sanitize import sanitize

StopReason = Literal["timeout", "cpu", "memory", "output", "exit", "signal", "crash"]
"""Why the sandbox stopped the code, one exact cause each: ``timeout`` (wall clock), ``cpu`` (CPU
time limit), ``memory``, ``output`` (output cap), ``exit`` (the process ended by itself before
reporting a result, e.g. ``os._exit(0)``), ``signal`` (killed by another signal or cancelled),
``crash`` (the result channel held something other than a result, or the sandbox's own setup
failed)."""

STOP_TEXT: dict[str, str] = {
    "timeout": "wall-clock time limit",
    "cpu": "CPU time limit",
    "memory": "memory limit",
    "output": "output limit",
    "exit": "exit before returning a result",
    "signal": "killed by a signal",
    "crash": "no valid result",
}
"""A short phrase per stop reason, for messages shown to people and models."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one execution; defaults suit generated integration code."""

    cpu_seconds: float | None = None
    """CPU time of the sandboxed interpreter (RLIMIT_CPU); exceeding it stops with ``cpu``.
    ``None`` (the default): the run's timeout, so a longer timeout is never cut short by a
    smaller hidden CPU limit."""
    memory_mb: int = 256
    """Data segment per process (RLIMIT_DATA) and, where cgroups or Docker exist, the whole tree."""
    output_bytes: int = 1_000_000
    """stdout + stderr together; more stops the run with ``output`` (head and tail are kept)."""
    file_size_mb: int = 16
    """Largest file the code may write (RLIMIT_FSIZE)."""
    open_files: int = 64
    """Open file descriptors (RLIMIT_NOFILE)."""
    pids: int = 64
    """Processes/threads of the whole tree (cgroup pids or Docker pids limit; RLIMIT_NPROC)."""
    tmp_mb: int = 16
    """Size of the private ``/tmp`` and ``/dev/shm`` (bwrap, docker)."""


@dataclass(frozen=True)
class EffectiveLimits:
    """The limits one execution really runs under (for logs and decision records)."""

    timeout_s: float
    cpu_seconds: float
    memory_mb: int
    tree_memory_mb: int
    """The whole tree's cgroup/container memory: data segment + /tmp + /dev/shm + interpreter."""
    output_bytes: int
    file_size_mb: int
    open_files: int
    pids: int
    tmp_mb: int

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def effective_limits(timeout: float, limits: SandboxLimits | None = None) -> EffectiveLimits:
    """What ``run_code(..., timeout=timeout, limits=limits)`` enforces."""
    from ._wire import MEMORY_PAD_MB

    lim = limits or SandboxLimits()
    cpu = float(lim.cpu_seconds) if lim.cpu_seconds else float(timeout)
    return EffectiveLimits(
        timeout_s=float(timeout),
        cpu_seconds=cpu,
        memory_mb=int(lim.memory_mb),
        tree_memory_mb=int(lim.memory_mb) + 2 * int(lim.tmp_mb) + MEMORY_PAD_MB,
        output_bytes=int(lim.output_bytes),
        file_size_mb=int(lim.file_size_mb),
        open_files=int(lim.open_files),
        pids=int(lim.pids),
        tmp_mb=int(lim.tmp_mb),
    )


@dataclass(frozen=True)
class SandboxException:
    """An exception raised by the sandboxed code, already sanitized."""

    type: str
    """Exception class name, e.g. ``KeyError``."""
    message: str
    """``str(exc)``, sanitized."""
    traceback: str
    """Traceback restricted to the user's code frames, sanitized."""
    lineno: int | None
    """Line in the user's code where it was raised (innermost user frame)."""


@dataclass(frozen=True)
class SandboxResult:
    """What one sandboxed execution produced. ``ok`` is true only when the harness reported it."""

    ok: bool
    """The entrypoint returned normally and its value was JSON-serialisable."""
    value: Any
    """The JSON-serialisable return value (``None`` when not ok or no entrypoint)."""
    stdout: str
    """Captured stdout, sanitized; head and tail kept when over the limit."""
    stderr: str
    """Captured stderr, sanitized; head and tail kept when over the limit."""
    truncated: bool
    """True when some output was dropped."""
    error: SandboxException | None
    """The exception the code raised, or a synthetic one describing why it was stopped."""
    duration_s: float
    """Wall-clock time of the execution as seen by the caller."""
    peak_memory_kb: int | None
    """Peak resident memory of the sandboxed interpreter, when it reported one."""
    stopped: StopReason | None
    """Why the sandbox stopped the code, or ``None`` when it ended by itself."""
    exit_code: int | None
    """Exit status of the sandboxed process (negative: killed by that signal)."""
    backend: str
    """Which backend ran it (``bwrap``, ``zygote``, ``docker``, ``process``)."""

    def summary(self) -> str:
        """One sanitized line for logs."""
        ms = f"{self.duration_s * 1000:.0f} ms"
        if self.ok:
            return f"ok in {ms} ({self.backend})"
        if self.error is not None:
            where = f" at line {self.error.lineno}" if self.error.lineno else ""
            message = self.error.message.splitlines()[0] if self.error.message else ""
            text = f"{self.error.type}: {message}" if message else self.error.type
            line = f"{text}{where}"
        else:
            line = "failed"
        if self.stopped is not None:
            line = f"{line} (stopped: {self.stopped})"
        return sanitize(f"{line} after {ms} ({self.backend})", max_chars=300)


@dataclass(frozen=True)
class BackendReport:
    """One backend as ``nbworkflow sandbox`` shows it."""

    name: str
    available: bool
    active: bool
    """This is the backend ``backend="auto"`` picks here."""
    guarantees: list[str] = field(default_factory=list)
    """What the backend enforces on this machine, one promise per entry."""
    missing: str = ""
    """What it lacks or how to make it available (empty when nothing is missing)."""

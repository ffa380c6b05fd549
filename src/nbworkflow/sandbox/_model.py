"""The sandbox's public value types: limits in, result out, and a backend's self-report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..sanitize import sanitize

StopReason = Literal["timeout", "memory", "output", "signal", "crash"]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one execution; defaults suit generated integration code."""

    cpu_seconds: float = 10
    """CPU time of the sandboxed interpreter (RLIMIT_CPU); exceeding it stops with ``timeout``."""
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

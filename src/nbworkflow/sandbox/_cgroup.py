"""Per-execution cgroups (Linux, root): a pids limit and a memory limit for the whole tree.

RLIMIT_NPROC does nothing for root (and bwrap's user namespace maps the sandbox uid back to
root), so a fork bomb is only bounded by a cgroup. We create a child of the caller's own cgroup
(v1 ``pids`` + ``memory`` hierarchies, or one v2 group), let a tiny ``sh`` join it and ``exec``
the sandbox (no ``preexec_fn`` in a threaded kernel), and kill and remove it afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")
_JOIN = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


def _own_paths() -> dict[str, Path]:
    """Controller -> the caller's cgroup directory for it (v1), or ``{"v2": dir}``."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, Path] = {}
    if (_ROOT / "cgroup.controllers").exists():
        for line in lines:
            if line.startswith("0::"):
                found["v2"] = _ROOT / line[3:].lstrip("/")
        return found
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(","):
            if ctrl in ("pids", "memory"):
                found[ctrl] = _ROOT / ctrl / parts[2].lstrip("/")
    return found


@dataclass
class Cgroup:
    dirs: list[Path] = field(default_factory=list)
    v2: bool = False

    def wrap(self, argv: list[str]) -> list[str]:
        procs = [str(d / "cgroup.procs") for d in self.dirs]
        return ["/bin/sh", "-c", _JOIN, "sh", str(len(procs)), *procs, *argv]

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                out.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        return sorted(out)

    def kill(self) -> None:
        if self.v2 and self.dirs and (self.dirs[0] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
                return
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001)

    def oom_killed(self) -> bool:
        for d in self.dirs:
            for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
                with contextlib.suppress(OSError, ValueError):
                    for line in (d / name).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return True
            with contextlib.suppress(OSError, ValueError):
                if int((d / "memory.failcnt").read_text()) > 0:
                    return True
        return False

    def set_limits(self, *, pids: int, memory_bytes: int) -> None:
        """Rewrite the limits of an existing group (cheap: no process migration)."""
        for d in self.dirs:
            for name, value in (
                ("pids.max", pids),
                ("memory.max", memory_bytes),
                ("memory.limit_in_bytes", memory_bytes),
                ("memory.memsw.limit_in_bytes", memory_bytes),
                ("memory.limit_in_bytes", memory_bytes),
            ):
                path = d / name
                if path.exists():
                    with contextlib.suppress(OSError):
                        path.write_text(str(value))

    def kill_once(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def try_rmdir(self) -> bool:
        left = []
        for d in self.dirs:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(d)
        self.dirs = left
        return not left

    def release(self) -> None:
        """Kill what is left; a background thread removes the group. Removing a group can wait
        for an RCU grace period (~10 ms on an idle VM), so it never sits on the caller's path."""
        self.kill_once()
        _janitor.add(self)

    def remove(self) -> None:
        self.kill()
        for d in self.dirs:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill()
                    time.sleep(0.002)


class CgroupFactory:
    """Creates per-run cgroups when this process may (root, writable hierarchy)."""

    def __init__(self) -> None:
        self._paths = _own_paths() if os.name == "posix" and os.geteuid() == 0 else {}
        self.available = self._probe()

    def _sweep(self) -> None:
        """Remove empty per-run groups a killed caller left behind (older than a minute, so a
        group another process created but has not joined yet is never touched; rmdir refuses
        groups that still hold processes)."""
        now = time.time()
        for parent in self._paths.values():
            with contextlib.suppress(OSError):
                for d in parent.glob("nbworkflow-*"):
                    with contextlib.suppress(OSError):
                        if now - d.stat().st_mtime > 60 and not (d / "cgroup.procs").read_text():
                            d.rmdir()

    def _probe(self) -> bool:
        if not self._paths:
            return False
        self._sweep()
        try:
            cg = self.create(pids=8, memory_bytes=64 << 20)
        except OSError:
            return False
        cg.remove()
        return True

    @property
    def controls(self) -> list[str]:
        if "v2" in self._paths:
            return ["pids", "memory"]
        return sorted(k for k in self._paths if k in ("pids", "memory"))

    def create(self, *, pids: int, memory_bytes: int) -> Cgroup:
        name = f"nbworkflow-{uuid.uuid4().hex[:12]}"
        cg = Cgroup()
        try:
            if "v2" in self._paths:
                d = self._paths["v2"] / name
                d.mkdir()
                cg.dirs.append(d)
                cg.v2 = True
                (d / "pids.max").write_text(str(pids))
                (d / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (d / "memory.swap.max").write_text("0")
                return cg
            if "pids" in self._paths:
                d = self._paths["pids"] / name
                d.mkdir()
                cg.dirs.append(d)
                (d / "pids.max").write_text(str(pids))
            if "memory" in self._paths:
                d = self._paths["memory"] / name
                d.mkdir()
                cg.dirs.append(d)
                (d / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (d / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        except OSError:
            cg.remove()
            raise
        return cg


class _Janitor:
    """Removes cgroups whose last processes are still exiting, killing stragglers meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Cgroup] = []
        self._thread: threading.Thread | None = None

    def add(self, cg: Cgroup) -> None:
        with self._lock:
            self._pending.append(cg)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="nbw-cgroup-janitor"
                )
                self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 30
        idle_until = 0.0
        while True:
            time.sleep(0.01)
            with self._lock:
                pending = self._pending
                self._pending = []
            left = []
            for cg in pending:
                cg.kill_once()
                if not cg.try_rmdir():
                    left.append(cg)
            with self._lock:
                self._pending.extend(left)
                now = time.monotonic()
                if pending or self._pending:
                    idle_until = now + 1.0
                # Linger a second once idle: starting a thread per run cost ~0.3 ms of the
                # caller's time when runs come back to back.
                if (not self._pending and now > idle_until) or now > deadline:
                    self._thread = None
                    return

    def flush(self, timeout: float = 2.0) -> None:
        """At exit: finish the pending removals now (daemon threads die with the interpreter)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = self._pending
                self._pending = []
            left = []
            for cg in pending:
                cg.kill_once()
                if not cg.try_rmdir():
                    left.append(cg)
            if not left:
                return
            with self._lock:
                self._pending.extend(left)
            time.sleep(0.01)


_janitor = _Janitor()
atexit.register(_janitor.flush)
_FACTORY: CgroupFactory | None = None


def factory() -> CgroupFactory:
    global _FACTORY
    if _FACTORY is None:
        _FACTORY = CgroupFactory()
    return _FACTORY

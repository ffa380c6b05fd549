"""The subprocess backends: ``bwrap`` (Linux namespaces) and ``process`` (anywhere, weaker).

(Over 400 lines: both backends share the runtime cache, harness options, filter hand-over and
warm-spare plumbing defined here; the zygote builds on the same pieces.)
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from ._cgroup import Cgroup, factory
from ._model import BackendReport, SandboxLimits
from ._pyview import PythonView, bind_deep, python_view
from ._runner import (
    Cancel,
    Raw,
    Spawned,
    discard,
    kill_proc_tree,
    new_nonce,
    spawn,
    spawn_and_collect,
)
from ._seccomp import program_fd
from ._seccomp import status as seccomp_status
from ._wire import cgroup_memory_bytes

T = TypeVar("T")
HERE = Path(__file__).parent
RUNTIME_FILES = ("_wire.py", "_harness.py", "_launcher.py")
"""What runs inside a sandbox (stdlib only; bound read-only at /nbw)."""
HARNESS = str(HERE / "_harness.py")
BWRAP_INSTALL = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap) and make sure unprivileged user namespaces are allowed"
)
SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


# bwrap --die-with-parent uses PR_SET_PDEATHSIG, which fires when the *thread* that started it
# ends. Sandboxes that outlive one call (the warm spare, the zygote) are therefore started from
# this one long-lived thread, never from a short-lived worker or executor thread.
_SPAWNER: ThreadPoolExecutor | None = None
_SPAWNER_LOCK = threading.Lock()


def on_spawner_thread(fn: Callable[[], T]) -> Future[T]:
    """Run ``fn`` on the long-lived spawner thread."""
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbw-spawner")
        return _SPAWNER.submit(fn)


@dataclass(frozen=True)
class Job:
    """One execution request, already validated."""

    request: dict[str, Any]
    limits: SandboxLimits
    timeout: float
    grant_paths: tuple[str, ...] = ()
    site_packages: bool = False

    @property
    def cpu_seconds(self) -> float:
        """The CPU limit: as set, or the timeout (never a smaller hidden default)."""
        return float(self.limits.cpu_seconds) if self.limits.cpu_seconds else self.timeout

    def payload(self, nonce: bytes) -> bytes:
        lim = self.limits
        req = dict(self.request)
        req["nonce"] = nonce
        req["limits"] = {
            "cpu": self.cpu_seconds,
            "data": int(lim.memory_mb) << 20,
            "fsize": int(lim.file_size_mb) << 20,
            "nofile": int(lim.open_files),
            "tmp": int(lim.tmp_mb) << 20,
        }
        return marshal.dumps(req)


class SandboxBackend(Protocol):
    """What every backend offers; ``run`` blocks, ``arun_code`` runs it in a worker thread."""

    name: ClassVar[str]

    def available(self) -> tuple[bool, str]:
        """(usable here, what is missing / how to install)."""
        ...

    def guarantees(self) -> list[str]:
        """What this backend enforces on this machine."""
        ...

    def run(self, job: Job, cancel: Cancel | None = None) -> Raw:
        """Execute one job; never raises for the user code's own failures."""
        ...

    def has_filter(self) -> tuple[bool, str]:
        """(every run loads a seccomp filter before user code, why not)."""
        ...

    def report(self, active: bool) -> BackendReport: ...


@cache
def cache_root() -> str:
    """A private folder of this user (the runtime files and the interpreter mirror)."""
    import stat

    folder = Path(tempfile.gettempdir()) / f"nbworkflow-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise OSError("the runtime cache folder is not private")
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="nbw-runtime-"))
        atexit.register(shutil.rmtree, folder, True)
    return str(folder)


def view(site_packages: bool = False) -> PythonView:
    return python_view(cache_root(), neutral=not site_packages)


@cache
def runtime_dir() -> str:
    """The in-sandbox files compiled once (bound read-only at /nbw): compiling the harness at
    every start-up would cost ~5 ms per execution. Cached per user and content in a private
    folder (no home or checkout path shows inside), so killed callers leave nothing behind."""
    import hashlib
    import py_compile

    digest = hashlib.sha256(sys.version.encode())
    for name in RUNTIME_FILES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    folder = Path(cache_root())
    target = folder / f"rt-{digest.hexdigest()[:16]}"
    if not target.is_dir():
        partial = Path(tempfile.mkdtemp(prefix=".rt-", dir=folder))
        for name in RUNTIME_FILES:
            py_compile.compile(
                str(HERE / name),
                cfile=str(partial / (name + "c")),
                dfile=name,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            (partial / (name + "c")).chmod(0o644)
        partial.chmod(0o755)  # the sandbox uid reads it; the folder above stays private
        try:
            os.rename(partial, target)
        except OSError:  # another process won the race
            shutil.rmtree(partial, ignore_errors=True)
    return str(target)


def harness_pyc() -> str:
    return os.path.join(runtime_dir(), "_harness.pyc")


@cache
def interpreter() -> str:
    """The real base interpreter (a venv's ``bin/python`` lives in the project folder)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def python_argv(harness: str, site_packages: bool = False, exe: str | None = None) -> list[str]:
    exe = sys.executable if site_packages else (exe or interpreter())
    flags = ["-I", "-B", "-X", "utf8"] if site_packages else ["-I", "-S", "-B", "-X", "utf8"]
    return [exe, *flags, harness]


def _request(job: Job, nonce: bytes) -> bytes:
    """The harness request for ``job``, with the process limit when one applies here."""
    request = job.payload(nonce)
    nproc = _nproc_limit(job.limits)
    if nproc is None:
        return request
    req = marshal.loads(request)
    req["limits"]["nproc"] = nproc
    return marshal.dumps(req)


def _nproc_limit(limits: SandboxLimits) -> int | None:
    """RLIMIT_NPROC counts every process of the uid; only useful for a non-root caller."""
    if os.name != "posix" or os.geteuid() == 0:
        return None
    mine = 0
    uid = os.getuid()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{name}").st_uid == uid:
                        mine += 1
    return limits.pids + (mine or 256)


@dataclass
class _Base:
    name: ClassVar[str] = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _memory_bytes(limits: SandboxLimits) -> int:
        return cgroup_memory_bytes(limits.memory_mb, limits.tmp_mb)

    def _cgroup(self, limits: SandboxLimits) -> Cgroup | None:
        fac = factory()
        if not fac.available:
            return None
        mem = self._memory_bytes(limits)
        try:
            return fac.create(pids=limits.pids, memory_bytes=mem)
        except OSError:
            return None

    def has_filter(self) -> tuple[bool, str]:
        return seccomp_status()

    def report(self, active: bool) -> BackendReport:
        ok, missing = self.available()  # type: ignore[attr-defined]
        return BackendReport(
            name=self.name,
            available=ok,
            active=active,
            guarantees=self.guarantees() if ok else [],  # type: ignore[attr-defined]
            missing=missing,
        )


def harness_filter_args() -> tuple[list[str], list[int]]:
    """Harness options (and the fd they name) that make it join a fresh session keyring and
    load the seccomp filter itself; nothing when the filter cannot be built here."""
    if not seccomp_status()[0]:
        return [], []
    fd = program_fd()
    return ["--fresh-keyring", "--seccomp-fd", str(fd)], [fd]


def path_guarantee() -> str:
    if view().neutral:
        return (
            "neutral paths inside (interpreter at /opt/python or /usr, runtime at /nbw, cgroup /)"
        )
    return "the interpreter shows its host path inside (no hard-link mirror possible here)"


def filter_guarantees() -> list[str]:
    ok, why = seccomp_status()
    if not ok:
        return [f"NO seccomp filter: {why}"]
    return [
        "seccomp filter (libseccomp, Docker's default list): keyrings, io_uring, bpf, "
        "perf_event_open, ptrace, process_vm_*, userfaultfd, module/kexec, the mount family, "
        "unshare/setns and namespace clone flags, open_by_handle_at, TIOCSTI, x32/i386 calls "
        "fail with EPERM",
        "a fresh, empty session keyring per run",
    ]


class ProcessBackend(_Base):
    """A separate interpreter with a scrubbed environment, rlimits and its own session."""

    name: ClassVar[str] = "process"

    def available(self) -> tuple[bool, str]:
        missing = (
            "no filesystem, network or pid isolation: the code runs as your user and can read "
            f"your files and use the network; for isolation {BWRAP_INSTALL}, or use Docker"
        )
        return os.name == "posix", missing

    def guarantees(self) -> list[str]:
        out = [
            "separate interpreter (python -I -S), environment from an allowlist",
            "temporary working directory, removed afterwards",
            "rlimits before user code: CPU, data segment, file size, open files",
            "hard wall-clock timeout; own session, process tree killed on exit or timeout",
            "result returned out-of-band (pipe + nonce), never parsed from stdout",
            *filter_guarantees(),
        ]
        fac = factory()
        if fac.available:
            out.append(f"per-run cgroup ({', '.join(fac.controls)}) bounds and kills the tree")
        return out

    def run(self, job: Job, cancel: Cancel | None = None) -> Raw:
        workdir = tempfile.mkdtemp(prefix="nbw-sandbox-")
        cg = self._cgroup(job.limits)
        try:
            argv = python_argv(harness_pyc(), job.site_packages)
            if sys.platform.startswith("linux"):
                argv.append("--subreaper")
            extra, fds = harness_filter_args()
            argv += extra
            if cg is not None:
                argv = cg.wrap(argv)
            env = dict(SAFE_ENV, HOME=workdir, TMPDIR=workdir)
            nonce = new_nonce()
            request = _request(job, nonce)

            def kill(pid: int, exited: bool) -> None:
                if cg is not None and exited:
                    cg.kill_once()  # the cgroup holds the whole tree; the janitor finishes
                    return
                if cg is not None:
                    cg.kill()
                kill_proc_tree(pid)

            raw = spawn_and_collect(
                argv,
                env=env,
                cwd=workdir,
                request=request,
                nonce=nonce,
                result_fd_arg=lambda fd: ["--result-fd", str(fd)],
                output_bytes=job.limits.output_bytes,
                timeout=job.timeout,
                cancel=cancel,
                kill_tree=kill,
                extra_fds=fds,
            )
            if cg is not None and raw.result is None and cg.oom_killed():
                raw.extra["oom"] = True
            return raw
        finally:
            if cg is not None:
                cg.release()
            shutil.rmtree(workdir, ignore_errors=True)


@cache
def _bwrap_path() -> str | None:
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.path.exists(p)), None
    )


@cache
def _bwrap_works() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "bubblewrap needs Linux; on macOS/Windows use backend='docker'"
    path = _bwrap_path()
    if path is None:
        return False, f"bwrap not found: {BWRAP_INSTALL}"
    fds: list[int] = []
    try:
        # the exact options every run uses (filter included), so "available" means "runs"
        if seccomp_status()[0]:
            fds.append(program_fd())
        argv = bwrap_argv(SandboxLimits(), runtime_dir(), seccomp_fd=fds[0] if fds else None)
        argv += [view().exe, "-I", "-S", "-c", "pass"]
        proc = subprocess.run(
            argv, env=SAFE_ENV, capture_output=True, timeout=10, check=False, pass_fds=fds
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bwrap failed to start ({exc}): {BWRAP_INSTALL}"
    finally:
        for fd in fds:
            os.close(fd)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        why = detail[-1] if detail else f"exit {proc.returncode}"
        return False, f"bwrap cannot create its sandbox here ({why}): {BWRAP_INSTALL}"
    return True, ""


def root_mode() -> bool:
    """bwrap started by root: a user namespace would map the sandbox uid to host root (so
    /proc/sys and root-only /proc files would open), so no user namespace is made; the harness
    drops to the unprivileged host uid 65534 itself, keeping only CAP_SETUID/CAP_SETGID for it."""
    return os.geteuid() == 0


def bwrap_argv(
    limits: SandboxLimits,
    runtime: str,
    grants: tuple[str, ...] = (),
    site_packages: bool = False,
    seccomp_fd: int | None = None,
) -> list[str]:
    path = _bwrap_path()
    assert path is not None
    tmp = str(int(limits.tmp_mb) << 20)
    if root_mode():
        # --unshare-all would also try a user namespace: name the others one by one
        ns = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        ns += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        ns += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        ns = ["--unshare-all", "--unshare-user", "--disable-userns"]
        ns += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    argv = [
        path,
        *ns,  # ipc, pid, net (only lo, no route), uts, cgroup
        "--die-with-parent",
        "--new-session",  # no controlling terminal: TIOCSTI cannot reach the caller's (CVE-2017-5226)
        "--hostname",
        "sandbox",
        *view(site_packages).binds,
        "--proc",
        "/proc",
        "--dev",  # with a devpts of its own
        "/dev",
        "--perms",
        "1777",
        "--size",
        tmp,
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--size",
        tmp,
        "--tmpfs",
        "/dev/shm",
        "--ro-bind",
        runtime,
        "/nbw",
    ]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    made: set[str] = set()
    if site_packages:
        for p in sorted({os.path.realpath(sys.prefix), os.path.dirname(sys.executable)}):
            bind_deep(argv, made, p, p)
    for g in grants:
        real = os.path.realpath(g)
        bind_deep(argv, made, real, real)
    argv += ["--chdir", "/tmp", "--clearenv"]
    for k, v in {**SAFE_ENV, **view(site_packages).env}.items():
        argv += ["--setenv", k, v]
    return argv


class BwrapBackend(_Base):
    """bubblewrap: fresh namespaces, read-only minimal filesystem, unprivileged uid, no network."""

    name: ClassVar[str] = "bwrap"

    def available(self) -> tuple[bool, str]:
        return _bwrap_works()

    def guarantees(self) -> list[str]:
        out = [
            "no network: own network namespace with only lo, no route",
            "read-only view of the interpreter and system libraries; no $HOME, /run, project "
            "folder or kernel connection file (unless a path is granted)",
            "private size-capped /tmp and /dev/shm are the only writable places",
            (
                "new pid/ipc/uts/cgroup namespaces; the unprivileged host uid/gid 65534 with no "
                "capabilities (run as root: no user namespace, which would map the sandbox to "
                "host root), so host /proc/sys, /proc/sysrq-trigger and root-only /proc files "
                "stay closed"
                if root_mode()
                else "new user/pid/ipc/uts/cgroup namespaces that cannot nest; uid 65534 with "
                "no capabilities"
            ),
            "private devpts, /tmp, /dev/shm and IPC/mqueue namespace per run",
            path_guarantee(),
            *filter_guarantees(),
            "environment from an allowlist (bwrap itself starts with it too)",
            "rlimits before user code: CPU, data segment, file size, open files",
            "hard wall-clock timeout: the pid namespace dies with everything in it",
            "result returned out-of-band (pipe + nonce), never parsed from stdout",
        ]
        fac = factory()
        if fac.available:
            out.append(f"per-run cgroup ({', '.join(fac.controls)}): fork and memory bombs bounded")
        else:
            out.append("no cgroup: process count bounded by RLIMIT_NPROC only (not for root)")
        return out

    # One sandbox is started ahead of time (bwrap + interpreter + harness, blocked reading its
    # request): the next execution only pays for its own code. It is a fresh sandbox like any
    # other, used once; only its start-up moved off the caller's path.
    _spare: tuple[tuple[object, ...], Spawned, Cgroup | None] | None = None
    _spare_lock: ClassVar[threading.Lock] = threading.Lock()

    def _argv(self, job: Job, seccomp_fd: int | None) -> list[str]:
        argv = bwrap_argv(job.limits, runtime_dir(), job.grant_paths, job.site_packages, seccomp_fd)
        argv += python_argv("/nbw/_harness.pyc", job.site_packages, view().exe)
        # bwrap loaded the filter; keyctl(JOIN_SESSION_KEYRING, NULL) is the one call it allows
        return argv + ["--fresh-keyring"] + (["--drop-uid"] if root_mode() else [])

    def _start(self, job: Job) -> tuple[Spawned, Cgroup | None]:
        fds = [program_fd()] if seccomp_status()[0] else []
        try:
            cg = self._cgroup(job.limits)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        argv = self._argv(job, fds[0] if fds else None)
        if cg is not None:
            argv = cg.wrap(argv)
        try:
            spawned = spawn(
                argv,
                env=dict(SAFE_ENV),
                cwd="/",
                result_fd_arg=lambda fd: ["--result-fd", str(fd)],
                extra_fds=fds,
            )
        except BaseException:
            if cg is not None:
                cg.release()
            raise
        return spawned, cg

    @staticmethod
    def _key(job: Job) -> tuple[object, ...]:
        return (job.limits.tmp_mb, job.grant_paths, job.site_packages)

    def _take(self, job: Job) -> tuple[Spawned, Cgroup | None] | None:
        with self._spare_lock:
            spare, BwrapBackend._spare = BwrapBackend._spare, None
        if spare is None:
            return None
        key, spawned, cg = spare
        if key != self._key(job) or spawned.proc.poll() is not None:
            discard(spawned)
            if cg is not None:
                cg.release()
            return None
        if cg is not None:
            cg.set_limits(pids=job.limits.pids, memory_bytes=self._memory_bytes(job.limits))
        return spawned, cg

    def _refill(self, job: Job) -> None:
        def start() -> None:
            with contextlib.suppress(Exception):
                spawned, cg = self._start(job)
                with self._spare_lock:
                    if BwrapBackend._spare is None:
                        BwrapBackend._spare = (self._key(job), spawned, cg)
                        return
                discard(spawned)
                if cg is not None:
                    cg.release()

        if BwrapBackend._spare is None:
            with contextlib.suppress(RuntimeError):  # interpreter shutting down
                on_spawner_thread(start)

    def run(self, job: Job, cancel: Cancel | None = None) -> Raw:
        taken = self._take(job)
        spawned, cg = taken if taken is not None else self._start(job)
        try:
            nonce = new_nonce()
            request = _request(job, nonce)

            def kill(pid: int, exited: bool) -> None:
                # bwrap's pid namespace dies with it; the cgroup catches anything in flight
                if cg is not None:
                    if exited:
                        cg.kill_once()
                    else:
                        cg.kill()

            raw = spawn_and_collect(
                [],
                env={},
                cwd=None,
                request=request,
                nonce=nonce,
                result_fd_arg=lambda fd: [],
                output_bytes=job.limits.output_bytes,
                timeout=job.timeout,
                cancel=cancel,
                kill_tree=kill,
                signal_exit_offset=128,
                spawned=spawned,
            )
            if cg is not None and raw.result is None and cg.oom_killed():
                raw.extra["oom"] = True
            return raw
        finally:
            if cg is not None:
                cg.release()
            self._refill(job)


def _discard_spare() -> None:
    spare, BwrapBackend._spare = BwrapBackend._spare, None
    if spare is not None:
        discard(spare[1])
        if spare[2] is not None:
            spare[2].release()


atexit.register(_discard_spare)

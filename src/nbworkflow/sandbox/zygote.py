"""The warm launcher: a zygote inside the bwrap boundary forks one fresh sandbox per execution.

(Over 400 lines: the caller's side of the launcher protocol, its pool and one run's I/O loop;
the in-sandbox side is ``_launcher``.)

Cold bwrap pays for a new interpreter every time (~10-20 ms). The zygote is started once (its own
bwrap: read-only view, no network, its own pid namespace, dies with the caller) and keeps a spare
sandbox ready (see ``_launcher``): fresh mount/pid/net/ipc/uts/cgroup namespaces, its own cgroup,
private /proc, devpts, size-capped /tmp and /dev/shm. Per request the caller writes the request
into a memfd and sends it with the three pipe ends (stdout, stderr, result) over a unix socket
(SCM_RIGHTS); the launcher passes the fds on to the spare without reading them, so it never holds
a request that a later spare could inherit. The spare (already in a fresh session keyring)
drops to uid/gid 65534 with no capabilities and no_new_privs, loads the seccomp filter, applies
the rlimits, and only then runs the user code. The zygote reports each child's exit status back.

Available where the caller is root with cgroups (the zygote must mount and change uid); the
``auto`` choice falls back to cold ``bwrap`` elsewhere.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import os
import selectors
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import ClassVar

from ._backends import (
    SAFE_ENV,
    Job,
    _Base,
    _bwrap_path,
    _bwrap_works,
    _discard_spare,
    filter_guarantees,
    on_spawner_thread,
    path_guarantee,
    runtime_dir,
    view,
)
from ._cgroup import Cgroup, _janitor, _own_paths, factory
from ._runner import Cancel, Raw, Sinks, decode_result, new_nonce
from ._seccomp import _BENCH_OFF as _seccomp_off
from ._seccomp import program_fd
from ._seccomp import status as seccomp_status
from ._wire import LAUNCH, STATUS, cgroup_memory_bytes

_HEAD = struct.Struct(LAUNCH)
_STATUS = struct.Struct(STATUS)
_GRACE_S = 0.3


class _Zygote:
    """One running zygote and the reader thread that collects exit statuses."""

    def __init__(self) -> None:
        self.sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        paths = _own_paths()
        self.cg_paths = paths  # the groups the launcher can see; runs are named below these
        self.token = uuid.uuid4().hex[:12]  # names its spare groups, removed in close()
        binds: list[str] = []
        mounts: list[str] = []
        for ctrl, path in sorted(paths.items()):
            target = f"/cg/{ctrl}"
            binds += ["--bind", str(path), target]
            mounts.append(target)
        bwrap = _bwrap_path()
        assert bwrap is not None
        argv = [
            bwrap,
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--die-with-parent",
            "--new-session",
            "--cap-add",
            "ALL",
            "--hostname",
            "sandbox",
            *view().binds,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(1 << 20),
            "--tmpfs",
            "/tmp",
            "--dir",
            "/nbw",
            "--ro-bind",
            runtime_dir(),
            "/nbw",
            *binds,
            "--chdir",
            "/",
            "--clearenv",
        ]
        for k, v in {**SAFE_ENV, **view().env}.items():
            argv += ["--setenv", k, v]

        fd = child_sock.fileno()
        # the launcher itself must mount and unshare: only the children it forks load the filter
        # -1 only inside bench/sandbox.py's unfiltered block (availability demands the filter)
        seccomp_fd = program_fd() if seccomp_status()[0] else -1
        argv += [
            view().exe,
            "-I",
            "-S",
            "-B",
            "-X",
            "utf8",
            "/nbw/_launcher.pyc",
            str(fd),
            ",".join(mounts),
            self.token,
            str(seccomp_fd),
        ]
        try:
            self.proc = subprocess.Popen(
                argv,
                pass_fds=(fd, seccomp_fd) if seccomp_fd >= 0 else (fd,),
                env=dict(SAFE_ENV),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None if os.environ.get("NBW_ZYGOTE_DEBUG") else subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if seccomp_fd >= 0:
                os.close(seccomp_fd)
            child_sock.close()
        self.lock = threading.Lock()
        self.waiters: dict[bytes, tuple[int, list[int]]] = {}
        self.counter = 0
        self.dead = False
        self.owner = os.getpid()  # a forked caller must start its own launcher
        self.reader = threading.Thread(target=self._read, daemon=True, name="nbw-zygote")
        self.reader.start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    break
                buf += data
                while len(buf) >= _STATUS.size:
                    _, rid, code = _STATUS.unpack_from(buf)
                    buf = buf[_STATUS.size :]
                    # Write while holding the lock: the run closes wfd only after unregistering
                    # under the same lock, so the fd number can never be a reused one.
                    with self.lock:
                        waiter = self.waiters.pop(rid, None)
                        if waiter is not None:
                            wfd, box = waiter
                            box.append(code)
                            with contextlib.suppress(OSError):
                                os.write(wfd, b"x")
        except OSError:
            pass
        self.dead = True
        with self.lock:
            for wfd, box in self.waiters.values():
                box.append(-9)
                with contextlib.suppress(OSError):
                    os.write(wfd, b"x")
            self.waiters.clear()

    def submit(
        self,
        cg_name: str,
        fds: list[int],
        wfd: int,
        box: list[int],
        limits: tuple[float, int, int],
    ) -> bytes:
        """Send the run's fds (stdout, stderr, result, request memfd) and its cgroup name and
        limits; the request itself is only in the memfd, which the launcher never reads."""
        with self.lock:
            self.counter += 1
            rid = struct.pack("!Q", self.counter)
            self.waiters[rid] = (wfd, box)
            name = cg_name.encode()
            msg = _HEAD.pack(b"R", rid, len(name), *limits) + name
            self.sock.sendmsg(
                [msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            )
        return rid

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        # spare groups whose sandboxes died with the launcher; busy ones refuse rmdir
        deadline = time.monotonic() + 1.0
        for folder in self.cg_paths.values():
            for group in folder.glob(f"nbworkflow-spare-{self.token}-*"):
                while time.monotonic() < deadline:
                    try:
                        group.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.01)


class ZygoteBackend(_Base):
    """bwrap isolation with a warm forking launcher (~ms per execution)."""

    name: ClassVar[str] = "zygote"
    # One launcher per core (at most 4), started as concurrency asks for them: a single launcher
    # prepares one spare at a time, which capped concurrent throughput at about bwrap's.
    _pool: ClassVar[list[_Zygote]] = []
    _growing: ClassVar[bool] = False
    _start_lock: ClassVar[threading.Lock] = threading.Lock()
    _checked: tuple[bool, str] | None = None

    def available(self) -> tuple[bool, str]:
        if self._checked is None:
            self._checked = self._probe()
        return self._checked

    def _probe(self) -> tuple[bool, str]:
        ok, missing = _bwrap_works()
        if not ok:
            return False, missing
        if os.geteuid() != 0:
            return (
                False,
                "the warm launcher needs root (it mounts and drops uid per child); "
                "cold bwrap is used instead",
            )
        if not factory().available:
            return False, "the warm launcher needs writable cgroups (pids, memory)"
        ok, why = seccomp_status()
        if not ok:
            return False, f"the warm launcher loads the seccomp filter in every child: {why}"
        try:
            from ._model import SandboxLimits

            raw = self.run(
                Job(
                    request={
                        "mode": "run",
                        "code": "x = 1",
                        "entrypoint": None,
                        "args": [],
                        "kwargs": {},
                    },
                    limits=SandboxLimits(),
                    timeout=10,
                )
            )
        except Exception as exc:
            return False, f"the warm launcher failed to start ({type(exc).__name__}: {exc})"
        if raw.result is None or not raw.result.get("ok"):
            detail = raw.stderr.decode(errors="replace").strip()[-200:]
            return False, f"the warm launcher does not work here ({detail or raw.note})"
        return True, ""

    def guarantees(self) -> list[str]:
        return [
            "fresh mount/pid/net/ipc/uts/cgroup namespaces per execution; no network (only lo)",
            "read-only view of the interpreter and system libraries; no $HOME, /run, project "
            "folder or kernel connection file (unless a path is granted)",
            "private /proc and size-capped /tmp and /dev/shm per execution (the only writable "
            "places)",
            "real uid/gid 65534, no capabilities, no_new_privs, before any user code",
            "private devpts, IPC/mqueue and cgroup namespaces per execution",
            path_guarantee(),
            *filter_guarantees(),
            "environment from an allowlist; rlimits: CPU, data segment, file size, open files",
            "per-run cgroup (pids, memory): fork and memory bombs bounded",
            "warm launcher (zygote) runs inside its own bwrap and never runs user code",
            "hard wall-clock timeout: the run's cgroup is killed",
            "result returned out-of-band (pipe + nonce), never parsed from stdout",
        ]

    @staticmethod
    def max_launchers() -> int:
        return max(1, min(os.cpu_count() or 1, 4))

    def _get(self) -> _Zygote:
        """The least busy launcher; another starts in the background when all are busy."""
        with self._start_lock:
            me = os.getpid()
            alive = []
            for z in ZygoteBackend._pool:
                if z.owner != me:
                    continue  # inherited through fork(): the socket and reader are the parent's
                if z.dead or z.proc.poll() is not None:
                    z.close()
                else:
                    alive.append(z)
            ZygoteBackend._pool = alive
            if not alive:
                # started from the long-lived spawner thread: bwrap's --die-with-parent fires
                # when the starting *thread* ends
                z = on_spawner_thread(_Zygote).result()
                atexit.register(z.close)
                alive.append(z)
            best = min(alive, key=lambda z: len(z.waiters))
            if best.waiters and len(alive) < self.max_launchers() and not self._growing:
                ZygoteBackend._growing = True
                with contextlib.suppress(RuntimeError):  # interpreter shutting down
                    on_spawner_thread(self._grow)
            return best

    @classmethod
    def _grow(cls) -> None:
        try:
            z = _Zygote()
            atexit.register(z.close)
            with cls._start_lock:
                cls._pool.append(z)
        finally:
            cls._growing = False

    def run(self, job: Job, cancel: Cancel | None = None) -> Raw:
        if job.grant_paths or job.site_packages:
            # the launcher's filesystem view is fixed: extra binds need a cold bwrap sandbox
            from ._backends import BwrapBackend

            raw = BwrapBackend().run(job, cancel)
            raw.extra["backend"] = "bwrap"
            return raw
        lim = job.limits
        # The launcher renames a spare's group (already holding its pid 1) to this name and
        # sets these limits: no cgroup migration on the critical path.
        name = f"nbworkflow-{uuid.uuid4().hex[:12]}"
        zygote = self._get()
        paths = zygote.cg_paths
        cg = Cgroup(dirs=[p / name for _, p in sorted(paths.items())], v2="v2" in paths)
        mem = cgroup_memory_bytes(lim.memory_mb, lim.tmp_mb)
        start = time.monotonic()
        raw = Raw()
        pipes = [os.pipe() for _ in range(3)]
        request_fd = os.memfd_create("nbw-request", os.MFD_CLOEXEC)
        wake_r, wake_w = os.pipe()
        box: list[int] = []
        sel = selectors.DefaultSelector()
        rid: bytes | None = None
        killed = False
        try:
            nonce = new_nonce()
            import marshal

            req = marshal.loads(job.payload(nonce))
            req["limits"]["tmp"] = int(lim.tmp_mb) << 20
            data = memoryview(marshal.dumps(req))
            while data:
                data = data[os.write(request_fd, data) :]
            rid = zygote.submit(
                name,
                [*(w for _, w in pipes), request_fd],
                wake_w,
                box,
                (float(job.cpu_seconds), int(lim.pids), mem),
            )
            os.close(request_fd)
            request_fd = -1
            for i, (r, w) in enumerate(pipes):
                os.close(w)
                pipes[i] = (r, -1)  # never close a number twice: another thread may own it now
            sinks = Sinks(sel, pipes[0][0], pipes[1][0], pipes[2][0], lim.output_bytes, raw)
            out, err, result = sinks.out, sinks.err, sinks.result
            open_fds, read = sinks.open_fds, sinks.read
            sel.register(wake_r, selectors.EVENT_READ)
            if cancel is not None:
                sel.register(cancel.r, selectors.EVENT_READ)

            deadline = start + job.timeout
            # Done when the child reports, or when all three pipes are closed (the process has
            # exited; namespace teardown can continue in the background).
            while not box and open_fds and raw.stopped is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raw.stopped = "timeout"
                    break
                for key, _ in sel.select(remaining):
                    fd = int(key.fd)
                    if cancel is not None and fd == cancel.r:
                        raw.cancelled = True
                        raw.stopped = "signal"
                    elif fd in open_fds:
                        read(fd)
            exited = bool(box) or not open_fds

            def drain() -> None:
                grace = time.monotonic() + _GRACE_S
                while open_fds and time.monotonic() < grace:
                    for key, _ in sel.select(max(0.0, grace - time.monotonic())):
                        fd = int(key.fd)
                        if fd in open_fds:
                            read(fd)

            if raw.stopped is None and exited:
                # The exit status can overtake the last bytes in the pipes; pid 1 has exited, so
                # its namespace is gone and EOF follows at once: read everything first.
                drain()
                raw.result, raw.note = decode_result(bytes(result), nonce)
                if raw.result is None:
                    # a crash: wait for the real exit status (signal, OOM) before judging
                    end = time.monotonic() + 1.0
                    while not box and time.monotonic() < end:
                        sel.select(0.01)
                    if cg.oom_killed():
                        raw.extra["oom"] = True
            reported = bool(box)  # the exit status, if it came before our sweep below
            if raw.stopped is not None:
                cg.kill()
            else:
                cg.kill_once()
            killed = True
            drain()
            if not box and raw.stopped is not None:
                # the zygote reports the exit status of the killed child shortly
                end = time.monotonic() + 1.0
                while not box and time.monotonic() < end:
                    sel.select(0.05)
            code = box[0] if box else (0 if raw.result is not None else None)
            if code == 128 + 9 and raw.result is not None and raw.stopped is None and not reported:
                # The harness wrote its result and closed its pipes just before exiting: a
                # SIGKILL it met after that is our sweep above, not the run's end.
                code = 0
            if code is not None and code > 128:
                code = -(code - 128)
            raw.exit_code = code
            raw.stdout, raw.stderr = out.text(), err.text()
            raw.truncated = out.truncated or err.truncated
        finally:
            if rid is not None:
                with zygote.lock:
                    zygote.waiters.pop(rid, None)
            sel.close()
            for r, w in pipes:
                for fd in (r, w):
                    if fd >= 0:
                        with contextlib.suppress(OSError):
                            os.close(fd)
            for fd in (wake_r, wake_w, request_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            if killed:
                _janitor.add(cg)  # removal only: the kill above already ran
            else:
                cg.release()
        raw.duration_s = time.monotonic() - start
        return raw


def restart_warm_sandboxes() -> None:
    """Drop the pre-started bwrap sandbox and the zygote; the next run starts them afresh."""
    _discard_spare()
    with ZygoteBackend._start_lock:
        pool, ZygoteBackend._pool = ZygoteBackend._pool, []
    for z in pool:
        if z.owner == os.getpid():
            z.close()


@contextlib.contextmanager
def unfiltered_for_benchmark() -> Iterator[None]:
    """bench/sandbox.py only: measure runs without the filter. Inside, the filter counts as
    unavailable (so strict refuses and ``auto`` announces it) and warm sandboxes are restarted
    on entry and exit, so none started without the filter outlives the block."""
    restart_warm_sandboxes()
    _seccomp_off[0] = True
    try:
        yield
    finally:
        _seccomp_off[0] = False
        restart_warm_sandboxes()

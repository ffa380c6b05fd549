"""The warm launcher (zygote): runs inside its own bwrap and forks one fresh sandbox per execution.

It runs as real root inside its own bwrap (mount/pid/net/ipc/uts namespaces, read-only view). It
keeps one spare ready: a child that unshares fresh mount, pid, net, ipc and uts namespaces and
forks pid 1 there, which joins its own cgroup, unshares a cgroup namespace, mounts a private
/proc, devpts, size-capped /tmp and /dev/shm, hides the cgroup folders, brings up lo, joins a
fresh session keyring and warms its copy-on-write heap with a constant snippet. A request
goes straight to a spare: its stdout, stderr and result pipes and the memfd holding the request
arrive as SCM_RIGHTS, and the launcher never reads the request, so no spare it forks later can
find an earlier request in memory it inherited. The spare then reads the request, drops to
uid/gid 65534 with no capabilities and no_new_privs, loads the seccomp filter, applies the
rlimits and only then runs the user code. Two spares are kept prepared per launcher.

Like the harness it never imports the nbworkflow package (``python -I -S``), only ``_harness``
and ``_wire`` next to it.
"""

# ruff: noqa: SIM105 - as in the harness: no contextlib at start-up
from __future__ import annotations

import os
import sys

if __package__:
    from . import _harness, _wire
else:  # in the sandbox: ``-I`` leaves the script's folder off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _harness  # type: ignore[import-not-found,no-redef]
    import _wire  # type: ignore[import-not-found,no-redef]

    del sys.path[0]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    import socket
    from typing import Any

_CLONE = {
    "ns": 0x00020000,
    "cgroup": 0x02000000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "pid": 0x20000000,
    "net": 0x40000000,
}
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_RDONLY = 2, 4, 8, 1
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_SECCOMP: list[bytes] = []  # the compiled filter, read once at start-up
# Spares kept prepared: with one, a run arriving while the last run's replacement was still
# mounting waited for it (~3 ms of a ~5 ms run); two keep one ready between back-to-back runs.
_SPARES = 2


def _zcheck(libc: ctypes.CDLL, rc: int, what: str) -> None:
    if rc != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _lo_up() -> None:
    import fcntl
    import socket
    import struct

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, req))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))
    finally:
        s.close()


_DEFAULT_TMP = 16 << 20


def _cg_limits(folder: str, pids: int, mem: int) -> None:
    """Set a group's pids and memory limits (v1 or v2 file names; memsw after the limit)."""
    for name, value in (
        ("pids.max", pids),
        ("memory.max", mem),
        ("memory.limit_in_bytes", mem),
        ("memory.memsw.limit_in_bytes", mem),
        ("memory.limit_in_bytes", mem),
    ):
        try:
            with open(folder + "/" + name, "w") as fh:
                fh.write(str(value))
        except OSError:
            pass


def _zygote_prepare(libc: ctypes.CDLL, cg_mounts: list[str], cg_name: str) -> None:
    """Pid 1 of fresh namespaces, still root: everything that does not depend on the request."""
    _zcheck(libc, libc.prctl(1, 9, 0, 0, 0), "pdeathsig")
    # Join the spare's own group now, off the critical path: a migration can wait for an RCU
    # grace period (~10 ms on an idle VM); at dispatch the launcher only renames the group.
    for m in cg_mounts:
        with open(m + "/" + cg_name + "/cgroup.procs", "w") as fh:
            fh.write("0")
    # /proc/self/cgroup now shows "/" instead of the host's group names
    _zcheck(libc, libc.unshare(_CLONE["cgroup"]), "cgroup namespace")
    _zcheck(libc, libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "private /")
    for m in cg_mounts:
        _zcheck(libc, libc.umount2(m.encode(), 2), "hide " + m)  # MNT_DETACH
    tmp = f"size={_DEFAULT_TMP},mode=1777".encode()
    for target in (b"/tmp", b"/dev/shm"):
        _zcheck(libc, libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, tmp), "tmpfs")
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    _zcheck(libc, libc.mount(b"proc", b"/proc", b"proc", flags, None), "proc")
    for name in ("sys", "sysrq-trigger", "irq", "bus"):
        p = ("/proc/" + name).encode()
        if os.path.exists(p):
            _zcheck(libc, libc.mount(p, p, None, _MS_BIND | _MS_REC, None), "cover")
            ro = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | flags
            _zcheck(libc, libc.mount(p, p, None, ro, None), "cover ro")
    # A devpts of its own: concurrent runs must not open each other's /dev/pts/N
    # (/dev/ptmx is bwrap's symlink to pts/ptmx, so it follows).
    pts = b"newinstance,ptmxmode=0666,mode=0620"
    _zcheck(
        libc,
        libc.mount(b"devpts", b"/dev/pts", b"devpts", _MS_NOSUID | _MS_NOEXEC, pts),
        "devpts",
    )
    _lo_up()
    libc.sethostname(b"sandbox", 7)
    # A fresh, empty session keyring for this sandbox alone (as root, before the filter denies
    # keyctl); joined while idle, it holds nothing of a request either.
    _wire.join_fresh_session_keyring(libc)


def _zygote_drop(libc: ctypes.CDLL, req: dict[str, Any]) -> None:
    """After the request arrived: size /tmp as asked, then become uid 65534 for good."""
    tmp = int(req.get("limits", {}).get("tmp") or _DEFAULT_TMP)
    if tmp != _DEFAULT_TMP:
        opts = f"size={tmp},mode=1777".encode()
        for target in (b"/tmp", b"/dev/shm"):
            flags = _MS_REMOUNT | _MS_NOSUID | _MS_NODEV
            _zcheck(libc, libc.mount(b"tmpfs", target, b"tmpfs", flags, opts), "resize tmpfs")
    os.chdir("/tmp")
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
    _zcheck(libc, libc.prctl(38, 1, 0, 0, 0), "no_new_privs")
    if _SECCOMP[0]:  # empty only when the caller's benchmark turned the filter off
        _wire.load_seccomp(_SECCOMP[0], libc)


def _warm() -> None:
    """Before any request: compile, call and encode a constant snippet. After the fork the
    interpreter's heap is copy-on-write, and a child's first compile and encode copy the pages
    they write to (~1-3 ms measured); done here, that copying is off the run's path."""
    ns: dict[str, Any] = {}
    exec(compile("def f(x):\n    return x + 1\n", "<warm>", "exec", dont_inherit=True), ns)
    _harness.frame_result(b"0" * _wire.NONCE_LEN, {"ok": True, "value": ns["f"](1), "error": None})


def _recv_fds(fd: int) -> list[int]:
    """The run's pipe ends and request memfd (the message itself carries no data)."""
    import array
    import socket

    sock = socket.socket(fileno=fd)
    try:
        size = array.array("i").itemsize
        data, anc, _, _ = sock.recvmsg(16, socket.CMSG_SPACE(_wire.LAUNCH_FDS * size))
        if not data:
            raise EOFError("the launcher closed the request channel")
        fds: list[int] = []
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(blob[: len(blob) - (len(blob) % size)])
                fds.extend(got)
    finally:
        sock.detach()
    return fds


def _zygote_spare(libc: ctypes.CDLL, sp_fd: int, cg_mounts: list[str], cg_name: str) -> None:
    """A spare sandbox, prepared before its request: this process (in the launcher's pid
    namespace) unshares fresh namespaces and forks pid 1 there, which mounts its private
    /proc, devpts, /tmp and /dev/shm and then waits for its pipes and request."""
    import _signal  # type: ignore[import-not-found]
    import marshal

    _signal.set_wakeup_fd(-1)
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    libc.prctl(1, 9, 0, 0, 0)
    if sp_fd != 3:
        os.dup2(sp_fd, 3)
    os.closerange(4, 1 << 16)
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)
    flags = 0
    for k in ("ns", "uts", "ipc", "pid", "net"):
        flags |= _CLONE[k]
    _zcheck(libc, libc.unshare(flags), "unshare")
    pid = os.fork()
    if pid == 0:
        try:
            _zygote_prepare(libc, cg_mounts, cg_name)
            _warm()
            os.write(3, b"RDY1")  # prepared and alone in its group: the launcher may rename it
            fds = _recv_fds(3)
            if len(fds) != _wire.LAUNCH_FDS:  # never run without our own pipes and request
                raise OSError(f"expected {_wire.LAUNCH_FDS} fds from the launcher, got {len(fds)}")
            for target, fd in zip((1, 2, 3), fds, strict=False):
                os.dup2(fd, target)
            req = marshal.loads(_wire.read_fd(fds[3]))
            os.closerange(4, 1 << 16)
            _zygote_drop(libc, req)
        except BaseException as exc:
            os.write(2, f"nbworkflow sandbox setup failed: {exc}\n".encode())
            os._exit(126)
        _harness.apply_limits(req.get("limits", {}))
        sys.argv = ["solution.py"]
        result = _harness.run_request(req)
        _harness.finish(req, result, 3)
        # The caller is done once all three pipes are closed: close them now rather than in
        # exit, which first tears down the address space (~1 ms measured).
        os.closerange(0, 4)
        os._exit(0)
    os.close(3)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 125)


def zygote_main(ctl_fd: int, cg_mounts: list[str], token: str, seccomp_fd: int) -> None:
    # fcntl, linecache, resource, traceback and types are imported once here so every forked
    # sandbox has them for free (dlopen and parsing would cost ~1 ms per execution).
    import array
    import ctypes
    import fcntl  # noqa: F401
    import gc
    import linecache  # noqa: F401
    import resource  # noqa: F401
    import select
    import signal
    import socket
    import struct
    import traceback  # noqa: F401
    import types  # noqa: F401

    _SECCOMP.append(_wire.read_fd(seccomp_fd) if seccomp_fd >= 0 else b"")
    if _SECCOMP[0]:
        _wire.prepare_seccomp(_SECCOMP[0])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, 9, 0, 0, 0)  # die with the caller's bwrap
    # Everything imported so far leaves the collector's generations: a collection in a child
    # would otherwise write to every object's header and copy the whole heap page by page.
    gc.freeze()
    sock = socket.socket(fileno=ctl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: dict[int, bytes | None] = {}
    spares: list[tuple[int, socket.socket, str]] = []
    spare_groups: dict[int, str] = {}
    cpu_limits: dict[int, float] = {}
    seq = [0]
    # A spare's group starts with the limits the last run asked for (numbers only, nothing of a
    # request; never below what preparing a spare needs): the next run usually asks the same,
    # and its dispatch then writes no limit file.
    last_limits = (64, 384 << 20)
    spare_limits: dict[int, tuple[int, int]] = {}
    buf = b""
    fd_queue: list[list[int]] = []
    head = struct.Struct(_wire.LAUNCH)
    status = struct.Struct(_wire.STATUS)
    fd_size = array.array("i").itemsize

    def make_spare() -> None:
        pids, mem = max(last_limits[0], 8), max(last_limits[1], 64 << 20)
        seq[0] += 1
        name = f"nbworkflow-spare-{token}-{seq[0]}"
        for m in cg_mounts:
            os.mkdir(m + "/" + name)
            _cg_limits(m + "/" + name, pids, mem)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            try:
                _zygote_spare(libc, child.fileno(), cg_mounts, name)
            except BaseException:
                os._exit(126)
            os._exit(125)
        child.close()
        children[pid] = None
        spare_groups[pid] = name
        spare_limits[pid] = (pids, mem)
        spares.append((pid, parent, name))

    def drop_group(name: str) -> None:
        for m in cg_mounts:
            try:
                os.rmdir(m + "/" + name)
            except OSError:
                pass  # still emptying: the caller's sweep removes it later

    def take_spare() -> tuple[int, socket.socket, str] | None:
        for _ in range(3):
            if not spares:
                make_spare()
            ipid, parent, name = spares.pop(0)
            got = b""
            while len(got) < 4:
                more = parent.recv(4 - len(got))
                if not more:
                    break
                got += more
            if got == b"RDY1":
                return ipid, parent, name
            parent.close()
        return None

    def dispatch(rid: bytes, names: str, cpu: float, pids: int, mem: int, fds: list[int]) -> None:
        nonlocal last_limits
        last_limits = (pids, mem)
        spare = take_spare()
        if spare is None:
            sock.sendall(status.pack(b"S", rid, 126))
            return
        ipid, parent, group = spare
        # pid 1 of the spare is already alone in its group: give the group the run's name (the
        # caller kills, checks and removes it by that name) and the run's limits, then the fds
        # go to pid 1. Its parent only waits and stays outside.
        same = spare_limits.pop(ipid, None) == (pids, mem)
        for m in cg_mounts:
            os.rename(m + "/" + group, m + "/" + names)
            if not same:
                _cg_limits(m + "/" + names, pids, mem)
        spare_groups.pop(ipid, None)
        children[ipid] = rid
        cpu_limits[ipid] = cpu
        parent.sendmsg([b"G"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        parent.close()

    make_spare()
    while True:
        try:
            ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            while True:
                try:
                    pid, wstatus, usage = os.wait4(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                rid = children.pop(pid, None)
                cpu = cpu_limits.pop(pid, 0.0)
                unused = spare_groups.pop(pid, None)
                spare_limits.pop(pid, None)
                if unused is not None:
                    drop_group(unused)
                if rid is not None:
                    code = os.waitstatus_to_exitcode(wstatus)
                    if code < 0:
                        code = 128 - code
                    # pid 1 of a namespace ignores SIGXCPU, so the hard limit's SIGKILL ends it;
                    # wait4's usage includes the reaped pid 1's CPU time
                    if code == 128 + 9 and cpu and usage.ru_utime + usage.ru_stime >= cpu:
                        code = 128 + 24
                    sock.sendall(status.pack(b"S", rid, code))
                else:
                    for k, (spid, parent, _name) in enumerate(spares):
                        if spid == pid:
                            parent.close()
                            del spares[k]
                            break
        if sock.fileno() in ready:
            data, anc, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(_wire.LAUNCH_FDS * fd_size))
            if not data:
                os._exit(0)
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(blob[: len(blob) - (len(blob) % fd_size)])
                    fd_queue.append(list(got))
            buf += data
            while len(buf) >= head.size:
                _, rid, cglen, cpu, pids, mem = head.unpack_from(buf)
                total = head.size + cglen
                if len(buf) < total:
                    break
                names = buf[head.size : total].decode()
                buf = buf[total:]
                fds = fd_queue.pop(0)
                try:
                    dispatch(rid, names, cpu, pids, mem, fds)
                finally:
                    for fd in fds:
                        os.close(fd)
            while len(spares) < _SPARES:
                make_spare()


def main(argv: list[str]) -> None:
    # _launcher.py CTL_FD CG_MOUNTS TOKEN SECCOMP_FD
    mounts = [m for m in argv[1].split(",") if m]
    zygote_main(int(argv[0]), mounts, argv[2], int(argv[3]))
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])

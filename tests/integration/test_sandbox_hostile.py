"""Canary probes translated from public attack material, judged from outside the sandbox.

Each case plants something on the host side (a key in this process's session keyring, an argument
of an earlier run, a file or a terminal of a concurrent run), runs hostile code, and checks what
came back or what the host shows. Sources: Docker's seccomp rationale (moby default profile),
runc CVE-2019-5736 / CVE-2024-21626, Shocker (open_by_handle_at), CVE-2022-0492 (cgroup
release_agent), bubblewrap CVE-2017-5226 (TIOCSTI), pyjail /proc write-ups.

Safety (ARCHITECTURE.md section 4): nothing here writes to /proc/sys or signals anything but its
own children; probes only open for writing and close, or call with arguments that do nothing
harmful even when the call is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbworkflow.sandbox import _instance, arun_code, run_code
from nbworkflow.sandbox.zygote import restart_warm_sandboxes
from tests.support.sandbox import marker, marker_procs, need_backend

pytestmark = pytest.mark.integration

BACKENDS = ["bwrap", "zygote", "docker", "process"]
NAMESPACED = ["bwrap", "zygote", "docker"]
FILTERED_HERE = ["bwrap", "zygote", "process"]  # our own filter; docker: the engine's profile
REPO = str(Path(__file__).resolve().parents[2])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return need_backend(request.param, request)


@pytest.fixture(params=NAMESPACED)
def isolated(request: pytest.FixtureRequest) -> str:
    return need_backend(request.param, request)


@pytest.fixture(params=FILTERED_HERE)
def filtered(request: pytest.FixtureRequest) -> str:
    return need_backend(request.param, request)


def host_ids(pid: int) -> tuple[list[int], list[int]]:
    uid = gid = [-1]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = [int(x) for x in line.split()[1:]]
        elif line.startswith("Gid:"):
            gid = [int(x) for x in line.split()[1:]]
    return uid, gid


def test_the_strong_backends_are_not_silently_missing() -> None:
    # every probe above skips an unavailable backend: a launcher that breaks must fail here
    from nbworkflow.sandbox._backends import _bwrap_works
    from nbworkflow.sandbox._cgroup import factory

    if not _bwrap_works()[0]:
        pytest.skip("no bubblewrap here")
    assert _instance("bwrap").available() == (True, "")
    if os.geteuid() == 0 and factory().available:
        assert _instance("zygote").available() == (True, "")


# --- /proc and /sys as root (finding: bwrap run by root maps the sandbox uid to host root) -------


PROC_PROBE = textwrap.dedent(
    """
    import os
    def f():
        out = {}
        # open for writing and close at once: never write (a write to core_pattern is host-root
        # code execution when it is allowed)
        for p in ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
                  "/proc/sys/kernel/modprobe", "/proc/sysrq-trigger", "/sys/kernel/uevent_helper",
                  "/sys/fs/cgroup/release_agent",    # CVE-2022-0492
                  "/proc/self/exe", "/proc/1/exe"):  # runc CVE-2019-5736: the host's binary
            try:
                os.close(os.open(p, os.O_WRONLY))
                out[p] = "writable"
            except OSError as e:
                out[p] = e.errno
        # root-only (0400) files; Docker masks some with an empty /dev/null: empty is closed
        for p in ("/proc/timer_list", "/proc/slabinfo", "/proc/vmallocinfo", "/proc/pagetypeinfo",
                  "/proc/kcore", "/proc/sched_debug"):
            try:
                with open(p, "rb") as fh:
                    out[p] = "readable" if fh.read(64) else "empty"
            except OSError as e:
                out[p] = e.errno
        with open("/proc/kallsyms") as fh:
            out["kallsyms_nonzero"] = any(
                not line.startswith("0000000000000000") for line in fh.readlines()[:200]
            )
        return out
    """
)


def test_host_proc_sys_and_root_only_files_stay_closed(isolated: str) -> None:
    r = run_code(PROC_PROBE, "f", backend=isolated, timeout=30)
    assert r.ok, r.summary()
    opened = {k: v for k, v in r.value.items() if v in ("writable", "readable")}
    assert opened == {}, f"{isolated}: {opened}"
    assert r.value["kallsyms_nonzero"] is False


def test_sandbox_uid_is_not_host_root(isolated: str) -> None:
    """Judged from outside: the host's /proc shows the sandboxed process's real ids."""
    name = marker()
    code = textwrap.dedent(
        f"""
        import ctypes, time
        ctypes.CDLL(None).prctl(15, b"{name}", 0, 0, 0)
        time.sleep(3)
        """
    )
    seen: list[tuple[list[int], list[int]]] = []
    done = threading.Event()

    def run() -> None:
        try:
            run_code(code, backend=isolated, timeout=60)
        finally:
            done.set()

    t = threading.Thread(target=run)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline and not done.is_set():
            for pid in marker_procs(name):
                with contextlib.suppress(OSError):
                    seen.append(host_ids(pid))
            time.sleep(0.05)
    finally:
        t.join(60)
    assert seen, "the sandboxed process never showed up"
    for uids, gids in seen:
        assert 0 not in uids and 0 not in gids, (uids, gids)


# --- seccomp (finding: no filter on any backend) --------------------------------------------------


SYSCALL_PROBE = textwrap.dedent(
    """
    import ctypes, os, platform
    libc = ctypes.CDLL(None, use_errno=True)
    NR = {"keyctl": 250, "add_key": 248, "request_key": 249, "io_uring_setup": 425,
          "userfaultfd": 323, "bpf": 321, "perf_event_open": 298, "process_vm_readv": 310,
          "setns": 308, "unshare": 272, "name_to_handle_at": 303, "open_by_handle_at": 304,
          "clone3": 435, "fsopen": 430, "open_tree": 428, "mount": 165, "init_module": 175,
          "syslog": 103, "clone": 56, "ptrace": 101}
    def call(name, *args):
        ctypes.set_errno(0)
        rc = libc.syscall(NR[name], *args)
        return 0 if rc >= 0 else ctypes.get_errno()
    def f():
        assert platform.machine() == "x86_64"
        with open("/proc/self/status") as fh:
            mode = [l.split()[1] for l in fh if l.startswith("Seccomp:")][0]
        out = {"Seccomp": mode}
        # arguments that do nothing harmful even where the call is allowed
        out["keyctl"] = call("keyctl", 0, -3, 0)             # KEYCTL_GET_KEYRING_ID session
        out["add_key"] = call("add_key", b"user", b"nbw", b"x", 1, -3)
        out["request_key"] = call("request_key", b"user", b"nbw-none", None, 0)
        params = ctypes.create_string_buffer(120)
        fd = libc.syscall(NR["io_uring_setup"], 1, params)
        out["io_uring_setup"] = ctypes.get_errno() if fd < 0 else (os.close(fd) or 0)
        fd = libc.syscall(NR["userfaultfd"], 0)
        out["userfaultfd"] = ctypes.get_errno() if fd < 0 else (os.close(fd) or 0)
        out["bpf"] = call("bpf", 0, None, 0)
        attr = ctypes.create_string_buffer(128)
        ctypes.memmove(attr, (1).to_bytes(4, "little") + (128).to_bytes(4, "little"), 8)
        fd = libc.syscall(NR["perf_event_open"], attr, 0, -1, -1, 0)  # software cpu-clock, self
        out["perf_event_open"] = ctypes.get_errno() if fd < 0 else (os.close(fd) or 0)
        buf = ctypes.create_string_buffer(8)
        class iov(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        local, remote = iov(ctypes.addressof(buf), 8), iov(ctypes.addressof(buf), 8)
        rc = libc.syscall(NR["process_vm_readv"], os.getpid(), ctypes.byref(local), 1,
                          ctypes.byref(remote), 1, 0)
        out["process_vm_readv"] = 0 if rc >= 0 else ctypes.get_errno()
        out["setns"] = call("setns", 0, 0)                    # fd 0 is /dev/null: EINVAL if allowed
        out["unshare_user"] = call("unshare", 0x10000000)     # nested user namespace
        out["unshare_mnt"] = call("unshare", 0x00020000)
        out["name_to_handle_at"] = call("name_to_handle_at", -100, b"/", None, None, 0)
        out["open_by_handle_at"] = call("open_by_handle_at", -100, None, 0)
        out["clone3"] = call("clone3", None, 0)
        out["fsopen"] = call("fsopen", b"tmpfs", 0)
        out["open_tree"] = call("open_tree", -100, b"/tmp", 0)
        out["mount"] = call("mount", None, None, None, 0, None)  # EFAULT where allowed
        out["init_module"] = call("init_module", None, 0, b"")
        out["syslog"] = call("syslog", 10, None, 0)           # SYSLOG_ACTION_SIZE_BUFFER
        fd = libc.inotify_init1(0)                            # watching host files' activity
        out["inotify_init1"] = ctypes.get_errno() if fd < 0 else (os.close(fd) or 0)
        # clone with a namespace flag (CLONE_NEWUSER | SIGCHLD): the child would exit at once
        pid = libc.syscall(NR["clone"], 0x10000000 | 17, None, None, None, None)
        if pid == 0:
            os._exit(0)
        out["clone_newuser"] = ctypes.get_errno() if pid < 0 else (os.waitpid(pid, 0) and 0)
        # x32 ABI: getpid with the x32 bit
        rc = libc.syscall(0x40000000 | 39)
        out["x32_getpid"] = 0 if rc >= 0 else ctypes.get_errno()
        # i386 ABI: getpid through int 0x80, in a child in case the machine has no ia32 emulation
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            import mmap
            code = b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3"  # mov eax, 20; int 0x80; ret
            page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            page.write(code)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
            rc = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
            os.write(w, str(-rc if rc < 0 else 0).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(child, 0)
        got = os.read(r, 64)
        os.close(r)
        out["i386_getpid"] = int(got) if got else "no ia32 emulation"
        # ptrace of our own child only
        child = os.fork()
        if child == 0:
            import time
            time.sleep(5)
            os._exit(0)
        rc = libc.syscall(NR["ptrace"], 16, child, None, None)  # PTRACE_ATTACH
        out["ptrace"] = 0 if rc >= 0 else ctypes.get_errno()
        os.kill(child, 9)
        os.waitpid(child, 0)
        # a normal fork still works (glibc falls back from clone3 to clone)
        child = os.fork()
        if child == 0:
            os._exit(7)
        out["fork_status"] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        return out
    """
)

EXPECT_EPERM = [
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "userfaultfd",
    "bpf",
    "perf_event_open",
    "process_vm_readv",
    "setns",
    "unshare_user",
    "unshare_mnt",
    "name_to_handle_at",
    "open_by_handle_at",
    "fsopen",
    "open_tree",
    "mount",
    "init_module",
    "syslog",
    "inotify_init1",
    "clone_newuser",
    "x32_getpid",
    "ptrace",
]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_seccomp_filter_denies_the_kernel_surface(filtered: str) -> None:
    r = run_code(SYSCALL_PROBE, "f", backend=filtered, timeout=30)
    assert r.ok, (r.summary(), r.stderr)
    got = r.value
    assert got["Seccomp"] == "2"
    wrong = {k: got[k] for k in EXPECT_EPERM if got[k] != errno.EPERM}
    assert wrong == {}, f"{filtered}: not EPERM: {wrong}"
    assert got["i386_getpid"] in (errno.EPERM, "no ia32 emulation"), got["i386_getpid"]
    assert got["clone3"] == errno.ENOSYS  # glibc then falls back to clone, as under Docker
    assert got["fork_status"] == 7


def test_docker_keeps_the_engine_profile(request: pytest.FixtureRequest) -> None:
    need_backend("docker", request)
    code = (
        "def f():\n    with open('/proc/self/status') as fh:\n"
        "        return [l.split()[1] for l in fh if l.startswith('Seccomp:')][0]\n"
    )
    r = run_code(code, "f", backend="docker", timeout=60)
    assert r.ok and r.value == "2", r.summary()


def test_tiocsti_cannot_inject_input(filtered: str) -> None:
    """bubblewrap CVE-2017-5226: TIOCSTI pushes characters into a terminal's input queue."""
    code = textwrap.dedent(
        """
        import ctypes, fcntl, os, termios
        def f():
            master, slave = os.openpty()
            try:
                fcntl.ioctl(slave, termios.TIOCSTI, b"x")
                return "injected"
            except OSError as e:
                return e.errno
        """
    )
    r = run_code(code, "f", backend=filtered, timeout=30)
    assert r.ok and r.value == errno.EPERM, r.summary()


# --- keyrings (finding: the caller's session keyring is readable; 65534's user keyring persists) --

_KEY_SPEC_SESSION = -3


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@pytest.fixture
def session_key() -> Iterator[tuple[str, str]]:
    """A key in this test process's own session keyring, removed afterwards."""
    desc, token = "nbw-canary-" + uuid.uuid4().hex[:8], "KEYTOKEN-" + uuid.uuid4().hex
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    serial = libc.syscall(
        248, b"user", desc.encode(), token.encode(), len(token), _KEY_SPEC_SESSION
    )
    if serial < 0:
        pytest.skip(f"cannot add a key here (errno {ctypes.get_errno()})")
    # A process without a session keyring gets one at this add_key: sandboxes started earlier
    # (the warm bwrap spare, the zygote) never had it. A notebook's kernel has had its keyring
    # from the start, so start them afresh to face the same situation.
    restart_warm_sandboxes()
    try:
        yield desc, token
    finally:
        libc.syscall(250, 21, serial)  # KEYCTL_INVALIDATE


KEY_THIEF = textwrap.dedent(
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def f(desc):
        out = []
        for ring in (-3, -4, -5, -1, -2):  # session, user, user-session, thread, process
            serial = libc.syscall(250, 10, ring, b"user", desc.encode(), 0)  # KEYCTL_SEARCH
            if serial < 0:
                out.append(["search", ring, ctypes.get_errno()])
                continue
            buf = ctypes.create_string_buffer(4096)
            n = libc.syscall(250, 11, serial, buf, 4096)  # KEYCTL_READ
            out.append(["read", ring, buf.raw[: max(n, 0)].decode(errors="replace")])
        return out
    """
)


def test_caller_session_keyring_is_not_readable(backend: str, session_key: tuple[str, str]) -> None:
    desc, token = session_key
    r = run_code(KEY_THIEF, "f", [desc], backend=backend, timeout=30)
    assert r.ok, r.summary()
    assert token not in repr(r.value) and token not in r.stdout + r.stderr


def test_nothing_persists_in_a_user_keyring(backend: str) -> None:
    token = "PERSIST-" + uuid.uuid4().hex
    desc = "nbw-persist-" + uuid.uuid4().hex[:8]
    plant = textwrap.dedent(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def f(desc, token):
            out = []
            for ring in (-4, -5, -3):  # user, user-session, session
                rc = libc.syscall(248, b"user", desc.encode(), token.encode(), len(token), ring)
                out.append(rc if rc < 0 else "added")
                if rc >= 0:
                    libc.syscall(250, 8, rc, 0x3F3F3F3F)  # KEYCTL_SETPERM: everyone may read
            return out
        """
    )
    a = run_code(plant, "f", [desc, token], backend=backend, timeout=30)
    assert a.ok, a.summary()
    b = run_code(KEY_THIEF, "f", [desc], backend=backend, timeout=30)
    assert b.ok, b.summary()
    assert token not in repr(b.value)
    if os.path.exists("/proc/keys"):  # judged from outside too: no such key on the host
        assert desc not in Path("/proc/keys").read_text()


# --- an earlier run's request (finding: a zygote spare inherited the launcher's memory) ---------


SCANNER = textwrap.dedent(
    """
    import ctypes, gc, os
    def f(head, tail):
        # a uid change leaves the process non-dumpable (/proc/self/mem closed): undo that first
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
        head, tail = head.encode(), tail.encode()
        hits = []
        # the needle is never assembled here: look for head, then compare what follows with tail
        def scan(data, where):
            i = data.find(head)
            while i >= 0:
                if data[i + len(head): i + len(head) + len(tail)] == tail:
                    hits.append(where)
                    return
                i = data.find(head, i + 1)
        with open("/proc/self/maps") as fh:
            maps = fh.read().splitlines()
        with open("/proc/self/mem", "rb", buffering=0) as mem:
            for line in maps:
                parts = line.split()
                if "r" not in parts[1] or (len(parts) > 5 and parts[5].startswith("/")):
                    continue
                if len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                pos = lo
                while pos < hi:
                    size = min(1 << 20, hi - pos)
                    try:
                        mem.seek(pos)
                        chunk = mem.read(size + len(head) + len(tail))
                    except OSError:
                        break
                    scan(chunk, parts[-1])
                    pos += size
        for obj in gc.get_objects():
            items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
            for item in items:
                if isinstance(item, str):
                    scan(item.encode(errors="replace"), "gc")
                elif isinstance(item, bytes):
                    scan(item, "gc")
        for folder in ("/tmp", "/dev/shm", "/var/tmp"):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                try:
                    with open(os.path.join(folder, name), "rb") as fh:
                        scan(fh.read(1 << 20), folder)
                except OSError:
                    pass
        return sorted(set(hits))
    """
)

HOLDER = textwrap.dedent(
    """
    def f(ssn):
        record = {"customer": "Ada", "ssn": ssn}
        with open("/tmp/customer.txt", "w") as fh:
            fh.write(ssn)
        with open("/dev/shm/customer", "w") as fh:
            fh.write(ssn)
        return len(record)
    """
)


def test_a_later_run_finds_nothing_of_an_earlier_request(backend: str) -> None:
    head, tail = "SSN-" + uuid.uuid4().hex[:8], uuid.uuid4().hex[:12]
    for _ in range(3):  # several runs: spares forked before and after the request
        a = run_code(HOLDER, "f", [head + tail], backend=backend, timeout=30)
        assert a.ok, a.summary()
    b = run_code(SCANNER, "f", [head, tail], backend=backend, timeout=60)
    if backend == "process":  # documented: no filesystem isolation, it wrote the host's files
        for path in ("/tmp/customer.txt", "/dev/shm/customer"):
            with contextlib.suppress(OSError):
                os.unlink(path)
    assert b.ok, (b.summary(), b.stderr)
    hits = [h for h in b.value if backend != "process" or h not in ("/tmp", "/dev/shm")]
    assert hits == [], f"{backend}: run B found run A's canary in {b.value}"


# --- concurrent runs (finding: zygote runs shared one devpts) -----------------------------------


def test_concurrent_runs_cannot_see_each_other(isolated: str) -> None:
    name = marker()
    token = "PTYTOKEN-" + uuid.uuid4().hex
    holder = textwrap.dedent(
        f"""
        import ctypes, os, time
        def f(token):
            master, slave = os.openpty()
            os.write(master, token.encode() + b"\\n")
            for path in ("/tmp/a.txt", "/dev/shm/a.txt"):
                with open(path, "w") as fh:
                    fh.write(token)
            ctypes.CDLL(None).prctl(15, b"{name}", 0, 0, 0)
            time.sleep(60)
        """
    )
    prober = textwrap.dedent(
        """
        import os
        def f():
            found = {"pts": sorted(n for n in os.listdir("/dev/pts") if n != "ptmx")}
            data = []
            for n in range(8):
                try:
                    fd = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
                except OSError:
                    continue
                try:
                    data.append(os.read(fd, 4096).decode(errors="replace"))
                except OSError:
                    data.append("opened")
                os.close(fd)
            for folder in ("/tmp", "/dev/shm", "/dev/mqueue"):
                try:
                    for entry in os.listdir(folder):
                        try:
                            with open(os.path.join(folder, entry)) as fh:
                                data.append(fh.read(4096))
                        except OSError:
                            data.append(entry)
                except OSError:
                    pass
            found["data"] = data
            return found
        """
    )

    async def main() -> object:
        task = asyncio.create_task(arun_code(holder, "f", [token], backend=isolated, timeout=90))
        deadline = time.monotonic() + 60
        while not marker_procs(name) and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        assert marker_procs(name), "the holder never started"
        try:
            return await arun_code(prober, "f", backend=isolated, timeout=60)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    r = asyncio.run(main())
    assert r.ok, r.summary()  # type: ignore[attr-defined]
    value = r.value  # type: ignore[attr-defined]
    assert value["pts"] == [], value
    assert token not in repr(value["data"]), value


# --- host paths (finding: mountinfo and /proc/self/cgroup show home, checkout, cgroup names) -----


def _host_names() -> list[str]:
    names = [REPO]
    home = os.path.expanduser("~")
    if home not in ("/", ""):
        names.append(home + "/")
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        path = line.split(":", 2)[2]
        if path not in ("/", ""):
            names.append(path)
    return names


def test_no_host_paths_inside(isolated: str) -> None:
    code = textwrap.dedent(
        """
        import os, stat, sys
        def f():
            out = [open("/proc/self/mountinfo").read(), open("/proc/self/cgroup").read(),
                   sys.executable, sys.prefix, repr(sys.path)]
            main = sys.modules.get("__main__")
            out.append(str(getattr(main, "__file__", "")))
            # runc CVE-2024-21626: an inherited fd to a host directory (e.g. the cgroup folder)
            for fd in os.listdir("/proc/self/fd"):
                try:
                    out.append(os.readlink(f"/proc/self/fd/{fd}"))
                    if stat.S_ISDIR(os.fstat(int(fd)).st_mode):
                        out.append("DIRECTORY FD " + fd)
                except OSError:
                    pass
            for mod in list(sys.modules.values()):
                out.append(str(getattr(mod, "__file__", "") or ""))
            try:
                1 / 0
            except ZeroDivisionError:
                import traceback
                out.append(traceback.format_exc())
            return out
        """
    )
    r = run_code(code, "f", backend=isolated, timeout=60)
    assert r.ok, r.summary()
    text = "\n".join(r.value)
    leaked = [n for n in [*_host_names(), "DIRECTORY FD"] if n in text]
    assert leaked == [], f"{isolated}: {leaked}"


def test_pid_1_cannot_be_ptraced(request: pytest.FixtureRequest) -> None:
    """bwrap's pid 1 (its init) and the zygote's: ptrace is denied by the filter."""
    code = textwrap.dedent(
        """
        import ctypes
        def f():
            libc = ctypes.CDLL(None, use_errno=True)
            rc = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH
            if rc == 0:
                libc.ptrace(17, 1, None, None)  # PTRACE_DETACH
                return 0
            return ctypes.get_errno()
        """
    )
    for name in ("bwrap", "zygote"):  # never on the process backend: pid 1 is the host's init
        if not _instance(name).available()[0]:
            continue
        r = run_code(code, "f", backend=name, timeout=30)
        assert r.ok and r.value == errno.EPERM, (name, r.summary())

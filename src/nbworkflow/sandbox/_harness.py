"""In-sandbox harness: stdlib only, kept lean (no json, no re) because it starts per execution.

Run as ``python -I -S _harness.py`` (cold) or imported by the zygote (warm). It reads a marshal
request (from stdin, or ``--request FILE``), applies resource limits before any user code runs,
executes the code as module ``solution``, and writes one framed result to the result channel (an
inherited fd, or ``--result FILE``): ``MAGIC nonce length payload``. The payload is JSON made by
the small encoder below, so the caller parses it with ``json.loads`` and never unmarshals bytes
that user code could have written. Nothing is ever parsed from stdout.
"""

# ruff: noqa: SIM105 - contextlib.suppress would import contextlib at every sandbox start-up
from __future__ import annotations

import marshal
import os
import sys

# Annotations are never evaluated (PEP 563) and this flag is true only for type checkers, so
# typing costs no import at start-up (importing ``typing`` alone would add ~2 ms per execution).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import Any

MAGIC = b"NBWR1"


def _enc_str(s: str, out: list[str]) -> None:
    out.append('"')
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')


def _encode(value: object, out: list[str], depth: int = 0) -> None:
    if depth > 100:
        raise ValueError("value nested too deeply")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        out.append(str(int(value)))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity are not JSON")
        out.append(repr(float(value)))
    elif isinstance(value, str):
        _enc_str(str(value), out)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if not isinstance(k, str):
                raise TypeError(f"dict keys must be str, got {type(k).__name__}")
            if i:
                out.append(",")
            _enc_str(str(k), out)
            out.append(":")
            _encode(v, out, depth + 1)
        out.append("}")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode(value: object) -> str:
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def apply_limits(lim: dict[str, float]) -> None:
    import resource

    def setl(which: int, value: float) -> None:
        try:
            hard = resource.getrlimit(which)[1]
            value = int(value)
            if hard != resource.RLIM_INFINITY and value > hard:
                value = hard
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    cpu = lim.get("cpu")
    if cpu:
        try:
            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
            soft = max(1, int(cpu + 0.999))
            top = soft + 1 if hard == resource.RLIM_INFINITY else min(soft + 1, hard)
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, top), top))
        except (ValueError, OSError):
            pass
    if lim.get("data"):
        setl(resource.RLIMIT_DATA, lim["data"])
    if lim.get("fsize"):
        setl(resource.RLIMIT_FSIZE, lim["fsize"])
    if lim.get("nofile"):
        setl(resource.RLIMIT_NOFILE, lim["nofile"])
    if lim.get("nproc"):
        setl(resource.RLIMIT_NPROC, lim["nproc"])
    setl(resource.RLIMIT_CORE, 0)
    import _signal  # type: ignore[import-not-found]  # `signal` imports enum: ~3 ms

    # A write over RLIMIT_FSIZE should raise in the user's code, not kill the harness.
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)


def _set_subreaper() -> None:
    # Process backend on Linux: orphaned grandchildren (setsid double-forks) re-parent to us, so
    # the caller can still find and kill them through the process tree.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG = SIGKILL
    except Exception:
        pass


def kill_descendants() -> None:
    """SIGKILL every process below us (Linux /proc walk); used by the process backend."""
    import _signal

    me = os.getpid()
    for _ in range(5):
        found = []
        try:
            entries = os.listdir("/proc")
        except OSError:
            return
        parents: dict[int, list[int]] = {}
        for name in entries:
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(name))
        stack = [me]
        while stack:
            for child in parents.get(stack.pop(), ()):
                found.append(child)
                stack.append(child)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, _signal.SIGKILL)
            except OSError:
                pass
        for pid in found:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass


_SOURCES: dict[str, str] = {}


def _exc_info(exc: BaseException, filenames: tuple[str, ...]) -> dict[str, Any]:
    import linecache
    import traceback

    for fname, text in _SOURCES.items():
        linecache.cache[fname] = (len(text), None, text.splitlines(True), fname)

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in filenames]
    lineno = frames[-1].lineno if frames else None
    if isinstance(exc, SyntaxError) and exc.filename in filenames:
        lineno = exc.lineno
    lines = ["Traceback (most recent call last):\n"]
    lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {type(exc).__name__}>"
    return {
        "type": type(exc).__name__,
        "message": message[:20000],
        "traceback": "".join(lines)[-20000:],
        "lineno": lineno,
    }


def _load_module(code: str, name: str, filename: str) -> Any:
    _SOURCES[filename] = code
    compiled = compile(code, filename, "exec", dont_inherit=True)
    module = type(sys)(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compiled, module.__dict__)
    return module


def _release_frames(exc: BaseException) -> None:
    # The finished user frames still hold what filled memory; free it before formatting.
    tb = exc.__traceback__
    while tb is not None:
        try:
            tb.tb_frame.clear()
        except RuntimeError:
            pass
        tb = tb.tb_next


def run_request(req: dict[str, Any]) -> dict[str, Any]:
    """Run one request; returns the result dict (never raises for user errors)."""
    result: dict[str, Any] = {"ok": False, "value": None, "error": None}
    files = ("solution.py", "tests.py")
    try:
        module = _load_module(req["code"], "solution", "solution.py")
        if req.get("mode") == "tests":
            result["value"] = _run_tests(module, req["tests"])
            result["ok"] = not result["value"]["failed"]
        else:
            value = None
            entry = req.get("entrypoint")
            if entry:
                fn = getattr(module, entry, None)
                if fn is None or not callable(fn):
                    raise NameError(f"entrypoint {entry!r} is not a function defined by the code")
                value = fn(*req.get("args", ()), **req.get("kwargs", {}))
            try:
                result["value_json"] = encode(value)
            except (TypeError, ValueError, RecursionError) as exc:
                raise TypeError(f"the return value is not JSON-serialisable: {exc}") from None
            result["ok"] = True
    except BaseException as exc:
        if isinstance(exc, MemoryError):
            _release_frames(exc)
        try:
            result["error"] = _exc_info(exc, files)
        except BaseException:
            result["error"] = {
                "type": type(exc).__name__,
                "message": "",
                "traceback": "",
                "lineno": None,
            }
        result["ok"] = False
    return result


def _run_tests(module: Any, tests: str) -> dict[str, Any]:
    import types

    namespace = dict(module.__dict__)
    namespace["__name__"] = "tests"
    namespace["__file__"] = "tests.py"
    _SOURCES["tests.py"] = tests
    exec(compile(tests, "tests.py", "exec", dont_inherit=True), namespace)
    passed = []
    failed = []
    for name, fn in list(namespace.items()):
        if not name.startswith("test_") or not isinstance(fn, types.FunctionType):
            continue
        if fn.__code__.co_filename != "tests.py":
            continue
        try:
            fn()
            passed.append(name)
        except BaseException as exc:
            info = _exc_info(exc, ("tests.py", "solution.py"))
            text = info["type"] + (": " + info["message"] if info["message"] else "")
            failed.append({"name": name, "error": text[:2000], "lineno": info["lineno"]})
    return {"passed": passed, "failed": failed}


def peak_kb() -> int | None:
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak
    except Exception:
        return None


def frame_result(nonce: bytes, result: dict[str, Any]) -> bytes:
    value_json = result.pop("value_json", None)
    if value_json is None:
        value_json = encode(result.get("value"))
    result["value"] = None
    result["peak_kb"] = peak_kb()
    body = encode(result)
    # Splice the pre-encoded value in: {"ok":..,"value":null,...} -> value replaced textually.
    body = body.replace('"value":null', '"value":' + value_json, 1)
    payload = body.encode("utf-8", "surrogatepass")
    return MAGIC + nonce + str(len(payload)).zfill(16).encode() + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def finish(req: dict[str, Any], result: dict[str, Any], out_fd: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        data = frame_result(req["nonce"], result)
    except BaseException as exc:
        data = frame_result(
            req["nonce"],
            {
                "ok": False,
                "value": None,
                "error": {
                    "type": type(exc).__name__,
                    "message": "result encoding failed",
                    "traceback": "",
                    "lineno": None,
                },
            },
        )
    try:
        write_all(out_fd, data)
    except OSError as exc:
        os._exit(70 + min(exc.errno or 0, 50))  # the result channel is broken: say so


def main(argv: list[str]) -> None:
    request_path = result_path = None
    result_fd = 3
    subreaper = False
    i = 0
    while i < len(argv):
        if argv[i] == "--request":
            request_path = argv[i + 1]
            i += 2
        elif argv[i] == "--result":
            result_path = argv[i + 1]
            i += 2
        elif argv[i] == "--result-fd":
            result_fd = int(argv[i + 1])
            i += 2
        elif argv[i] == "--zygote":
            mounts = [m for m in argv[i + 2].split(",") if m]
            zygote_main(int(argv[i + 1]), mounts, argv[i + 3])
            os._exit(0)
        elif argv[i] == "--subreaper":
            subreaper = True
            i += 1
        else:
            i += 1
    if request_path:
        with open(request_path, "rb") as fh:
            raw = fh.read()
    else:
        chunks = []
        while True:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        raw = b"".join(chunks)
    req = marshal.loads(raw)
    del raw
    if result_path:
        result_fd = os.open(result_path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if subreaper:
        _set_subreaper()
    apply_limits(req.get("limits", {}))
    sys.argv = ["solution.py"]
    sys.path[:] = [p for p in sys.path if p and not p.endswith("sandbox")]
    result = run_request(req)
    finish(req, result, result_fd)
    if subreaper:
        kill_descendants()
    os._exit(0)


# --- warm launcher (zygote) ---------------------------------------------------------------------
# Runs as real root inside its own bwrap (mount/pid/net/ipc/uts namespaces, read-only view). For
# each request it forks a child that joins the run's cgroup and unshares fresh mount, pid, net,
# ipc and uts namespaces; the child's child (pid 1 there) mounts a private /proc, size-capped
# /tmp and /dev/shm, hides the cgroup folders, brings up lo, then drops to uid/gid 65534 with no
# capabilities and no_new_privs before any user code runs.

_CLONE = {
    "ns": 0x00020000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "pid": 0x20000000,
    "net": 0x40000000,
}
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_RDONLY = 2, 4, 8, 1
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18


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
    _lo_up()
    libc.sethostname(b"sandbox", 7)


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


def _recv_request(fd: int) -> tuple[dict[str, Any], list[int]]:
    import array
    import socket

    sock = socket.socket(fileno=fd)
    try:
        fds: list[int] = []
        data = b""
        size = array.array("i").itemsize
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            chunk, anc, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(3 * size))
            if not chunk:
                raise EOFError("the launcher closed the request channel")
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(blob[: len(blob) - (len(blob) % size)])
                    fds.extend(got)
            data += chunk
    finally:
        sock.detach()
    return marshal.loads(data[4:]), fds


def _zygote_spare(libc: ctypes.CDLL, sp_fd: int, cg_mounts: list[str], cg_name: str) -> None:
    """A spare sandbox, prepared before its request: this process (in the launcher's pid
    namespace) unshares fresh namespaces and forks pid 1 there, which mounts its private
    /proc, /tmp and /dev/shm and then waits for the request and its three pipe ends."""
    import _signal

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
            os.write(3, b"RDY1")  # prepared and alone in its group: the launcher may rename it
            req, fds = _recv_request(3)
            if len(fds) != 3:
                os._exit(100 + len(fds))  # never run without our own stdout/stderr/result pipes
            for target, fd in zip((1, 2, 3), fds, strict=False):
                os.dup2(fd, target)
            os.closerange(4, 1 << 16)
            _zygote_drop(libc, req)
        except BaseException as exc:
            os.write(2, f"sandbox setup failed: {exc}\n".encode())
            os._exit(126)
        apply_limits(req.get("limits", {}))
        sys.argv = ["solution.py"]
        result = run_request(req)
        finish(req, result, 3)
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


def zygote_main(ctl_fd: int, cg_mounts: list[str], token: str) -> None:
    # linecache, resource, traceback and types are imported once here so every forked sandbox
    # has them for free (dlopen and parsing would cost ~1 ms per execution).
    import array
    import ctypes
    import linecache  # noqa: F401
    import resource  # noqa: F401
    import select
    import signal
    import socket
    import struct
    import traceback  # noqa: F401
    import types  # noqa: F401

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, 9, 0, 0, 0)  # die with the caller's bwrap
    sock = socket.socket(fileno=ctl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: dict[int, bytes | None] = {}
    spares: list[tuple[int, socket.socket, str]] = []
    spare_groups: dict[int, str] = {}
    seq = [0]
    buf = b""
    fd_queue: list[list[int]] = []
    head = struct.Struct("!c8sHIdIQ")
    fd_size = array.array("i").itemsize

    def make_spare() -> None:
        seq[0] += 1
        name = f"nbworkflow-spare-{token}-{seq[0]}"
        for m in cg_mounts:
            os.mkdir(m + "/" + name)
            _cg_limits(m + "/" + name, 64, 384 << 20)
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
        spares.append((pid, parent, name))

    def drop_group(name: str) -> None:
        for m in cg_mounts:
            try:
                os.rmdir(m + "/" + name)
            except OSError:
                pass  # still emptying: the caller's sweep removes it later

    def take_spare() -> tuple[int, int, socket.socket, str] | None:
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
                return ipid, 1, parent, name
            parent.close()
        return None

    def dispatch(
        rid: bytes, names: str, cpu: float, pids: int, mem: int, request: bytes, fds: list[int]
    ) -> None:
        spare = take_spare()
        if spare is None:
            sock.sendall(b"S" + rid + struct.pack("!i", 126))
            return
        ipid, _gpid, parent, group = spare
        # pid 1 of the spare is already alone in its group: give the group the run's name (the
        # caller kills, checks and removes it by that name) and the run's limits, then the
        # request goes to pid 1. Its parent only waits and stays outside.
        for m in cg_mounts:
            os.rename(m + "/" + group, m + "/" + names)
            _cg_limits(m + "/" + names, pids, mem)
        spare_groups.pop(ipid, None)
        children[ipid] = rid
        cpu_limits[ipid] = cpu
        msg = len(request).to_bytes(4, "big") + request
        parent.sendmsg(
            [msg[:65536]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        )
        if len(msg) > 65536:
            parent.sendall(msg[65536:])
        parent.close()

    cpu_limits: dict[int, float] = {}
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
                    pid, status, usage = os.wait4(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                rid = children.pop(pid, None)
                cpu = cpu_limits.pop(pid, 0.0)
                unused = spare_groups.pop(pid, None)
                if unused is not None:
                    drop_group(unused)
                if rid is not None:
                    code = os.waitstatus_to_exitcode(status)
                    if code < 0:
                        code = 128 - code
                    # pid 1 of a namespace ignores SIGXCPU, so the hard limit's SIGKILL ends it;
                    # wait4's usage includes the reaped pid 1's CPU time
                    if code == 128 + 9 and cpu and usage.ru_utime + usage.ru_stime >= cpu:
                        code = 128 + 24
                    sock.sendall(b"S" + rid + struct.pack("!i", code))
                else:
                    for k, (spid, parent, _name) in enumerate(spares):
                        if spid == pid:
                            parent.close()
                            del spares[k]
                            break
        if sock.fileno() in ready:
            data, anc, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(3 * fd_size))
            if not data:
                os._exit(0)
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(blob[: len(blob) - (len(blob) % fd_size)])
                    fd_queue.append(list(got))
            buf += data
            while len(buf) >= head.size:
                _, rid, cglen, reqlen, cpu, pids, mem = head.unpack_from(buf)
                total = head.size + cglen + reqlen
                if len(buf) < total:
                    break
                names = buf[head.size : head.size + cglen].decode()
                request = buf[head.size + cglen : total]
                buf = buf[total:]
                fds = fd_queue.pop(0)
                try:
                    dispatch(rid, names, cpu, pids, mem, request, fds)
                finally:
                    for fd in fds:
                        os.close(fd)
            while len(spares) < 1:
                make_spare()


if __name__ == "__main__":
    main(sys.argv[1:])

"""In-sandbox harness: stdlib only, kept lean (no json, no re) because it starts per execution.

(Over 400 lines on purpose: it is the one script each cold sandbox starts, and every extra
module would be another import on every execution.)

Run as ``python -I -S _harness.py`` (cold: bwrap, docker, process) or imported by the warm launcher
(``_launcher.py``, zygote). It never imports the nbworkflow package: only ``_wire``, which sits
next to it. It reads a marshal request (from stdin, or ``--request FILE``), joins a fresh session
keyring, drops to the sandbox uid and loads the seccomp filter where asked, applies resource
limits before any user code runs, executes the code as module ``solution``, and writes one framed
result to the result channel (an inherited fd, or ``--result FILE``; see ``_wire``). The payload is
JSON made by the small encoder below, so the caller parses it with ``json.loads`` and never
unmarshals bytes that user code could have written. Nothing is ever parsed from stdout.
"""

# ruff: noqa: SIM105 - contextlib.suppress would import contextlib at every sandbox start-up
from __future__ import annotations

import marshal
import os
import sys

if __package__:
    from . import _wire
else:  # in the sandbox: ``-I`` leaves the script's folder off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _wire  # type: ignore[import-not-found,no-redef]

    del sys.path[0]

# Annotations are never evaluated (PEP 563) and this flag is true only for type checkers, so
# typing costs no import at start-up (importing ``typing`` alone would add ~2 ms per execution).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SANDBOX_UID = 65534


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
    return _wire.frame(nonce, body.encode("utf-8", "surrogatepass"))


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


def drop_to_sandbox_uid() -> None:
    """Become uid/gid 65534 for good (bwrap as root keeps only CAP_SETUID/CAP_SETGID for this:
    without a user namespace the sandbox is then an unprivileged host uid, so root-only files
    such as /proc/sys, /proc/sysrq-trigger or /proc/timer_list are closed by plain permissions)."""
    os.setgroups([])
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


def setup_failed(what: str, exc: BaseException) -> None:
    # The caller reports a crash with this text; no user code has run.
    try:
        os.write(2, f"nbworkflow sandbox setup failed ({what}): {exc}\n".encode())
    except OSError:
        pass
    os._exit(126)


def main(argv: list[str]) -> None:
    request_path = result_path = None
    result_fd = 3
    seccomp_fd = -1
    subreaper = fresh_keyring = drop_uid = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--request", "--result", "--result-fd", "--seccomp-fd"):
            value = argv[i + 1]
            if arg == "--request":
                request_path = value
            elif arg == "--result":
                result_path = value
            elif arg == "--result-fd":
                result_fd = int(value)
            else:
                seccomp_fd = int(value)
            i += 2
            continue
        subreaper = subreaper or arg == "--subreaper"
        fresh_keyring = fresh_keyring or arg == "--fresh-keyring"
        drop_uid = drop_uid or arg == "--drop-uid"
        i += 1
    # Everything that does not depend on the request happens first: a pre-started sandbox does
    # it while it waits, off the caller's path.
    if subreaper:
        _set_subreaper()
    try:
        if fresh_keyring:
            _wire.join_fresh_session_keyring()
        if drop_uid:
            drop_to_sandbox_uid()
        if seccomp_fd >= 0:
            _wire.load_seccomp(_wire.read_fd(seccomp_fd))
    except OSError as exc:
        setup_failed("keyring, uid or seccomp", exc)
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
    apply_limits(req.get("limits", {}))
    sys.argv = ["solution.py"]
    result = run_request(req)
    finish(req, result, result_fd)
    if subreaper:
        kill_descendants()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])

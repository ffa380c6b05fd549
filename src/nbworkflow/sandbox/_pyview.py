"""The interpreter as the sandbox sees it: read-only, and at a neutral path.

A system Python (under /usr) is bound where it is. A Python installed elsewhere (pyenv under a
home folder, a checkout, a conda folder) would show that host path inside: in ``sys.prefix``,
tracebacks, and the root column of /proc/self/mountinfo, which names a bind mount's source. So
its standard library is mirrored once with hard links (no copy, same inodes; site-packages left
out) into the private runtime cache, and that mirror is bound at ``/opt/python``. Where hard links
are impossible (another filesystem) the prefix is bound at its own path, and ``nbworkflow
sandbox`` says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

INSIDE = "/opt/python"
_SYSTEM = ("/usr", "/lib", "/bin")


@dataclass(frozen=True)
class PythonView:
    binds: tuple[str, ...]
    """bwrap options: the read-only system folders and the interpreter's prefix."""
    exe: str
    """The interpreter's path inside the sandbox."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment (the shared libpython's folder when it moved)."""
    neutral: bool = True
    """No host-specific path (home, checkout) is visible inside."""


def _base_interpreter() -> str:
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def _under(path: str, tops: tuple[str, ...]) -> bool:
    return any(path == t or path.startswith(t + "/") for t in tops)


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return args


def bind_deep(args: list[str], made: set[str], source: str, target: str) -> None:
    # bwrap creates missing parents 0700; uid 65534 must be able to traverse them
    parts = target.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/" + "/".join(parts[:i])
        if parent not in made:
            made.add(parent)
            args.extend(["--perms", "0755", "--dir", parent])
    args.extend(["--ro-bind", source, target])


def _mirror(prefix: str, cache_root: Path) -> Path | None:
    """A hard-link mirror of ``prefix`` without site-packages (built once, then reused)."""
    exe = _base_interpreter()
    st = os.stat(exe)
    key = f"{prefix}\0{sys.version}\0{st.st_ino}\0{st.st_mtime_ns}".encode()
    target = cache_root / f"py-{hashlib.sha256(key).hexdigest()[:16]}"
    if (target / "bin").is_dir():
        return target
    skip = {
        os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", d)
        for d in ("site-packages", "test", "idlelib", "tkinter", "turtledemo")
    }
    skip |= {os.path.join(prefix, d) for d in ("include", "share", "lib/pkgconfig")}
    partial = Path(tempfile.mkdtemp(prefix=".py-", dir=cache_root))
    try:
        for root, dirs, files in os.walk(prefix):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
            rel = os.path.relpath(root, prefix)
            out = partial / rel
            out.mkdir(mode=0o755, exist_ok=True)
            for d in dirs:
                src = os.path.join(root, d)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), out / d)
            for name in files:
                src = os.path.join(root, name)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), out / name)
                elif os.access(src, os.R_OK):
                    os.link(src, out / name)
        partial.chmod(0o755)
        os.rename(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return target if (target / "bin").is_dir() else None
    return target


@cache
def python_view(cache_root: str, neutral: bool = True) -> PythonView:
    """How the sandbox gets the interpreter (``cache_root``: the private runtime cache).
    ``neutral=False`` binds the prefix at its own path (a granted venv's ``pyvenv.cfg`` names
    it)."""
    args = _system_binds()
    made: set[str] = set()
    prefix = os.path.realpath(sys.base_prefix)
    exe = _base_interpreter()
    if _under(prefix, _SYSTEM) and _under(exe, _SYSTEM):
        return PythonView(tuple(args), exe)
    mirror = _mirror(prefix, Path(cache_root)) if neutral and _under(exe, (prefix,)) else None
    if mirror is None:
        bind_deep(args, made, prefix, prefix)
        exe_dir = os.path.dirname(exe)
        if not _under(exe_dir, (prefix, "/usr")):
            bind_deep(args, made, exe_dir, exe_dir)
        return PythonView(tuple(args), exe, neutral=False)
    bind_deep(args, made, str(mirror), INSIDE)
    env = {}
    if os.path.isdir(os.path.join(prefix, "lib")):
        # a shared libpython is found through the build's absolute RUNPATH, which is not there
        env["LD_LIBRARY_PATH"] = INSIDE + "/lib"
    return PythonView(tuple(args), INSIDE + "/" + os.path.relpath(exe, prefix), env)

"""Build a minimal Docker image from the host's Python, for machines without a registry.

``build_local_image(client)`` copies the base interpreter, its stdlib (no site-packages), the
shared libraries ``ldd`` reports, a passwd/group with ``nobody``, and an empty ``/tmp`` (1777)
into a tarball and ``docker import``s it (~50 MB, a few seconds). The image runs
``/usr/local/bin/python3`` exactly like the host's interpreter, so the harness behaves the same.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path
from typing import Any

LOCAL_IMAGE = f"nbworkflow-python:{sys.version_info.major}.{sys.version_info.minor}-local"
"""Tag of the image built from the host's Python."""
IMAGE_PYTHON = "/usr/local/bin/python3"
"""Where the interpreter lives inside both the official slim image and ours."""


_SKIP_SO = ("_tkinter", "_test", "_ctypes_test", "xxlimited", "_xxtestfuzz", "xxsubtype")


def default_image() -> str:
    """The official slim image matching the caller's minor version (needs a registry)."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def _shared_libs(paths: list[str]) -> set[str]:
    libs: set[str] = set()
    for path in paths:
        try:
            out = subprocess.run(
                ["ldd", path], capture_output=True, text=True, check=False, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            m = re.search(r"(/\S+)\s+\(0x", line)
            if m and os.path.exists(m.group(1)):
                libs.add(m.group(1))
    return libs


def _add_file(tar: tarfile.TarFile, src: str, dest: str) -> None:
    real = os.path.realpath(src)
    info = tar.gettarinfo(real, arcname=dest.lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with open(real, "rb") as fh:
        tar.addfile(info, fh)


def _add_bytes(tar: tarfile.TarFile, dest: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, dest: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def build_rootfs_tar(out: Path) -> Path:
    """Write the image's root filesystem as a tarball to ``out``."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    # The base installation's paths, not a venv's (platstdlib points into the venv there).
    base = os.path.realpath(sys.base_prefix)
    paths = sysconfig.get_paths(
        vars={"base": base, "platbase": base, "installed_base": base, "installed_platbase": base}
    )
    stdlib, platstdlib = paths["stdlib"], paths["platstdlib"]
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    dyn = os.path.join(platstdlib, "lib-dynload")
    so_files = (
        [os.path.join(dyn, f) for f in os.listdir(dyn) if not f.startswith(_SKIP_SO)]
        if os.path.isdir(dyn)
        else []
    )
    libs = _shared_libs([exe, *so_files])
    with tarfile.open(out, "w") as tar:
        for d in (
            "/usr",
            "/usr/local",
            "/usr/local/bin",
            "/usr/local/lib",
            "/etc",
            "/lib",
            "/lib64",
            "/nbw",
        ):
            _add_dir(tar, d)
        _add_dir(tar, "/tmp", 0o1777)
        _add_file(tar, exe, IMAGE_PYTHON)
        dest_lib = f"/usr/local/lib/{ver}"
        skip = (
            "site-packages",
            "test",
            "idlelib",
            "tkinter",
            "turtledemo",
            "ensurepip",
            "__pycache__",
            "config-",
        )
        for root, dirs, files in os.walk(stdlib):
            rel = os.path.relpath(root, stdlib)
            dirs[:] = [d for d in dirs if not any(d == s or d.startswith(s) for s in skip)]
            _add_dir(tar, os.path.normpath(os.path.join(dest_lib, rel)))
            for f in files:
                if f.endswith(".py") or (f.endswith(".so") and not f.startswith(_SKIP_SO)):
                    _add_file(tar, os.path.join(root, f), os.path.join(dest_lib, rel, f))
        for lib in sorted(libs):
            real = os.path.realpath(lib)
            # Keep the path ldd found (loader paths are absolute); libpython goes next to it too.
            if "libpython" in lib:
                _add_file(tar, real, f"/usr/local/lib/{os.path.basename(lib)}")
            else:
                _add_file(tar, real, lib)
        passwd = b"root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/tmp:/bin/false\n"
        _add_bytes(tar, "/etc/passwd", passwd)
        _add_bytes(tar, "/etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        _add_bytes(tar, "/etc/ld.so.conf", b"/usr/local/lib\n")
    return out


def build_local_image(client: Any, tag: str = LOCAL_IMAGE, workdir: Path | None = None) -> str:
    """Build the rootfs tarball and ``docker import`` it as ``tag``; returns the tag."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tar_path = build_rootfs_tar(Path(tmp) / "rootfs.tar")
        prefix = os.path.realpath(sys.base_prefix)
        env = f"LD_LIBRARY_PATH=/usr/local/lib:{prefix}/lib"
        with open(tar_path, "rb") as fh:
            client.api.import_image_from_data(
                fh.read(),
                repository=tag.split(":")[0],
                tag=tag.split(":")[1],
                changes=[f"ENV {env}", "USER 65534:65534", "WORKDIR /tmp"],
            )
    return tag


def ensure_local_image(client: Any, tag: str = LOCAL_IMAGE) -> str:
    """Import the local image unless it already exists."""
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        build_local_image(client, tag)
    return tag

"""The sandbox wire protocol, written once: result frames, launcher messages, the memory budget,
and the two kernel calls every sandboxed process makes before user code (fresh session keyring,
seccomp filter).

Stdlib only and import-light: the harness imports it inside the sandbox (``python -I -S``, no
package), the caller imports it as ``nbworkflow.sandbox._wire``.

Result frame (harness -> caller, on a dedicated fd or file): ``MAGIC nonce(32) length(16 digits)
payload``; the payload is JSON. Launcher request (caller -> zygote, with the stdout, stderr,
result and request fds as SCM_RIGHTS): ``LAUNCH`` header then the cgroup name; the request
itself travels in the passed memfd, so the launcher never holds it. Launcher status (zygote ->
caller): ``STATUS``.
"""

# ruff: noqa: SIM105 - contextlib.suppress would import contextlib inside every sandbox
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes

MAGIC = b"NBWR1"
NONCE_LEN = 32
LENGTH_DIGITS = 16
HEADER_LEN = len(MAGIC) + NONCE_LEN + LENGTH_DIGITS

LAUNCH = "!c8sHdIQ"
"""kind ``R``, request id, cgroup-name length, CPU seconds, pids, memory bytes."""
STATUS = "!c8si"
"""kind ``S``, request id, exit status (128 + signal when killed)."""
LAUNCH_FDS = 4
"""stdout, stderr, result (write ends) and the request memfd."""

MEMORY_PAD_MB = 48
"""Room above the data-segment limit for the interpreter itself and the page cache."""


def cgroup_memory_bytes(memory_mb: int, tmp_mb: int) -> int:
    """The whole tree's memory limit: data segment + /tmp + /dev/shm (tmpfs is charged to the
    group) + the interpreter. Every backend uses this one formula."""
    return (int(memory_mb) + 2 * int(tmp_mb) + MEMORY_PAD_MB) << 20


def frame(nonce: bytes, payload: bytes) -> bytes:
    return MAGIC + nonce + str(len(payload)).zfill(LENGTH_DIGITS).encode() + payload


def unframe(data: bytes, nonce: bytes) -> tuple[bytes | None, str]:
    """The payload of one frame for ``nonce``, or (None, why)."""
    if not data:
        return None, "the code ended without reporting a result"
    if len(data) < HEADER_LEN or not data.startswith(MAGIC + nonce):
        return None, "the result channel held something other than the harness's result"
    try:
        length = int(data[len(MAGIC) + NONCE_LEN : HEADER_LEN])
    except ValueError:
        return None, "malformed result header"
    if len(data) != HEADER_LEN + length:
        return None, "the result channel was tampered with (unexpected length)"
    return data[HEADER_LEN:], ""


# --- before user code ----------------------------------------------------------------------------

_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 271, "s390x": 280}
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def _libc() -> ctypes.CDLL:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def join_fresh_session_keyring(libc: ctypes.CDLL | None = None) -> None:
    """``keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)``: a new, empty session keyring, so the
    caller's keys are not reachable through the inherited one."""
    import ctypes

    libc = libc or _libc()
    nr = _SYS_KEYCTL.get(os.uname().machine)
    if nr is None:
        return  # the seccomp filter still denies every other keyctl
    if libc.syscall(nr, 1, None) < 0:
        err = ctypes.get_errno()
        raise OSError(err, "cannot start a fresh session keyring: " + os.strerror(err))


_PREPARED: dict[bytes, tuple[object, object]] = {}


def prepare_seccomp(bpf: bytes) -> object:
    """The ``struct sock_fprog`` for ``bpf``, built once (the zygote builds it before forking,
    so its children only make the two prctl calls)."""
    import ctypes

    got = _PREPARED.get(bpf)
    if got is None:
        if not bpf or len(bpf) % 8:
            raise OSError(22, "the seccomp program is empty or malformed")

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buf = ctypes.create_string_buffer(bpf, len(bpf))
        got = (buf, SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p)))
        _PREPARED[bpf] = got
    return got[1]


def load_seccomp(bpf: bytes, libc: ctypes.CDLL | None = None) -> None:
    """Install the compiled filter for this process and all it starts (no_new_privs first)."""
    import ctypes

    prog = prepare_seccomp(bpf)
    libc = libc or _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "no_new_privs: " + os.strerror(err))
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:  # type: ignore[arg-type]
        err = ctypes.get_errno()
        raise OSError(err, "cannot load the seccomp filter: " + os.strerror(err))


def read_fd(fd: int) -> bytes:
    """Everything readable from ``fd`` (a pipe to EOF, or a memfd from its start), then close it."""
    chunks = []
    try:
        try:
            os.lseek(fd, 0, 0)
        except OSError:
            pass  # a pipe
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)

"""The seccomp filter every backend loads before user code, compiled by libseccomp.

The policy follows Docker's default profile (moby ``profiles/seccomp/default.json`` and its
"significant syscalls blocked" rationale) as a deny list on top of "allow": the kernel surface a
container does not get, sandboxed code does not get either. Denied calls fail with EPERM so Python
code gets an ``OSError`` it can report; ``clone3`` fails with ENOSYS so glibc falls back to
``clone``, whose namespace flags are checked (seccomp cannot read clone3's struct argument).

libseccomp (through the ``pyseccomp`` ctypes binding) does the compiling; we only list names.
The compiled program travels as bytes: bwrap reads it from ``--seccomp FD``, the zygote's children
and the process backend's harness load it themselves with ``prctl(PR_SET_SECCOMP)``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from functools import cache

DENIED: tuple[str, ...] = (
    # keyrings: the caller's session keyring and the uid's user keyring (read, write, persist)
    "add_key",
    "request_key",
    "keyctl",
    # kernel attack surface without a use in generated code
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "bpf",
    "perf_event_open",
    "fanotify_init",
    # inotify on the read-only bound host folders (/usr, the interpreter) would watch host
    # activity from inside
    "inotify_init",
    "inotify_init1",
    "lookup_dcookie",
    "kcmp",
    # other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    # kernel modules and kexec
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    # the mount family (CVE-2022-0492's release_agent needs a cgroup mount)
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_tree",
    "mount_setattr",
    # namespaces (clone's flags are checked below; clone3 gets ENOSYS)
    "unshare",
    "setns",
    # file handles bypass the mount view (Shocker)
    "name_to_handle_at",
    "open_by_handle_at",
    # host-wide state
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "acct",
    "quotactl",
    "quotactl_fd",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "vhangup",
    "iopl",
    "ioperm",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vm86",
    "vm86old",
    # NUMA policy of other processes / the machine (Docker: CAP_SYS_NICE only)
    "mbind",
    "set_mempolicy",
    "migrate_pages",
    "move_pages",
)
"""Syscalls that fail with EPERM inside every sandbox."""

CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
"""``clone`` with any of these fails with EPERM (no nested namespaces, no capabilities there)."""

TTY_IOCTLS = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}
"""Terminal input injection (bubblewrap CVE-2017-5226) and console ioctls: EPERM."""

KEYCTL_JOIN_SESSION_KEYRING = 1
"""The one keyctl operation allowed, with a NULL name: join a new, empty, anonymous session keyring
(the harness does it before user code; it reaches no existing key)."""

SECCOMP_INSTALL = (
    "install libseccomp (Debian/Ubuntu: apt-get install libseccomp2) and the Python binding "
    "(pip install pyseccomp)"
)


class SeccompUnavailable(RuntimeError):
    """libseccomp or its binding is missing, or the kernel has no seccomp filters."""


_BENCH_OFF = [False]


@cache
def program() -> bytes:
    """The compiled BPF program (``struct sock_filter[]``), built once per process."""
    try:
        import pyseccomp as sc
    except (ImportError, RuntimeError, OSError) as exc:
        raise SeccompUnavailable(
            f"cannot build the seccomp filter ({exc}): {SECCOMP_INSTALL}"
        ) from exc
    eperm = sc.ERRNO(errno.EPERM)
    try:
        flt = sc.SyscallFilter(sc.ALLOW)
        # Only the native ABI: i386 (int 0x80) and x32 calls get EPERM as a whole (on x86_64
        # libseccomp rejects x32 numbers unless x32 is added as an architecture).
        flt.set_attr(sc.Attr.ACT_BADARCH, eperm)
        # a binary search over syscall numbers instead of a linear list (libseccomp >= 2.5)
        with contextlib.suppress(OSError):
            flt.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
        for name in DENIED:
            if name == "keyctl":
                continue
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr == -1:
                continue  # unknown to this libseccomp: the kernel has no such call either
            flt.add_rule(eperm, name)
        flt.add_rule(eperm, "keyctl", sc.Arg(0, sc.NE, KEYCTL_JOIN_SESSION_KEYRING))
        flt.add_rule(eperm, "keyctl", sc.Arg(1, sc.NE, 0))
        for flag in CLONE_NAMESPACE_FLAGS.values():
            flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for request in TTY_IOCTLS.values():
            flt.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
        with tempfile.TemporaryFile() as fh:
            flt.export_bpf(fh)
            fh.seek(0)
            data = fh.read()
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp could not compile the filter: {exc}") from exc
    if not data or len(data) % 8:
        raise SeccompUnavailable("libseccomp produced an empty or malformed filter")
    return data


def status() -> tuple[bool, str]:
    """(the filter can be built here, why not)."""
    if _BENCH_OFF[0]:
        return False, "turned off by bench/sandbox.py"
    try:
        program()
    except SeccompUnavailable as exc:
        return False, str(exc)
    return True, ""


def program_fd() -> int:
    """A fresh read fd positioned at the start of the program (bwrap reads it to EOF)."""
    data = program()
    r, w = os.pipe()
    try:
        os.write(w, data)  # a few KB: fits the pipe buffer
    finally:
        os.close(w)
    return r

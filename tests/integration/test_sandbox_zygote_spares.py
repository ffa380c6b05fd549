"""The warm launcher prepares each spare with the last run's cgroup limits and rewrites them at
dispatch only when a run asks different ones: a run must always get its own limits."""

from __future__ import annotations

import pytest

from nbworkflow.sandbox import SandboxLimits, _instance, run_code

pytestmark = pytest.mark.skipif(
    not _instance("zygote").available()[0], reason="the zygote backend is not available here"
)

# Threads count against the cgroup's pids limit (the zygote sets no RLIMIT_NPROC as root).
THREADS = """
import threading

def f(n):
    stop = threading.Event()
    started = 0
    try:
        for _ in range(n):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    stop.set()
    return started
"""


def test_a_tighter_pids_limit_holds_after_looser_runs() -> None:
    loose = run_code(THREADS, "f", [30], backend="zygote", limits=SandboxLimits(pids=200))
    assert loose.ok and loose.value == 30, loose
    # the spares now waiting were prepared with pids=200; each run below must get pids=8
    for _ in range(3):
        tight = run_code(THREADS, "f", [30], backend="zygote", limits=SandboxLimits(pids=8))
        assert tight.ok and tight.value < 8, tight
    again = run_code(THREADS, "f", [30], backend="zygote", limits=SandboxLimits(pids=200))
    assert again.ok and again.value == 30, again

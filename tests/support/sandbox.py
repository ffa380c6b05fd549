"""Helpers shared by the sandbox attack suites: name a sandboxed process, find it from outside."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from nbworkflow.sandbox import _instance


def need_backend(name: str, request: pytest.FixtureRequest) -> str:
    """``name`` when it runs here (docker: through the session's private dockerd), else skip."""
    if name == "docker":
        request.getfixturevalue("docker_daemon")
    ok, why = _instance(name).available()
    if not ok:
        pytest.skip(f"{name} unavailable here: {why}")
    return name


def marker() -> str:
    """A process name (``prctl(PR_SET_NAME)``) no other process on the machine has."""
    return "nbw" + uuid.uuid4().hex[:10]


def marker_procs(name: str) -> list[int]:
    """Host pids whose ``comm`` is ``name`` (the host's /proc sees every sandbox's processes)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                    found.append(int(pid))
            except OSError:
                pass
    return found

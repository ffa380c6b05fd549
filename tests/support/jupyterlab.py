"""A throwaway JupyterLab (or Notebook 7) server for browser tests.

Its own JUPYTER_CONFIG_DIR / DATA_DIR / RUNTIME_DIR (nothing from the developer's setup leaks
in, nothing is left behind), an empty token, 127.0.0.1 on a free port, the news toast disabled
via ``labconfig/page_config.json``, the app exposed as ``window.jupyterapp`` so a test can run
JupyterLab commands, and stopped by its pid.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip the calling test module unless Playwright and Debian's chromium are there."""
    import pytest

    pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium)",
            allow_module_level=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterLab:
    """``with JupyterLab(root, home) as lab: page.goto(lab.url_for("x.ipynb"))``.

    ``app="notebook"`` serves Notebook 7 instead (same server, its own single-document UI)."""

    def __init__(
        self,
        root_dir: Path,
        state_dir: Path,
        *,
        startup_timeout: float = 90,
        app: str = "lab",
    ) -> None:
        self.app = app
        self.root_dir = root_dir
        self.state_dir = state_dir
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir / "jupyterlab.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("config", "data", "runtime"):
            path = self.state_dir / name
            path.mkdir(parents=True, exist_ok=True)
            env[f"JUPYTER_{name.upper()}_DIR"] = str(path)
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_CONFIG_PATH", None)
        env["NBWORKFLOW_ALLOW_MODEL_REQUESTS"] = "0"
        labconfig = self.state_dir / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )
        return env

    def start(self) -> JupyterLab:
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab" if self.app == "lab" else "notebook",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root_dir}",
        ]
        if self.app == "lab":
            cmd += ["--LabApp.expose_app_in_browser=True", "--LabApp.news_url="]
        else:
            cmd += ["--JupyterNotebookApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed by the process' end
        self.process = subprocess.Popen(
            cmd,
            env=self.env(),
            cwd=self.root_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyter lab did not start:\n{self.log_path.read_text()}")

    def url_for(self, notebook: str, workspace: str) -> str:
        if self.app == "notebook":
            return f"{self.base_url}/notebooks/{notebook}"
        return f"{self.base_url}/lab/workspaces/{workspace}/tree/{notebook}?reset"

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        # Our own process group only (start_new_session): the server and the kernels it started.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def write_notebook(root: Path, cells: list[str], prefix: str) -> str:
    """Write a fresh notebook of code ``cells`` under ``root``; returns its (unique) name."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    name = f"{prefix}-{os.urandom(3).hex()}.ipynb"
    nbformat.write(nb, root / name)
    return name


def open_page(browser: Any, lab: JupyterLab, name: str) -> Any:
    """Open notebook ``name`` in a fresh workspace and wait until its kernel is idle."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(lab.url_for(name, f"w{os.urandom(4).hex()}"))
    if lab.app == "lab":
        # The kernel is ready when the status bar says Idle (the execution indicator lies early).
        page.locator("#jp-main-statusbar").get_by_text("Idle").first.wait_for(timeout=90_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=30_000)
    # Notebook 7 has no status bar: ask the notebook's own session for its kernel's state.
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const kernel = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
            return kernel && kernel.status === 'idle';
        }""",
        timeout=90_000,
    )
    return page


def run_all_cells(page: Any) -> None:
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

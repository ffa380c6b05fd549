"""Fixtures shared by the integration tests: a private dockerd per session (sandbox tests);
one JupyterLab server and one chromium per module (browser tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import dockerd
from tests.support.jupyterlab import CHROMIUM, CHROMIUM_ARGS, JupyterLab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    root = tmp_path_factory.mktemp("lab-root")
    state = tmp_path_factory.mktemp("lab-state")
    with JupyterLab(root, state) as server:
        yield server


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """Notebook 7 (the classic single-document UI, rebuilt on JupyterLab's components)."""
    root = tmp_path_factory.mktemp("nb7-root")
    state = tmp_path_factory.mktemp("nb7-state")
    with JupyterLab(root, state, app="notebook") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[dockerd.DockerDaemon]:
    try:
        daemon = dockerd.acquire()
    except dockerd.DockerUnavailable as exc:
        pytest.skip(f"no private dockerd: {exc}")
    from nbworkflow.sandbox.docker_backend import configure_docker

    configure_docker(base_url=daemon.base_url, image=daemon.image)
    yield daemon
    configure_docker()
    dockerd.release()

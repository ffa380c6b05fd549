"""The docker backend against a real, private dockerd (started by tests/support/dockerd.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from nbworkflow.exceptions import SandboxUnavailable
from nbworkflow.sandbox import SandboxLimits, describe_backends, get_backend, run_code, run_tests
from tests.support import dockerd

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture
def client(docker_daemon: dockerd.DockerDaemon) -> Iterator[Any]:
    import docker

    c = docker.DockerClient(base_url=docker_daemon.base_url)
    yield c
    c.close()


def _sandbox_containers(client: Any) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": "nbworkflow=sandbox"}))


def test_roundtrip_and_report(docker_daemon: dockerd.DockerDaemon) -> None:
    r = run_code(
        "def f(a, b=0):\n    print('hi')\n    return {'sum': a + b}\n",
        "f",
        [2],
        {"b": 3},
        backend="docker",
    )
    assert r.ok and r.value == {"sum": 5} and r.stdout == "hi\n" and r.backend == "docker"
    report = {b.name: b for b in describe_backends()}["docker"]
    assert report.available and any("network_mode=none" in g for g in report.guarantees)


def test_container_locked_down(docker_daemon: dockerd.DockerDaemon) -> None:
    code = (
        "import os\n"
        "def f():\n"
        "    caps = [l for l in open('/proc/self/status') if l.startswith(('CapEff', 'NoNewPrivs'))]\n"
        "    try:\n"
        "        open('/usr/x', 'w')\n"
        "        ro = False\n"
        "    except OSError:\n"
        "        ro = True\n"
        "    return {'uid': os.getuid(), 'caps': caps, 'ro': ro, 'host': os.uname().nodename}\n"
    )
    r = run_code(code, "f", backend="docker")
    assert r.ok, r.error
    assert r.value["uid"] == 65534 and r.value["ro"] is True
    assert any(c.startswith("CapEff:\t0000000000000000") for c in r.value["caps"])
    assert any(c.startswith("NoNewPrivs:\t1") for c in r.value["caps"])


def test_removed_after_success_and_timeout(client: Any) -> None:
    assert run_code("x = 1", backend="docker").ok
    t = time.monotonic()
    r = run_code("while True:\n    pass\n", backend="docker", timeout=1)
    assert r.stopped == "timeout" and time.monotonic() - t < 2.0
    assert _sandbox_containers(client) == []


def test_pids_limit(docker_daemon: dockerd.DockerDaemon) -> None:
    code = (
        "import os, time\ndef f():\n    n = 0\n    for _ in range(200):\n        try:\n"
        "            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n"
        "            n += 1\n        except OSError:\n            break\n    return n\n"
    )
    r = run_code(code, "f", backend="docker", timeout=10, limits=SandboxLimits(pids=16))
    assert r.ok and r.value < 16


def test_run_tests_in_docker(docker_daemon: dockerd.DockerDaemon) -> None:
    r = run_tests(
        "def add(a, b):\n    return a + b\n",
        "def test_ok():\n    assert add(1, 2) == 3\n\n"
        "def test_bad():\n    assert add(1, 1) == 3, 'wrong'\n",
        backend="docker",
    )
    assert not r.ok and r.value["passed"] == ["test_ok"]
    assert r.value["failed"][0]["name"] == "test_bad"


def test_missing_image_is_unavailable(docker_daemon: dockerd.DockerDaemon) -> None:
    from nbworkflow.sandbox.docker_backend import DockerBackend

    backend = DockerBackend(base_url=docker_daemon.base_url, image="nbworkflow-missing:0")
    ok, missing = backend.available()
    assert not ok and "docker pull" in missing


def test_unreachable_engine_is_unavailable(tmp_path: Any) -> None:
    from nbworkflow.sandbox.docker_backend import _OPTIONS, DockerBackend, configure_docker

    saved = dict(_OPTIONS)
    ok, missing = DockerBackend(base_url=f"unix://{tmp_path}/none.sock").available()
    assert not ok and "Docker" in missing
    configure_docker(base_url=f"unix://{tmp_path}/none.sock", image="x")
    try:
        with pytest.raises(SandboxUnavailable):
            get_backend("docker")
    finally:
        configure_docker(base_url=saved["base_url"], image=saved["image"])

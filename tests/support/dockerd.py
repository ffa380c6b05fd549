"""Start a private Docker engine for tests and benchmarks (root, Linux; see ARCHITECTURE §4).

``DockerDaemon().start()`` runs ``dockerd`` on a private socket, data-root and exec-root, without
touching the host network (no iptables, no bridge), waits for the socket, and imports the local
image built from the host's Python. ``stop()`` kills it by its pid and removes its folders.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


class DockerUnavailable(RuntimeError):
    """dockerd is missing or could not start here (the caller skips)."""


class DockerDaemon:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="nbw-dockerd-", dir="/var/tmp"))
        self.sock = self.root / "docker.sock"
        self.base_url = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.image: str | None = None

    def start(self, timeout: float = 30.0) -> DockerDaemon:
        binary = shutil.which("dockerd")
        if binary is None:
            raise DockerUnavailable("dockerd is not installed (apt-get install docker.io)")
        if os.geteuid() != 0:
            raise DockerUnavailable("starting dockerd needs root")
        try:
            import docker
        except ImportError as exc:
            raise DockerUnavailable("the docker SDK is not installed") from exc
        for d in ("data", "exec"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [
                binary,
                "--storage-driver=overlay2",
                "--iptables=false",
                "--ip-forward=false",
                "--bridge=none",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "--host",
                self.base_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        import docker

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.root / "dockerd.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise DockerUnavailable(f"dockerd exited early:\n{tail}")
            if self.sock.exists():
                try:
                    docker.DockerClient(base_url=self.base_url, timeout=5).ping()
                    return self
                except Exception:
                    pass
            time.sleep(0.05)
        self.stop()
        raise DockerUnavailable("dockerd did not become ready in time")

    def import_image(self) -> str:
        import docker

        from nbworkflow.sandbox.docker_image import ensure_local_image

        client = docker.DockerClient(base_url=self.base_url, timeout=120)
        self.image = ensure_local_image(client)
        client.close()
        return self.image

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                import docker

                client = docker.DockerClient(base_url=self.base_url, timeout=5)
                for c in client.containers.list(all=True):
                    c.remove(force=True)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        with contextlib.suppress(Exception):
            self._log.close()
        # overlay and netns mounts under our folders must be gone before removing them
        root = str(self.root)
        with open("/proc/self/mounts") as fh:
            mounts = [line.split()[1] for line in fh]
        for target in sorted((m for m in mounts if m.startswith(root + "/")), reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_private_dockerd() -> DockerDaemon:
    """Start dockerd and import the local image; raises DockerUnavailable to skip."""
    daemon = DockerDaemon().start()
    try:
        daemon.import_image()
    except Exception as exc:
        daemon.stop()
        raise DockerUnavailable(f"could not build the local image: {exc}") from exc
    return daemon


_shared: DockerDaemon | None = None
_failure: DockerUnavailable | None = None
_users = 0


def acquire() -> DockerDaemon:
    """The one private dockerd of this test session (started on first use)."""
    global _shared, _users, _failure
    if _failure is not None:
        raise _failure
    if _shared is None:
        try:
            _shared = start_private_dockerd()
        except DockerUnavailable as exc:
            _failure = exc
            raise
    _users += 1
    return _shared


def release() -> None:
    """Stop the shared dockerd (by its pid) when its last user is done."""
    global _shared, _users
    _users -= 1
    if _users <= 0 and _shared is not None:
        _shared.stop()
        _shared = None

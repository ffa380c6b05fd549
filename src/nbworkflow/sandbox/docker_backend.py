"""The ``docker`` backend: one disposable, locked-down container per execution.

The Docker SDK is imported here only, lazily. Configuration: ``configure_docker(base_url=...,
image=...)`` or the environment (``DOCKER_HOST``, ``NBWORKFLOW_DOCKER_IMAGE``). The request and
the result travel through two bind-mounted files (the result file is the only writable host path
and is capped by RLIMIT_FSIZE); stdout/stderr are read live from the attach stream so an output
flood stops the container instead of filling the daemon's log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from ..exceptions import SandboxError, SandboxUnavailable
from ._backends import HERE, SAFE_ENV, Job, _Base
from ._model import BackendReport
from ._registry import forget
from ._runner import Cancel, HeadTail, Raw, decode_result, new_nonce
from ._wire import cgroup_memory_bytes
from .docker_image import IMAGE_PYTHON, default_image

_OPTIONS: dict[str, str | None] = {"base_url": None, "image": None}
_INSTALL = (
    "install Docker (Docker Desktop on macOS/Windows, docker.io on Debian) and the SDK "
    "(pip install 'nbworkflow[docker]'), and make sure the daemon is running"
)


def configure_docker(*, base_url: str | None = None, image: str | None = None) -> None:
    """Point the docker backend at a daemon and an image (resets the cached backend)."""
    _OPTIONS["base_url"] = base_url
    _OPTIONS["image"] = image
    forget("docker")


class DockerBackend(_Base):
    """A container per execution: no network, read-only root, tmpfs /tmp, limits, uid 65534."""

    name: ClassVar[str] = "docker"

    def __init__(self, base_url: str | None = None, image: str | None = None) -> None:
        super().__init__()
        self.base_url = base_url or _OPTIONS["base_url"] or os.environ.get("DOCKER_HOST")
        self.image = (
            image
            or _OPTIONS["image"]
            or os.environ.get("NBWORKFLOW_DOCKER_IMAGE")
            or default_image()
        )
        self._client: Any = None
        self._checked: tuple[bool, str] | None = None
        self._checked_at = 0.0
        self._seccomp = False

    def client(self) -> Any:
        if self._client is None:
            import docker

            if self.base_url:
                self._client = docker.DockerClient(base_url=self.base_url, timeout=30)
            else:
                self._client = docker.from_env(timeout=30)
        return self._client

    def available(self) -> tuple[bool, str]:
        now = time.monotonic()
        if self._checked is not None and (self._checked[0] or now - self._checked_at < 5):
            return self._checked
        self._checked = self._probe()
        self._checked_at = now
        return self._checked

    def _probe(self) -> tuple[bool, str]:
        try:
            import docker
            import docker.errors
        except ImportError:
            return False, f"the Docker SDK is not installed: {_INSTALL}"
        try:
            client = self.client()
            client.ping()
        except Exception as exc:
            self._client = None
            return False, f"no Docker engine reachable ({type(exc).__name__}): {_INSTALL}"
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            return False, (
                f"image {self.image} is not present: `docker pull {self.image}`, or build one "
                "from this Python offline with nbworkflow.sandbox.docker_image.build_local_image"
            )
        except Exception as exc:
            return False, f"cannot inspect image {self.image} ({type(exc).__name__})"
        try:
            options = client.info().get("SecurityOptions") or []
        except Exception:
            options = []
        self._seccomp = any("name=seccomp" in str(o) for o in options)
        return True, ""

    def has_filter(self) -> tuple[bool, str]:
        """The engine's default seccomp profile (we never pass ``seccomp=unconfined``)."""
        if not self.available()[0]:
            return False, "the Docker engine is unavailable"
        if not self._seccomp:
            return False, "the Docker engine reports no seccomp support (SecurityOptions)"
        return True, ""

    def guarantees(self) -> list[str]:
        return [
            f"disposable container per execution from image {self.image}, removed afterwards",
            "no network (network_mode=none)",
            "read-only root filesystem; size-capped tmpfs /tmp and /dev/shm",
            "memory (no swap) and pids limits for the whole container",
            "all capabilities dropped, no-new-privileges, uid 65534",
            "the engine's default seccomp profile (Docker's own list: keyrings, mount, ptrace, "
            "bpf, namespaces, ... fail with EPERM)"
            if self._seccomp
            else "NO seccomp: the engine reports none",
            "private devpts, /dev/shm, IPC/mqueue namespace per container",
            "environment from an allowlist; rlimits before user code",
            "hard wall-clock timeout: the container is killed and removed",
            "result returned out-of-band (bind-mounted file + nonce), never parsed from stdout",
        ]

    def report(self, active: bool) -> BackendReport:
        return super().report(active)

    def run(self, job: Job, cancel: Cancel | None = None) -> Raw:
        import docker.errors
        from docker.types import LogConfig

        lim = job.limits
        start = time.monotonic()
        jobdir = tempfile.mkdtemp(prefix="nbw-docker-")
        container: Any = None
        raw = Raw()
        try:
            os.chmod(jobdir, 0o755)
            nonce = new_nonce()
            req_path = Path(jobdir, "request.bin")
            req_path.write_bytes(job.payload(nonce))
            res_path = Path(jobdir, "result.bin")
            res_path.write_bytes(b"")
            os.chmod(res_path, 0o666)
            # sources, not the host's .pyc: the image's interpreter may be another build
            runtime = Path(jobdir, "rt")
            runtime.mkdir(mode=0o755)
            for name in ("_wire.py", "_harness.py"):
                shutil.copyfile(HERE / name, runtime / name)
                os.chmod(runtime / name, 0o644)
            os.chmod(req_path, 0o644)
            mem = cgroup_memory_bytes(lim.memory_mb, lim.tmp_mb)
            volumes = {
                str(runtime): {"bind": "/nbw", "mode": "ro"},
                str(req_path): {"bind": "/io/request.bin", "mode": "ro"},
                str(res_path): {"bind": "/io/result.bin", "mode": "rw"},
            }
            for g in job.grant_paths:
                real = os.path.realpath(g)
                volumes[real] = {"bind": real, "mode": "ro"}
            client = self.client()
            try:
                container = client.containers.create(
                    self.image,
                    [
                        IMAGE_PYTHON,
                        "-I",
                        "-S",
                        "-B",
                        "-X",
                        "utf8",
                        "/nbw/_harness.py",
                        "--request",
                        "/io/request.bin",
                        "--result",
                        "/io/result.bin",
                    ],
                    network_mode="none",
                    mem_limit=mem,
                    memswap_limit=mem,
                    pids_limit=lim.pids,
                    read_only=True,
                    user="65534:65534",
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges"],
                    tmpfs={"/tmp": f"size={lim.tmp_mb}m,mode=1777"},
                    shm_size=f"{lim.tmp_mb}m",
                    environment=dict(SAFE_ENV),
                    working_dir="/tmp",
                    volumes=volumes,
                    log_config=LogConfig(type="none"),
                    hostname="sandbox",
                    init=True,
                    ipc_mode="private",
                    labels={"nbworkflow": "sandbox"},
                    detach=True,
                )
            except docker.errors.ImageNotFound as exc:
                raise SandboxUnavailable(
                    f"docker image {self.image} is missing: `docker pull {self.image}` or "
                    "build_local_image()"
                ) from exc
            except docker.errors.DockerException as exc:
                raise SandboxError(f"docker could not create the container: {exc}") from exc
            out, err = HeadTail(lim.output_bytes), HeadTail(lim.output_bytes)
            over = threading.Event()
            stream = container.attach(stdout=True, stderr=True, stream=True, demux=True, logs=False)

            def pump() -> None:
                # Keep draining after the cap: a stalled attach stream stalls the kill too.
                with contextlib.suppress(Exception):
                    for o, e in stream:
                        if over.is_set():
                            continue
                        if o:
                            out.add(o)
                        if e:
                            err.add(e)
                        if out.total + err.total > lim.output_bytes:
                            over.set()

            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            done = threading.Event()
            status: dict[str, Any] = {}

            def waiter() -> None:
                try:
                    status.update(container.wait(timeout=job.timeout + 30))
                except Exception as exc:
                    status["error"] = exc
                done.set()

            container.start()
            threading.Thread(target=waiter, daemon=True).start()
            deadline = start + job.timeout
            while not done.is_set():
                if over.is_set():
                    raw.stopped = "output"
                    break
                if cancel is not None and cancel.is_set:
                    raw.cancelled = True
                    raw.stopped = "signal"
                    break
                if time.monotonic() >= deadline:
                    raw.stopped = "timeout"
                    break
                done.wait(0.005)
            if raw.stopped is not None:
                with contextlib.suppress(Exception):
                    container.kill()
                done.wait(2)
            reader.join(0.5)
            code = status.get("StatusCode")
            if isinstance(code, int) and code > 128:
                code = -(code - 128)
            raw.exit_code = code if isinstance(code, int) else None
            if raw.stopped is None:
                with contextlib.suppress(Exception):
                    container.reload()
                    if container.attrs.get("State", {}).get("OOMKilled"):
                        raw.extra["oom"] = True
                size = res_path.stat().st_size
                data = res_path.read_bytes() if size <= 64 * lim.output_bytes + (1 << 20) else b""
                raw.result, raw.note = decode_result(data, nonce)
            raw.stdout, raw.stderr = out.text(), err.text()
            raw.truncated = out.truncated or err.truncated or raw.stopped == "output"
        finally:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.remove(force=True)
            shutil.rmtree(jobdir, ignore_errors=True)
        raw.duration_s = time.monotonic() - start
        return raw

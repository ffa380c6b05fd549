"""Run generated code outside the caller's process, under the strongest isolation available.

(Over 400 lines: the public API, the choice of backend and the building of results share the
sanitizing and stop-reason rules; they are kept in one place so no entry point bypasses them.)

Backends, strongest first: ``zygote`` (bwrap with a warm forking launcher), ``bwrap`` (Linux
namespaces through bubblewrap), ``docker`` (a disposable container), ``process`` (a separate
interpreter with rlimits: weaker, said so once). ``backend="auto"`` picks the first available;
``isolation="strict"`` refuses to run without bwrap or docker.

Every text that leaves the sandbox passes through :func:`nbworkflow.sanitize.sanitize`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..exceptions import SandboxError, SandboxUnavailable
from ..sanitize import sanitize
from ._backends import BwrapBackend, Job, ProcessBackend, SandboxBackend
from ._model import (
    STOP_TEXT,
    BackendReport,
    EffectiveLimits,
    SandboxException,
    SandboxLimits,
    SandboxResult,
    StopReason,
    effective_limits,
)
from ._registry import instances as _registry_instances
from ._registry import lock as _registry_lock
from ._runner import Cancel, Raw
from .docker_backend import configure_docker

__all__ = [
    "STOP_TEXT",
    "BackendReport",
    "EffectiveLimits",
    "SandboxBackend",
    "SandboxException",
    "SandboxLimits",
    "SandboxResult",
    "arun_code",
    "arun_tests",
    "configure_docker",
    "describe_backends",
    "effective_limits",
    "get_backend",
    "run_code",
    "run_tests",
]

BACKENDS = ("zygote", "bwrap", "docker", "process")
"""Every backend name, strongest/fastest first (the order ``auto`` tries)."""
_STRICT = ("zygote", "bwrap", "docker")
_instances: dict[str, SandboxBackend] = _registry_instances
_lock = _registry_lock
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _instance(name: str) -> SandboxBackend:
    with _lock:
        inst = _instances.get(name)
        if inst is None:
            if name == "bwrap":
                inst = BwrapBackend()
            elif name == "process":
                inst = ProcessBackend()
            elif name == "docker":
                from .docker_backend import DockerBackend

                inst = DockerBackend()
            elif name == "zygote":
                from .zygote import ZygoteBackend

                inst = ZygoteBackend()
            else:
                import difflib

                close = difflib.get_close_matches(name, BACKENDS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise SandboxUnavailable(
                    f"unknown sandbox backend '{name}'{hint}; choose one of {', '.join(BACKENDS)}"
                    " or 'auto'"
                )
            _instances[name] = inst
        return inst


def _auto_order() -> tuple[str, ...]:
    # docker is never picked silently: starting containers is a user's explicit choice unless
    # nothing else isolates (then it is better than the bare process backend).
    return ("zygote", "bwrap", "docker", "process")


def get_backend(name: str = "auto", isolation: str = "best") -> SandboxBackend:
    """The backend to use; raises :class:`SandboxUnavailable` saying how to get it.

    Nothing weakens what was asked: ``isolation="strict"`` refuses the ``process`` backend and
    any backend that cannot load its seccomp filter here, whether named or reached by ``auto``;
    a fallback of ``auto`` to something weaker than bwrap/zygote with a filter is announced once.
    """
    if isolation not in ("best", "strict"):
        raise SandboxError(f"isolation must be 'best' or 'strict', not {isolation!r}")
    if name != "auto":
        inst = _instance(name)
        ok, missing = inst.available()
        if not ok:
            raise SandboxUnavailable(f"sandbox backend '{name}' is unavailable: {missing}")
        if isolation == "strict":
            why = _strict_refusal(inst)
            if why:
                raise SandboxUnavailable(f"isolation='strict' refuses backend '{name}': {why}")
        return inst
    reasons: list[str] = []
    for candidate in _auto_order():
        if isolation == "strict" and candidate not in _STRICT:
            continue
        inst = _instance(candidate)
        ok, missing = inst.available()
        if ok and isolation == "strict":
            why = _strict_refusal(inst)
            if why:
                ok, missing = False, why
        if ok:
            if candidate in ("docker", "process") or not inst.has_filter()[0]:
                _announce_fallback(candidate, inst, reasons)
            return inst
        reasons.append(f"{candidate}: {missing}")
    raise SandboxUnavailable(
        "no sandbox backend satisfies isolation='strict' here:\n  " + "\n  ".join(reasons)
    )


def _strict_refusal(inst: SandboxBackend) -> str:
    if inst.name not in _STRICT:
        return (
            "it has no namespace or container isolation; install bubblewrap "
            "(apt-get install bubblewrap) or use Docker"
        )
    ok, why = inst.has_filter()
    return "" if ok else f"it cannot load its seccomp filter here ({why})"


_announced: set[str] = set()


def _announce_fallback(candidate: str, inst: SandboxBackend, reasons: list[str]) -> None:
    if candidate in _announced:
        return
    _announced.add(candidate)
    why = "; ".join(reasons) or "the stronger backends are unavailable"
    if candidate == "process":
        text = (
            "nbworkflow sandbox: using the weak 'process' backend (no filesystem, network or pid "
            f"isolation) because {why}. Install bubblewrap (apt-get install bubblewrap) or use "
            "Docker; pass isolation='strict' to refuse to run without them."
        )
    else:
        filt = inst.has_filter()
        extra = "" if filt[0] else f" WITHOUT its seccomp filter ({filt[1]})"
        text = (
            f"nbworkflow sandbox: backend 'auto' chose '{candidate}'{extra} because {why}; "
            "pass isolation='strict' to refuse weaker isolation."
        )
    warnings.warn(text, RuntimeWarning, stacklevel=4)


def describe_backends() -> list[BackendReport]:
    """Every backend with what it guarantees here; ``active`` marks what ``auto`` picks."""
    try:
        active = get_backend("auto").name
    except SandboxUnavailable:
        active = ""
    reports = []
    for name in BACKENDS:
        try:
            inst = _instance(name)
            reports.append(inst.report(active=name == active))
        except Exception as exc:  # a broken optional backend must not break the report
            reports.append(
                BackendReport(
                    name=name,
                    available=False,
                    active=False,
                    missing=sanitize(str(exc), max_chars=300),
                )
            )
    return reports


def _clean(data: bytes, secrets: Sequence[str]) -> str:
    if not data:
        return ""  # most runs print nothing: the sanitizer's ~0.1 ms per call is for text
    text = data.decode("utf-8", "replace")
    text = _ANSI.sub("", text)
    text = _CTRL.sub("\ufffd", text.replace("\r\n", "\n"))
    return sanitize(text, secrets)


_STOP_TEXT = {
    "timeout": ("SandboxTimeout", "stopped: time limit exceeded"),
    "cpu": ("SandboxCpuLimit", "stopped: CPU time limit exceeded"),
    "memory": ("SandboxMemoryLimit", "stopped: memory limit exceeded"),
    "output": ("SandboxOutputLimit", "stopped: output limit exceeded"),
    "exit": ("SandboxEarlyExit", "the code exited before returning a result"),
    "signal": ("SandboxSignal", "killed by a signal"),
    "crash": ("SandboxCrash", "the sandboxed process ended without a valid result"),
}
_NO_RESULT = "the code ended without reporting a result"
_SETUP_FAILED = b"nbworkflow sandbox setup failed"  # the harness's and launcher's own words


def _stop_reason(raw: Raw) -> StopReason:
    """Why a run without a result ended, from what the caller observed (one exact cause)."""
    import signal as _signal

    code = raw.exit_code
    if raw.extra.get("oom"):
        return "memory"
    if code is not None and code < 0:
        sig = -code
        if sig == _signal.SIGXCPU or (sig == _signal.SIGKILL and raw.extra.get("cpu_exhausted")):
            return "cpu"
        return "signal"
    setup_failed = code == 126 and _SETUP_FAILED in raw.stderr
    if code is not None and raw.note in ("", _NO_RESULT) and not setup_failed:
        return "exit"  # ended by itself (os._exit, sys.exit from a thread, ...) without a result
    return "crash"


def build_result(raw: Raw, job: Job, backend: str, secrets: Sequence[str]) -> SandboxResult:
    """Turn what the caller saw into a sanitized :class:`SandboxResult`."""
    import signal as _signal

    payload = raw.result
    stopped: StopReason | None = raw.stopped
    error: SandboxException | None = None
    ok = False
    value: Any = None
    peak = None
    if payload is not None and stopped is None:
        ok = bool(payload.get("ok"))
        value = payload.get("value") if (ok or job.request.get("mode") == "tests") else None
        peak = payload.get("peak_kb") if isinstance(payload.get("peak_kb"), int) else None
        err = payload.get("error")
        if isinstance(err, dict):
            etype = str(err.get("type", "Error"))
            lineno = err.get("lineno")
            error = SandboxException(
                type=sanitize(etype, secrets, max_chars=200),
                message=sanitize(str(err.get("message", "")), secrets, max_chars=4000),
                traceback=sanitize(str(err.get("traceback", "")), secrets, max_chars=8000),
                lineno=lineno if isinstance(lineno, int) else None,
            )
            if etype == "MemoryError":
                stopped = "memory"
    elif stopped is None:
        stopped = _stop_reason(raw)
    if error is None and stopped is not None:
        etype, text = _STOP_TEXT[stopped]
        if stopped == "timeout":
            text = f"stopped: wall-clock timeout after {job.timeout:g} s"
        elif stopped == "cpu":
            text = f"stopped: CPU time limit ({job.cpu_seconds:g} s) exceeded"
        elif stopped == "memory":
            text = f"stopped: memory limit ({job.limits.memory_mb} MB) exceeded"
        elif stopped == "output":
            text = raw.note or (
                f"stopped: output limit ({job.limits.output_bytes} bytes of stdout and stderr) "
                "exceeded"
            )
        elif stopped == "exit":
            text = f"the code exited with status {raw.exit_code} before returning a result"
        elif stopped == "signal" and raw.exit_code is not None and raw.exit_code < 0:
            with contextlib.suppress(ValueError):
                text = f"killed by signal {_signal.Signals(-raw.exit_code).name}"
        elif stopped == "crash" and raw.note:
            text = f"{raw.note} (exit code {raw.exit_code})"
        if raw.cancelled:
            text = "cancelled by the caller"
        error = SandboxException(type=etype, message=text, traceback="", lineno=None)
        ok = False
    return SandboxResult(
        ok=ok and stopped is None,
        value=value,
        stdout=_clean(raw.stdout, secrets),
        stderr=_clean(raw.stderr, secrets),
        truncated=raw.truncated,
        error=error,
        duration_s=raw.duration_s,
        peak_memory_kb=peak,
        stopped=stopped,
        exit_code=raw.exit_code,
        backend=str(raw.extra.get("backend", backend)),
    )


def _jsonable(obj: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SandboxError(f"{what} must be JSON-serialisable: {exc}") from exc


def _make_job(
    request: dict[str, Any],
    timeout: float,
    limits: SandboxLimits | None,
    grant_paths: Iterable[str],
    site_packages: bool,
) -> Job:
    if not timeout or timeout <= 0:
        raise SandboxError("timeout must be a positive number of seconds")
    return Job(
        request=request,
        limits=limits or SandboxLimits(),
        timeout=float(timeout),
        grant_paths=tuple(str(p) for p in grant_paths),
        site_packages=site_packages,
    )


def _execute(
    job: Job, backend: str, isolation: str, secrets: Sequence[str], cancel: Cancel | None = None
) -> SandboxResult:
    inst = get_backend(backend, isolation)
    try:
        raw = inst.run(job, cancel)
    except SandboxError:
        raise
    except OSError as exc:
        raise SandboxError(
            sanitize(f"the {inst.name} sandbox could not start: {exc}", secrets)
        ) from exc
    return build_result(raw, job, inst.name, secrets)


async def _aexecute(
    job: Job, backend: str, isolation: str, secrets: Sequence[str]
) -> SandboxResult:
    inst = get_backend(backend, isolation)  # raise unavailability in the caller's task
    cancel = Cancel()
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, _execute, job, inst.name, isolation, secrets, cancel)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(fut), timeout=5)
        raise
    finally:
        if fut.done():
            cancel.close()
        else:
            fut.add_done_callback(lambda _f: cancel.close())


def _code_request(
    code: str, entrypoint: str | None, args: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> dict[str, Any]:
    if not isinstance(code, str):
        raise SandboxError("code must be a str")
    return {
        "mode": "run",
        "code": code,
        "entrypoint": entrypoint,
        "args": _jsonable(list(args), "args"),
        "kwargs": _jsonable(dict(kwargs or {}), "kwargs"),
    }


def run_code(
    code: str,
    entrypoint: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float = 10.0,
    limits: SandboxLimits | None = None,
    backend: str = "auto",
    isolation: str = "best",
    known_secrets: Iterable[str] = (),
    grant_paths: Iterable[str] = (),
    site_packages: bool = False,
) -> SandboxResult:
    """Run ``code`` (and call ``entrypoint(*args, **kwargs)``) in a fresh sandboxed process.

    ``grant_paths`` are bound read-only into the sandbox; ``site_packages=True`` lets the code
    import the caller's installed packages (read-only). Raising code is a result (``ok=False``);
    :class:`SandboxError` means the sandbox itself could not run.
    """
    job = _make_job(
        _code_request(code, entrypoint, args, kwargs), timeout, limits, grant_paths, site_packages
    )
    return _execute(job, backend, isolation, tuple(known_secrets))


async def arun_code(
    code: str,
    entrypoint: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float = 10.0,
    limits: SandboxLimits | None = None,
    backend: str = "auto",
    isolation: str = "best",
    known_secrets: Iterable[str] = (),
    grant_paths: Iterable[str] = (),
    site_packages: bool = False,
) -> SandboxResult:
    """Async twin of :func:`run_code`; cancelling the awaiting task kills the sandbox tree."""
    job = _make_job(
        _code_request(code, entrypoint, args, kwargs), timeout, limits, grant_paths, site_packages
    )
    return await _aexecute(job, backend, isolation, tuple(known_secrets))


def _tests_request(code: str, tests: str) -> dict[str, Any]:
    if not isinstance(code, str) or not isinstance(tests, str):
        raise SandboxError("code and tests must be str")
    return {
        "mode": "tests",
        "code": code,
        "tests": tests,
        "entrypoint": None,
        "args": [],
        "kwargs": {},
    }


def run_tests(
    code: str,
    tests: str,
    *,
    timeout: float = 10.0,
    limits: SandboxLimits | None = None,
    backend: str = "auto",
    isolation: str = "best",
    known_secrets: Iterable[str] = (),
    grant_paths: Iterable[str] = (),
    site_packages: bool = False,
) -> SandboxResult:
    """Run every top-level ``test_*`` function of ``tests`` against ``code`` (plain asserts).

    ``value = {"passed": [...], "failed": [{"name", "error", "lineno"}]}``; ``ok`` means no
    failure and no crash. The tests see the code's globals; ``import solution`` works too.
    """
    job = _make_job(_tests_request(code, tests), timeout, limits, grant_paths, site_packages)
    return _sanitize_tests(
        _execute(job, backend, isolation, tuple(known_secrets)), tuple(known_secrets)
    )


async def arun_tests(
    code: str,
    tests: str,
    *,
    timeout: float = 10.0,
    limits: SandboxLimits | None = None,
    backend: str = "auto",
    isolation: str = "best",
    known_secrets: Iterable[str] = (),
    grant_paths: Iterable[str] = (),
    site_packages: bool = False,
) -> SandboxResult:
    """Async twin of :func:`run_tests`."""
    job = _make_job(_tests_request(code, tests), timeout, limits, grant_paths, site_packages)
    result = await _aexecute(job, backend, isolation, tuple(known_secrets))
    return _sanitize_tests(result, tuple(known_secrets))


def _sanitize_tests(result: SandboxResult, secrets: Sequence[str]) -> SandboxResult:
    import dataclasses

    value = result.value
    if not isinstance(value, dict):
        return dataclasses.replace(result, value=None, ok=False)
    passed = [str(n) for n in value.get("passed", []) if isinstance(n, str)]
    failed = []
    for f in value.get("failed", []):
        if isinstance(f, dict):
            lineno = f.get("lineno")
            failed.append(
                {
                    "name": str(f.get("name", "")),
                    "error": sanitize(str(f.get("error", "")), secrets, max_chars=2000),
                    "lineno": lineno if isinstance(lineno, int) else None,
                }
            )
    clean = {"passed": passed, "failed": failed}
    return dataclasses.replace(result, value=clean, ok=result.ok and not failed)

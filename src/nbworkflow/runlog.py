"""The run store: one folder per run, an append-only ``events.jsonl``, artifacts, a summary.

Layout of ``<root>/<run-id>/``::

    events.jsonl     one event per line, written and flushed as it happens
    workflow.yaml    the spec as written (before ${VAR} interpolation: no secret values)
    artifacts/       one file per node output: <node>.py, <node>.md, <node>.json
    run.json         summary written when the run ends (status, counts, tokens, duration)

A process killed mid-run loses at most the line being written; ``read_events`` skips a
truncated last line instead of failing.

Run folders get copied, shared and damaged, so every reader here validates what it reads
(``run.json`` through a typed model, events through the event classes) and one damaged run
never hides the others: ``list_runs`` reports it as ``corrupt`` or falls back to its events.
Run ids are unique by construction: ``RunWriter.create`` makes the folder exclusively and
draws a new id on a collision. Every artifact's SHA-256 is recorded in its ``node_finished``
event, so resume can tell a damaged artifact from a good one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .events import (
    NodeFinished,
    NodeWaiting,
    RunEvent,
    RunFinished,
    RunStarted,
    event_from_json,
    event_to_json,
)
from .exceptions import WorkflowError

DEFAULT_ROOT = Path(".nbworkflow") / "runs"
_EXT = {"code": ".py", "text": ".md", "json": ".json"}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


_issued: set[str] = set()
_issued_lock = threading.Lock()


def new_run_id(workflow: str) -> str:
    """Sortable (to the millisecond): ``20261124-061200.123-crm_builder-3f9a``. Never the same
    twice in one process; across processes ``RunWriter.create`` makes the folder exclusively."""
    slug = _SAFE.sub("_", workflow.lower())[:40].strip("_") or "run"
    while True:
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
        run_id = f"{stamp}-{slug}-{secrets.token_hex(2)}"
        with _issued_lock:
            if run_id not in _issued:
                _issued.add(run_id)
                return run_id


MAX_ID_ATTEMPTS = 50
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


class RunWriter:
    """Writes one run's folder. Every event line is flushed before ``append`` returns.

    ``node_finished`` events are written with the SHA-256 of the artifact they name, taken
    from the bytes ``write_artifact`` wrote (the event in memory is left as it was built)."""

    def __init__(self, run_dir: Path, *, fsync: bool = False, exclusive: bool = False) -> None:
        self.run_dir = run_dir
        self.fsync = fsync
        if exclusive:  # raises FileExistsError: two runs never share a folder
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            run_dir.mkdir()
        (run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        self._artifacts = str(run_dir / "artifacts")
        self._hashes: dict[str, str] = {}
        # "a" + O_APPEND: even a second writer could never overwrite earlier lines.
        self._events: IO[str] | None = open(run_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    @classmethod
    def create(cls, root: Path, workflow: str, run_id: str | None = None) -> RunWriter:
        """A writer for a new run folder under ``root``, created exclusively. Without a
        ``run_id`` one is drawn, again on a collision; a given ``run_id`` whose folder exists
        is refused. The id is the folder's name (``writer.run_id``)."""
        run_id = run_id or None  # "" draws one, as it always did
        if run_id is not None and (_SAFE.search(run_id) or run_id in (".", "..")):
            raise WorkflowError(
                f"run id {run_id!r} is not a plain folder name: use letters, digits, '_', '-', '.'"
            )
        for _ in range(MAX_ID_ATTEMPTS):
            rid = run_id or new_run_id(workflow)
            try:
                return cls(root / rid, exclusive=True)
            except FileExistsError:
                if run_id is not None:
                    raise WorkflowError(
                        f"run folder {root / rid} already exists: choose another run id"
                    ) from None
        raise WorkflowError(f"could not create a new run folder under {root}: ids keep colliding")

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def append(self, event: RunEvent) -> None:
        if self._events is None:
            raise WorkflowError(f"run log {self.run_dir} is closed")
        if type(event) is NodeWaiting and event.data:
            event = replace(event, data=self._with_hashes(event.data))
        line = event_to_json(event)
        if (
            type(event) is NodeFinished
            and event.artifact
            and event.artifact_sha256 is None
            and (digest := self._hashes.get(event.artifact))
        ):
            # Patched into the line rather than through dataclasses.replace (a third of the
            # writer's cost per node). Safe: inside a JSON string every quote is escaped, so
            # the first unescaped '"artifact_sha256":null' is the field itself.
            line = line.replace('"artifact_sha256":null', f'"artifact_sha256":"{digest}"', 1)
        self._events.write(line + "\n")
        self._events.flush()
        if self.fsync:
            os.fsync(self._events.fileno())

    def write_text(self, name: str, text: str) -> Path:
        path = self.run_dir / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return path

    def write_artifact(self, node_id: str, fmt: str, content: str, *, suffix: str = "") -> str:
        """Save a node's output; returns its path relative to the run folder.

        Written in place (no temporary file and rename, which costs half the time of a small
        artifact): an artifact is written before the event that names it, so a crash leaves at
        worst a partial file that no event refers to."""
        name = f"{_SAFE.sub('_', node_id)}{suffix}{_EXT.get(fmt, '.txt')}"
        fd = os.open(f"{self._artifacts}/{name}", _NEW_FILE, 0o644)
        blob = content.encode("utf-8")
        try:
            data = memoryview(blob)
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        rel = f"artifacts/{name}"
        self._hashes[rel] = hashlib.sha256(blob).hexdigest()
        return rel

    def _with_hashes(self, data: dict[str, Any]) -> dict[str, Any]:
        """A waiting node's resume point names its attempts' artifacts (``artifact``,
        ``prev_artifact``): each gets its ``<key>_sha256`` beside it."""
        extra = {
            f"{k}_sha256": digest
            for k, v in data.items()
            if k.endswith("artifact") and isinstance(v, str) and (digest := self._hashes.get(v))
        }
        return {**data, **extra} if extra else data

    def artifact_sha256(self, rel: str) -> str | None:
        """SHA-256 of an artifact this writer wrote (``None`` for any other path)."""
        return self._hashes.get(rel)

    def write_summary(self, summary: dict[str, Any]) -> None:
        self.write_text("run.json", summary_json(summary))

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None


def summary_json(summary: dict[str, Any]) -> str:
    """``run.json``: indented at the top, one line per node. (``json.dumps(indent=...)`` runs
    Python's pure-Python encoder: for a 10,000-node run it took longer than the run itself.)"""
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            inner = ",\n".join(
                f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in value.items()
            )
            lines.append(f"  {json.dumps(key)}: {{\n{inner}\n  }}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def read_events(run_dir: str | os.PathLike[str]) -> list[RunEvent]:
    """Every event of a run, in order; a truncated or garbled *last* line is skipped."""
    return list(iter_events(run_dir))


def iter_events(run_dir: str | os.PathLike[str]) -> Iterator[RunEvent]:
    path = Path(run_dir) / "events.jsonl"
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        raise WorkflowError(f"no run log at {path}: is this a run folder?") from None
    except OSError as exc:
        raise WorkflowError(f"cannot read the run log {path}: {exc.strerror}") from None
    # A crash can leave a partial last line; anything broken before it is real damage.
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield event_from_json(line)
        except (ValidationError, ValueError, RecursionError):
            if i == len(lines) - 1:
                return
            raise WorkflowError(f"{path}:{i + 1}: corrupt event line (not the last one)") from None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    path: Path
    workflow: str
    status: str
    started_at: float | None
    duration_s: float | None
    nodes: int
    problem: str | None = None
    """What is damaged in this run's folder, if anything (the rest comes from what is not)."""
    resumed_from: str | None = None
    """The run (segment) this one continues, from its ``run_started`` event."""


class RunSummary(BaseModel):
    """What ``run.json`` must hold to be believed (more keys are allowed and ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    workflow: str
    status: str
    started_at: float | None = None
    duration_s: float | None = None
    nodes: dict[str, dict[str, Any]] = {}
    resumed_from: str | None = None
    """Absent from runs written before it was recorded: their first event says it."""


MAX_SUMMARY_BYTES = 64 * 1024 * 1024


def read_summary(run_dir: Path) -> RunSummary | str | None:
    """``run.json`` validated; ``None`` when there is none, or what is wrong with it."""
    path = run_dir / "run.json"
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            return f"{path} is larger than {MAX_SUMMARY_BYTES // 2**20} MB"
        return RunSummary.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        return f"{path} is damaged ({where}: {first['msg']})"


def list_runs(root: str | os.PathLike[str] = DEFAULT_ROOT) -> list[RunInfo]:
    """Runs under ``root``, oldest first; a damaged run is listed with its ``problem``."""
    base = Path(root)
    if not base.is_dir():
        return []
    out = []
    for run_dir in sorted(p for p in base.iterdir() if (p / "events.jsonl").is_file()):
        out.append(run_info(run_dir))
    return out


def run_info(run_dir: Path) -> RunInfo:
    summary = read_summary(run_dir)
    if isinstance(summary, RunSummary):
        start: RunStarted | str | None = None
        if "resumed_from" in summary.model_fields_set:
            resumed_from = summary.resumed_from
        else:
            start = first_event(run_dir)
            resumed_from = start.resumed_from if isinstance(start, RunStarted) else None
        return RunInfo(
            run_dir.name,
            run_dir,
            summary.workflow,
            summary.status,
            summary.started_at,
            summary.duration_s,
            len(summary.nodes),
            start if isinstance(start, str) else None,
            resumed_from,
        )
    problem = summary  # the summary is missing (still running, killed) or damaged
    workflow, status, started, duration, nodes = "?", "incomplete", None, None, 0
    resumed_from = None
    try:
        for event in iter_events(run_dir):
            if isinstance(event, RunStarted):
                workflow, started, nodes = event.workflow, event.ts, len(event.nodes)
                resumed_from = event.resumed_from
            elif isinstance(event, RunFinished):
                status, duration = event.status.value, event.duration_s
    except WorkflowError as exc:
        status, problem = "corrupt", problem or str(exc)
    return RunInfo(
        run_dir.name, run_dir, workflow, status, started, duration, nodes, problem, resumed_from
    )


def first_event(run_dir: Path) -> RunStarted | str | None:
    """The run's ``run_started`` event (its first line, read alone), ``None`` when the log is
    empty, or what is wrong with it."""
    path = run_dir / "events.jsonl"
    try:
        with path.open("rb") as f:
            line = f.readline(MAX_SUMMARY_BYTES + 1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not line.strip():
        return None
    if len(line) > MAX_SUMMARY_BYTES:
        return f"{path}:1 is longer than {MAX_SUMMARY_BYTES // 2**20} MB"
    try:
        event = event_from_json(line)
    except (ValidationError, ValueError, RecursionError):
        return f"{path}:1: corrupt event line (the run's start)"
    if not isinstance(event, RunStarted):
        return f"{path}:1 is a {event.kind} event, not the run's start"
    return event


def find_run(ref: str, root: str | os.PathLike[str] = DEFAULT_ROOT) -> Path:
    """A run folder from a path, a full id, a unique id prefix/suffix, or ``last``."""
    direct = Path(ref)
    if (direct / "events.jsonl").is_file():
        return direct
    runs = list_runs(root)
    if not runs:
        raise WorkflowError(f"no runs under {root}: run a workflow first")
    if ref in ("last", "latest", ""):
        return runs[-1].path
    matches = [r for r in runs if r.run_id == ref] or [
        r for r in runs if r.run_id.startswith(ref) or r.run_id.endswith(ref)
    ]
    if len(matches) == 1:
        return matches[0].path
    if not matches:
        raise WorkflowError(f"no run '{ref}' under {root}: `nbworkflow runs` lists them")
    raise WorkflowError(
        f"'{ref}' matches {len(matches)} runs ({', '.join(m.run_id for m in matches[:3])}...): "
        "give more of the id"
    )


__all__ = [
    "DEFAULT_ROOT",
    "RunInfo",
    "RunSummary",
    "RunWriter",
    "find_run",
    "first_event",
    "iter_events",
    "list_runs",
    "new_run_id",
    "read_events",
    "read_summary",
    "run_info",
]

"""Content-addressed node cache: re-run a workflow and pay only for what changed.

A node's key hashes what determines its output and nothing else: the node's id, its own spec
fields that reach the model or the check (type, persona, action, output format and schema,
inputs, token and temperature settings, adaptive and sandbox settings), the provider and model,
the content of its input files, and the keys of its upstream nodes' outputs. Not timestamps,
not run ids. Editing one node's action therefore changes its key and, through the upstream
hashes, the keys of everything downstream, and nothing else.

The id is in the key because two nodes are two questions even when they are worded alike:
twelve fan-out nodes with the same persona and action are twelve samples the workflow asked
for (and the id reaches the model's request), so one must never be served the other's answer.

Entries are JSON files written atomically (temp file + rename) with a checksum of their body,
read back through a typed model with bounded JSON. Damage of any kind (a garbled or truncated
entry, a valid checksum over fields of the wrong type, an entry path that is a folder, a cache
folder that is a file, a 200,000-deep entry) is a miss, a ``CacheWarning`` and a rebuild: the
cache can make a run cheaper, never make it fail. The folder is size-bounded: the least
recently used entries go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from . import boundedjson
from .outputs import NodeOutput
from .spec import NodeSpec, WorkflowSpec
from .spec.models import ADAPTIVE_FIELDS

CACHE_DIRNAME = ".cache"
"""The cache lives inside the run store: ``.nbworkflow/runs/.cache`` by default."""
DEFAULT_CACHE_DIR = Path(".nbworkflow") / "runs" / CACHE_DIRNAME
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
KEY_VERSION = 2
"""2: the node id and the sandbox settings joined the key."""

# Spec fields that change what a node produces. ``max_retries``/``timeout`` do not.
_KEY_FIELDS = (
    "id",
    "type",
    "agent",
    "action",
    "max_tokens",
    "temperature",
    "output",
    "inputs",
    *ADAPTIVE_FIELDS,
)


class CacheWarning(UserWarning):
    """A cache entry or the cache folder is damaged: the node runs (and is stored) again."""


class _StoredOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["text", "code", "json"]
    content: str
    data: Any = None
    rationale: str = ""


class _StoredBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    node_id: str
    run_id: str = ""
    created: float
    output: _StoredOutput


MAX_ENTRY_BYTES = 64 * 1024 * 1024


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def output_digest(output: NodeOutput) -> str:
    return _digest([output.format, output.content, output.data])


def node_key(
    spec: WorkflowSpec,
    node: NodeSpec,
    provider: str,
    upstream: Mapping[str, NodeOutput],
    *,
    model: str | None = None,
) -> str:
    """The cache key of ``node`` given its upstream outputs (see the module docstring);
    ``model``: the node's effective model (``NodeSettings.model``) when a run option set it."""
    fields = node.model_dump(include=set(_KEY_FIELDS), mode="json")
    files: dict[str, str] = {}
    for item in node.inputs:
        if item.file:
            path = Path(item.file)
            if not path.is_absolute():
                path = spec.base_dir / path
            try:
                files[item.file] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                files[item.file] = "unreadable"
    return _digest(
        {
            "v": KEY_VERSION,
            "node": fields,
            "model": model or node.model or spec.model,
            "sandbox": spec.sandbox.model_dump(mode="json") if node.type == "adaptive" else None,
            "provider": provider,
            "files": files,
            "upstream": {k: output_digest(v) for k, v in sorted(upstream.items())},
        }
    )


@dataclass(frozen=True)
class CacheEntry:
    key: str
    node_id: str
    output: NodeOutput
    created: float
    run_id: str
    """The run that produced the output."""


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    bytes: int
    max_bytes: int


class NodeCache:
    """The cache folder. Safe to share between runs and processes (atomic renames)."""

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._approx_bytes: int | None = None
        """Running estimate of the folder's size: one scan, then added to on every store, so
        storing stays O(1) until the bound is near (then a real scan decides)."""

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key``, or ``None``: missing, or damaged in any way (warned)."""
        path = self._path(key)
        try:
            if path.stat().st_size > MAX_ENTRY_BYTES:
                self._damaged(path, "larger than the cache ever writes")
                return None
            raw = boundedjson.loads(path.read_bytes())
        except (FileNotFoundError, NotADirectoryError):  # no entry (or no cache folder: put says)
            return None
        except (OSError, ValueError) as exc:  # a folder, unreadable, not JSON, too deep
            self._damaged(path, str(exc) or type(exc).__name__)
            return None
        if not isinstance(raw, dict) or raw.get("sha256") != _digest(raw.get("body")):
            self._damaged(path, "checksum mismatch (corrupt or tampered)")
            return None
        try:
            body = _StoredBody.model_validate(raw["body"])
        except ValidationError as exc:
            self._damaged(path, f"{exc.error_count()} field(s) of the wrong type")
            return None
        if body.key != key:
            self._damaged(path, "stored under another key")
            return None
        out = body.output
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used eviction
        return CacheEntry(
            key=key,
            node_id=body.node_id,
            output=NodeOutput(out.format, out.content, out.data, out.rationale),
            created=body.created,
            run_id=body.run_id,
        )

    def _damaged(self, path: Path, why: str) -> None:
        warnings.warn(
            f"node cache entry {path} is damaged ({why}): ignored; the node runs again and "
            "its entry is rebuilt",
            CacheWarning,
            stacklevel=3,
        )

    def put(self, key: str, node_id: str, output: NodeOutput, run_id: str) -> None:
        """Store an output; a cache that cannot be written is warned about, never raised."""
        body = {
            "key": key,
            "node_id": node_id,
            "run_id": run_id,
            "created": time.time(),
            "output": {
                "format": output.format,
                "content": output.content,
                "data": output.data,
                "rationale": output.rationale,
            },
        }
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            blob = json.dumps({"sha256": _digest(body), "body": body})
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir() and not path.is_symlink():  # damage in the shape of an entry
                shutil.rmtree(path, ignore_errors=True)
            tmp.write_text(blob, encoding="utf-8")
            os.replace(tmp, path)
        except (OSError, ValueError, TypeError) as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            warnings.warn(
                f"cannot store node '{node_id}' in the cache {self.root} "
                f"({getattr(exc, 'strerror', None) or exc}): the run goes on without it",
                CacheWarning,
                stacklevel=2,
            )
            return
        if self._approx_bytes is None:
            self._approx_bytes = sum(size for _, size, _ in self._files())
        else:
            self._approx_bytes += len(blob.encode())
        if self._approx_bytes > self.max_bytes:
            self.evict()

    def _files(self) -> list[tuple[float, int, Path]]:
        out: list[tuple[float, int, Path]] = []
        if not self.root.is_dir():
            return out
        try:
            for path in self.root.glob("*/*.json"):
                try:
                    st = path.lstat()
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, path))
        except OSError:  # the folder vanished or turned unreadable while listed
            pass
        return out

    def evict(self) -> int:
        """Drop least recently used entries until the folder fits ``max_bytes``."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in files:
            if total <= self.max_bytes:
                break
            _remove(path)
            total -= size
            removed += 1
        self._approx_bytes = total
        return removed

    def info(self) -> CacheInfo:
        files = self._files()
        return CacheInfo(self.root, len(files), sum(s for _, s, _ in files), self.max_bytes)

    def clear(self) -> int:
        files = self._files()
        for _, _, path in files:
            _remove(path)
        self._approx_bytes = 0
        return len(files)


def _remove(path: Path) -> None:
    """Remove an entry, even one damaged into a folder."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


__all__ = [
    "CACHE_DIRNAME",
    "DEFAULT_CACHE_DIR",
    "CacheEntry",
    "CacheInfo",
    "CacheWarning",
    "NodeCache",
    "node_key",
    "output_digest",
]

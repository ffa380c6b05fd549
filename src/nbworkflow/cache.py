"""Content-addressed node cache: re-run a workflow and pay only for what changed.

A node's key hashes what determines its output and nothing else: its own spec fields that
reach the model or the check (type, persona, action, output format, inputs, adaptive settings),
the provider and model, the content of its input files, and the keys of its upstream nodes'
outputs. Not timestamps, not run ids. Editing one node's action therefore changes its key and,
through the upstream hashes, the keys of everything downstream, and nothing else.

Entries are JSON files written atomically (temp file + rename) with a checksum of their body; a
corrupt or half-written entry is ignored (and replaced on the next store), never trusted. The
folder is size-bounded: the least recently used entries go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .outputs import NodeOutput
from .spec import NodeSpec, WorkflowSpec

CACHE_DIRNAME = ".cache"
"""The cache lives inside the run store: ``.nbworkflow/runs/.cache`` by default."""
DEFAULT_CACHE_DIR = Path(".nbworkflow") / "runs" / CACHE_DIRNAME
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
KEY_VERSION = 1

# Spec fields that change what a node produces. ``max_retries``/``timeout`` do not.
_KEY_FIELDS = (
    "type",
    "agent",
    "action",
    "max_tokens",
    "temperature",
    "output",
    "inputs",
    "code_from",
    "entrypoint",
    "samples",
    "staging",
    "tests_from",
)


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
        path = self._path(key)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            body = raw["body"]
            if raw.get("sha256") != _digest(body) or body.get("key") != key:
                return None  # corrupt or tampered: ignore; the next store replaces it
            out = body["output"]
            entry = CacheEntry(
                key=key,
                node_id=body["node_id"],
                output=NodeOutput(
                    out["format"], out["content"], out.get("data"), out.get("rationale", "")
                ),
                created=float(body["created"]),
                run_id=str(body.get("run_id", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used eviction
        return entry

    def put(self, key: str, node_id: str, output: NodeOutput, run_id: str) -> None:
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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        blob = json.dumps({"sha256": _digest(body), "body": body})
        tmp.write_text(blob, encoding="utf-8")
        os.replace(tmp, path)
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
        for path in self.root.glob("*/*.json"):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((st.st_mtime, st.st_size, path))
        return out

    def evict(self) -> int:
        """Drop least recently used entries until the folder fits ``max_bytes``."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in files:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
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
            path.unlink(missing_ok=True)
        self._approx_bytes = 0
        return len(files)


__all__ = [
    "CACHE_DIRNAME",
    "DEFAULT_CACHE_DIR",
    "CacheEntry",
    "CacheInfo",
    "NodeCache",
    "node_key",
    "output_digest",
]

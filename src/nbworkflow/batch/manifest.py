"""The batch folder: ``<runs_dir>/.batches/<batch_id>/manifest.jsonl``, one line per item done.

Appended (and flushed) as each item ends, so a batch stopped anywhere (kernel restart, killed
scheduler) knows which items already succeeded: resuming the batch (same ``batch_id``) runs
only the others. The last line for a key wins; a truncated last line is ignored.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from .. import boundedjson
from ..exceptions import WorkflowError
from .result import SUCCEEDED, ItemOutput, ItemResult

BATCHES_DIRNAME = ".batches"
MANIFEST = "manifest.jsonl"


def new_batch_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-batch-{secrets.token_hex(2)}"


def batch_dir_for(runs_dir: str | os.PathLike[str], batch_id: str) -> Path:
    if not batch_id or "/" in batch_id or batch_id.startswith("."):
        raise WorkflowError(
            f"batch_id {batch_id!r}: use a plain name (letters, digits, '-', '_'), no '/'"
        )
    return Path(runs_dir) / BATCHES_DIRNAME / batch_id


def _to_line(result: ItemResult) -> str:
    data = asdict(result)
    data.pop("archive", None)
    return json.dumps(data, ensure_ascii=False, default=str)


def _from_dict(data: dict[str, Any]) -> ItemResult:
    outputs = {k: ItemOutput(**v) for k, v in (data.pop("outputs", None) or {}).items()}
    data.pop("archive", None)
    return ItemResult(**data, outputs=outputs)


def read_manifest(folder: Path) -> dict[str, ItemResult]:
    """The last recorded result per item key (empty when the batch is new)."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    done: dict[str, ItemResult] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            result = _from_dict(boundedjson.loads(line))
        except (ValueError, TypeError):
            continue  # a line cut short when the process died
        done[result.key] = result
    return done


def succeeded(folder: Path) -> dict[str, ItemResult]:
    return {k: r for k, r in read_manifest(folder).items() if r.status == SUCCEEDED}


class ManifestWriter:
    """Appends one line per finished item; every line is flushed before ``add`` returns."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._file: IO[str] = open(folder / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115

    def add(self, result: ItemResult) -> None:
        self._file.write(_to_line(result) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


__all__ = [
    "BATCHES_DIRNAME",
    "ManifestWriter",
    "batch_dir_for",
    "new_batch_id",
    "read_manifest",
    "succeeded",
]

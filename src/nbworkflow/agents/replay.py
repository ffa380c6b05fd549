"""Record model calls to a cassette and replay them offline.
(Over 400 lines: the recorder, the replayer and the reading of damaged cassettes share one
line format and its checks.)

A cassette is a JSON Lines file, append-only and readable: a header line, then one line per
model call::

    {"cassette": "nbworkflow", "version": 1}
    {"key": "<sha256>", "occurrence": 0, "node_id": "analyze", "purpose": "answer", "attempt": 1,
     "vendor": "openai",
     "request": {"model": ..., "system": ..., "messages": [{"role": ..., "content": ...}],
                 "schema": {...}, "max_tokens": 4096, "temperature": null},
     "response": {"text": ..., "input_tokens": 812, "output_tokens": 240, "model": ...,
                  "stop_reason": "end_turn", "meta": {...}},
     "recorded_at": "2026-11-24T06:30:00Z"}

``key`` is ``ModelRequest.cache_key()`` (model, system prompt, messages, schema, max_tokens,
temperature); nothing else about the call is stored: no headers, no key. ``vendor`` says who
answered (``anthropic``, ``openai``, ``ollama``...; absent in cassettes recorded before it
existed, and not needed to replay). ``occurrence`` counts
identical requests within one recording session (the same repair asked twice), so replay serves
them in order. Recording into an existing cassette appends; for a repeated ``(key,
occurrence)`` the later line wins, so re-recording updates a cassette without rewriting it.

On a miss, ``ReplayProvider`` names the node and says what changed against the nearest
recorded request of that node (system prompt, message text, schema, model, ...), with a short
diff.
"""

from __future__ import annotations

import difflib
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import boundedjson
from ..exceptions import ProviderError
from ..text import clip
from .base import Message, ModelRequest, ModelResponse, Provider

CASSETTE_VERSION = 1
_HEADER = {"cassette": "nbworkflow", "version": CASSETTE_VERSION}


def request_fields(request: ModelRequest) -> dict[str, Any]:
    """What a cassette stores of a request: exactly what ``cache_key`` hashes."""
    return {
        "model": request.model,
        "system": request.system,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "schema": request.output_schema,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }


def response_fields(response: ModelResponse) -> dict[str, Any]:
    return {
        "text": response.text,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "model": response.model,
        "stop_reason": response.stop_reason,
        "meta": _jsonable(response.meta),
    }


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return out


@dataclass(frozen=True)
class CassetteEntry:
    """One recorded call."""

    key: str
    occurrence: int
    node_id: str
    purpose: str
    attempt: int
    request: dict[str, Any]
    response: dict[str, Any]
    line: int = 0
    """1-based line in the cassette (for messages)."""

    def to_request(self) -> ModelRequest:
        """The recorded request again (its ``cache_key()`` is ``key``)."""
        r = self.request
        return ModelRequest(
            node_id=self.node_id,
            model=str(r.get("model", "")),
            system=str(r.get("system", "")),
            messages=tuple(Message(m["role"], m["content"]) for m in r.get("messages", [])),
            output_schema=r.get("schema"),
            max_tokens=int(r.get("max_tokens", 4096)),
            temperature=r.get("temperature"),
            purpose=self.purpose,
            attempt=self.attempt,
        )

    def to_response(self) -> ModelResponse:
        r = self.response
        meta = dict(r.get("meta") or {})
        if "retries" in meta:  # they happened while recording, not now
            meta["recorded_retries"] = meta.pop("retries")
        meta.update(replayed=True, cassette_line=self.line)
        return ModelResponse(
            text=str(r.get("text", "")),
            input_tokens=int(r.get("input_tokens") or 0),
            output_tokens=int(r.get("output_tokens") or 0),
            model=str(r.get("model") or self.request.get("model") or ""),
            stop_reason=r.get("stop_reason"),
            meta=meta,
        )


class _RecordedMessage(BaseModel):
    role: str
    content: str


class _RecordedRequest(BaseModel):
    """A cassette's request, typed: a line that does not fit is reported, not half-used."""

    model_config = ConfigDict(extra="allow")

    model: str = ""
    system: str = ""
    messages: list[_RecordedMessage] = []
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    max_tokens: int = 4096
    temperature: float | None = None


class _RecordedResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = ""
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    model: str | None = None
    stop_reason: str | None = None
    meta: dict[str, Any] | None = None


class _RecordedLine(BaseModel):
    key: str
    occurrence: int = Field(default=0, ge=0)
    node_id: str
    purpose: str = "answer"
    attempt: int = 1
    request: _RecordedRequest
    response: _RecordedResponse


def load_cassette(path: str | Path) -> list[CassetteEntry]:
    """Every entry of a cassette, in file order; ``ProviderError`` names a bad line."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except FileNotFoundError as exc:
        raise ProviderError(
            f"the cassette {p} does not exist: record one with --record {p} (any provider)"
        ) from exc
    except OSError as exc:
        raise ProviderError(f"cannot read the cassette {p}: {exc.strerror}") from exc
    entries: list[CassetteEntry] = []
    for lineno, line in enumerate(blob.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            data = boundedjson.loads(line)
            if isinstance(data, dict) and "cassette" in data:
                if data.get("version") != CASSETTE_VERSION:
                    raise ValueError(f"unsupported cassette version {data.get('version')!r}")
                continue
            entry = _RecordedLine.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "the line"
            raise ProviderError(
                f"{p}:{lineno}: not a cassette entry ({where}: {first['msg']}); a cassette is "
                "JSON Lines written by --record"
            ) from None
        except ValueError as exc:
            raise ProviderError(
                f"{p}:{lineno}: not a cassette entry ({clip(str(exc), 110, marker='...')}); a cassette is JSON "
                "Lines written by --record"
            ) from exc
        entries.append(
            CassetteEntry(
                key=entry.key,
                occurrence=entry.occurrence,
                node_id=entry.node_id,
                purpose=entry.purpose,
                attempt=entry.attempt,
                request=entry.request.model_dump(by_alias=True),
                response=entry.response.model_dump(),
                line=lineno,
            )
        )
    return entries


class RecordingProvider:
    """Wraps any provider and appends each request/response pair to a cassette."""

    def __init__(self, inner: Provider, cassette_path: str | Path) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.path = Path(cassette_path)
        self._occurrences: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.recorded = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        key = request.cache_key()
        response = await self.inner.complete(request)
        with self._lock:
            occurrence = self._occurrences[key]
            self._occurrences[key] += 1
            entry = {
                "key": key,
                "occurrence": occurrence,
                "node_id": request.node_id,
                "purpose": request.purpose,
                "attempt": request.attempt,
                "vendor": str(response.meta.get("vendor") or self.name),
                "request": request_fields(request),
                "response": response_fields(response),
                "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self._append(json.dumps(entry, ensure_ascii=False))
            self.recorded += 1
        return response

    def _append(self, line: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                if fh.tell() == 0:
                    fh.write(json.dumps(_HEADER) + "\n")
                fh.write(line + "\n")
        except OSError as exc:
            raise ProviderError(f"cannot write the cassette {self.path}: {exc.strerror}") from exc

    async def aclose(self) -> None:
        await self.inner.aclose()


_FIELD_NAMES = {
    "model": "model",
    "system": "system prompt",
    "messages": "message text",
    "schema": "output schema",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
}


def _differing(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [f for f in _FIELD_NAMES if recorded.get(f) != wanted.get(f)]


def _line_diff(old: str, new: str, *, max_lines: int = 4) -> list[str]:
    changed = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    out = [clip(line, 110, marker="...") for line in changed[:max_lines]]
    if len(changed) > max_lines:
        out.append(f"... ({len(changed) - max_lines} more changed lines)")
    return out


def describe_difference(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Short human lines saying how ``wanted`` differs from ``recorded`` (request fields)."""
    lines: list[str] = []
    for f in _differing(recorded, wanted):
        label = _FIELD_NAMES[f]
        if f == "system":
            lines.append(f"{label} changed:")
            lines += ["  " + d for d in _line_diff(str(recorded[f]), str(wanted[f]))]
        elif f == "messages":
            old, new = recorded.get(f) or [], wanted.get(f) or []
            if len(old) != len(new):
                lines.append(f"{label}: {len(new)} messages now, {len(old)} recorded")
            for i, (a, b) in enumerate(zip(old, new, strict=False), 1):
                if a != b:
                    lines.append(f"{label} changed in message {i} ({b.get('role')}):")
                    lines += [
                        "  " + d
                        for d in _line_diff(str(a.get("content", "")), str(b.get("content", "")))
                    ]
                    break
        elif f == "schema":
            old_s = json.dumps(recorded.get(f), indent=1, sort_keys=True)
            new_s = json.dumps(wanted.get(f), indent=1, sort_keys=True)
            lines.append(f"{label} changed:")
            lines += ["  " + d for d in _line_diff(old_s, new_s)]
        else:
            lines.append(f"{label}: {wanted.get(f)!r} now, {recorded.get(f)!r} recorded")
    return lines


def _similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    ta = json.dumps(a.get("messages"), ensure_ascii=False)[:4000]
    tb = json.dumps(b.get("messages"), ensure_ascii=False)[:4000]
    return difflib.SequenceMatcher(None, ta, tb, autojunk=False).ratio()


class ReplayProvider:
    """Serves recorded answers offline; a request never recorded is an error that says why.

    Identical requests are served in recorded order. ``aclose`` (called by the engine when a
    run ends) rewinds, so one provider object can replay several runs. ``model`` is accepted
    and ignored: the recorded requests name their models.
    """

    name = "replay"

    def __init__(self, cassette: str | Path, *, model: str | None = None) -> None:
        self.path = Path(cassette)
        self.entries = load_cassette(self.path)
        by_key: dict[str, dict[int, CassetteEntry]] = defaultdict(dict)
        for entry in self.entries:
            by_key[entry.key][entry.occurrence] = entry  # a later line wins
        self._index = {k: [v[i] for i in sorted(v)] for k, v in by_key.items()}
        self._cursor: defaultdict[str, int] = defaultdict(int)
        self.served = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        key = request.cache_key()
        recorded = self._index.get(key, [])
        n = self._cursor[key]
        if n < len(recorded):
            self._cursor[key] += 1
            self.served += 1
            return recorded[n].to_response()
        raise ProviderError(self._miss_message(request, len(recorded)))

    def rewind(self) -> None:
        self._cursor.clear()

    async def aclose(self) -> None:
        self.rewind()

    def _miss_message(self, request: ModelRequest, times: int) -> str:
        where = f"node '{request.node_id}' ({request.purpose}, call {request.attempt})"
        fix = (
            f"re-record it: run with a live provider and --record {self.path}, or use "
            "--provider scripted"
        )
        if times:
            return (
                f"replay: the cassette {self.path} recorded this exact request of {where} "
                f"{times} time(s), and it is asked once more now (the run took a different path "
                f"than when it was recorded): {fix}"
            )
        wanted = request_fields(request)
        same_node = [e for e in self.entries if e.node_id == request.node_id]
        if not same_node:
            recorded_nodes = sorted({e.node_id for e in self.entries})
            close = difflib.get_close_matches(request.node_id, recorded_nodes, n=1)
            hint = f" (did you mean '{close[0]}'? was the node renamed?)" if close else ""
            listing = ", ".join(recorded_nodes) or "none"
            return (
                f"replay: the cassette {self.path} has no call recorded for node "
                f"'{request.node_id}'{hint}; it has: {listing}. {fix}"
            )
        nearest = min(
            same_node,
            key=lambda e: (
                len(_differing(e.request, wanted)),
                e.purpose != request.purpose,
                abs(e.attempt - request.attempt),
                -_similarity(e.request, wanted),
            ),
        )
        changes = describe_difference(nearest.request, wanted)
        fields = ", ".join(_FIELD_NAMES[f] for f in _differing(nearest.request, wanted))
        body = "\n  ".join(changes)
        return (
            f"replay: no recorded answer for {where} in {self.path}; the request changed since "
            f"it was recorded. The nearest recorded request of this node (line {nearest.line}) "
            f"differs in: {fields}\n  {body}\n{fix}"
        )


__all__ = [
    "CASSETTE_VERSION",
    "CassetteEntry",
    "RecordingProvider",
    "ReplayProvider",
    "describe_difference",
    "load_cassette",
    "request_fields",
]

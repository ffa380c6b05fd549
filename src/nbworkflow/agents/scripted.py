"""The offline ``scripted`` provider: canned answers per node id, for demos and tests.

A script is a YAML or JSON mapping ``node_id -> answer`` (or a list of answers, one per call to
that node; the last one repeats). An answer is:

* a string: the deliverable itself, as a person writes it (``left: I am LEFT``): the content of
  a text node, the code of an ``output: code`` node (and of an adaptive rewrite), or, for an
  ``output: json`` node, JSON text that is parsed into the data;
* a mapping: the whole answer, sent as JSON (``{rationale: ..., content: ...}``, ``{code}``,
  ``{data}``), for when the rationale matters.

A responder (``responders={node_id: fn}``, code answering in the model's place) returns the
model's raw text or a mapping. ``raw_strings=True`` sends script strings as raw text too (tests feed fenced or broken
JSON this way, to exercise parsing and repair). An optional top-level ``_options: {latency:
0.5}`` simulates model latency (seconds per call). It never touches the network. Token counts
are estimated (4 characters a token) so summaries and budgets behave as with a real model.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import boundedjson
from ..exceptions import ProviderError
from ..spec.located import Refused, load_yaml
from .base import ModelRequest, ModelResponse

Answer = Mapping[str, Any] | str
Responder = Callable[[ModelRequest], Answer]


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _as_answer(text: str, request: ModelRequest) -> str:
    """A plain-string answer as the JSON answer the node asks for (see the module docstring)."""
    fields = (request.output_schema or {}).get("properties", {})
    if "code" in fields:
        return json.dumps({"code": text}, ensure_ascii=False)
    if "data" in fields:
        try:
            data = boundedjson.loads(text)
        except ValueError:  # not JSON, or nested too deep
            return text  # the node's own check says what is wrong with it, like a model's
        return json.dumps({"data": data}, ensure_ascii=False)
    if "content" in fields:
        return json.dumps({"content": text}, ensure_ascii=False)
    return text  # free text asked for: the string is the answer


class ScriptedProvider:
    """Serves answers from a script; see the module docstring for its format."""

    name = "scripted"

    def __init__(
        self,
        script: Mapping[str, Answer | list[Answer]] | None = None,
        *,
        responders: Mapping[str, Responder] | None = None,
        latency: float = 0.0,
        model: str = "scripted",
        raw_strings: bool = False,
    ) -> None:
        self.script = dict(script or {})
        self.raw_strings = raw_strings
        self.responders = dict(responders or {})
        self.latency = latency
        self.model = model
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.requests: list[ModelRequest] = []
        """Every request received, in order (tests assert on what the model was sent)."""

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> ScriptedProvider:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProviderError(f"cannot read the script {p}: {exc.strerror}") from exc
        try:
            data = boundedjson.loads(text) if p.suffix == ".json" else load_yaml(text)
        except Refused as exc:
            raise ProviderError(f"the script {exc.where(p)} is refused: {exc.reason}") from None
        except (ValueError, yaml.YAMLError) as exc:
            raise ProviderError(f"the script {p} is not valid YAML/JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ProviderError(f"the script {p} must map node ids to answers")
        options = data.pop("_options", None) or {}
        if "latency" in options and "latency" not in kwargs:
            kwargs["latency"] = float(options["latency"])
        return cls(data, **kwargs)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        index = self.calls[request.node_id]
        self.calls[request.node_id] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        raw = self.raw_strings
        if request.node_id in self.responders:
            answer: Any = self.responders[request.node_id](request)
            raw = True  # code that answers speaks for the model: its text goes as it is
        elif request.node_id in self.script:
            entry = self.script[request.node_id]
            if isinstance(entry, list):
                if not entry:
                    raise ProviderError(
                        f"the script has an empty list for node '{request.node_id}'"
                    )
                answer = entry[min(index, len(entry) - 1)]
            else:
                answer = entry
        else:
            known = ", ".join(sorted(self.script)) or "none"
            raise ProviderError(
                f"the script has no answer for node '{request.node_id}' (it has: {known}); "
                "add an entry for it"
            )
        if isinstance(answer, str):
            text = answer if raw else _as_answer(answer, request)
        else:
            text = json.dumps(answer, ensure_ascii=False)
        prompt = request.system + "".join(m.content for m in request.messages)
        return ModelResponse(
            text=text,
            input_tokens=_estimate_tokens(prompt),
            output_tokens=_estimate_tokens(text),
            model=self.model,
            stop_reason="end_turn",
            meta={"vendor": "scripted"},  # canned: nobody is billed (``agents.prices``)
        )

    async def aclose(self) -> None:
        return None


__all__ = ["ScriptedProvider"]

"""Structured output: the schemas nodes ask for, tolerant parsing, and the repair loop.

Nothing the model says is trusted before it validates. A text answer is parsed tolerantly
(Markdown fences, prose around the JSON) but with bounded nesting; code must compile; JSON data
must fit the node's schema. When an answer does not fit, the precise problem goes back to the
model, which tries again, up to ``max_repairs`` times.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import boundedjson
from ..exceptions import OutputValidationError
from .base import Message, ModelRequest, ModelResponse, Provider


class TextAnswer(BaseModel):
    """Answer of a ``text`` node."""

    model_config = ConfigDict(extra="ignore")
    rationale: str = Field(default="", description="One or two sentences on the approach taken.")
    content: str = Field(description="The deliverable, in Markdown.")


class CodeAnswer(BaseModel):
    """Answer of a ``code`` node and of every adaptive rewrite."""

    model_config = ConfigDict(extra="ignore")
    rationale: str = Field(
        default="", description="Why the code looks like this; for a rewrite, what changed."
    )
    code: str = Field(description="Complete Python source, no Markdown fences.")


class JsonAnswer(BaseModel):
    """Answer of a ``json`` node; ``data`` is checked against the node's JSON Schema."""

    model_config = ConfigDict(extra="ignore")
    rationale: str = Field(default="")
    data: Any = Field(description="The JSON value asked for.")


ANSWER_TYPES: dict[str, type[BaseModel]] = {
    "text": TextAnswer,
    "code": CodeAnswer,
    "json": JsonAnswer,
}


def answer_schema(fmt: str, json_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Schema sent to the model for a node of output format ``fmt``."""
    schema = ANSWER_TYPES[fmt].model_json_schema()
    if fmt == "json" and json_schema:
        schema["properties"]["data"] = json_schema
    schema["additionalProperties"] = False
    schema["required"] = sorted(schema.get("properties", {}))
    return schema


_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n(.*?)\n?```", re.S)


def extract_json(text: str) -> Any:
    """Find the JSON value in a model's answer: whole text, a fenced block, or the first object."""
    stripped = text.strip()
    candidates = [stripped]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = stripped.find("{")
    if start != -1:
        candidates.append(stripped[start:])
    decoder = json.JSONDecoder()
    last: json.JSONDecodeError | None = None
    for cand in candidates:
        if not cand:
            continue
        try:
            value, _end = decoder.raw_decode(cand)
        except json.JSONDecodeError as exc:
            last = exc
            continue
        except RecursionError:  # the C scanner's own limit (~1,000 levels)
            raise _too_deep() from None
        opens = cand.count("[") + cand.count("{")
        if opens > boundedjson.MAX_DEPTH and boundedjson.depth(value) > boundedjson.MAX_DEPTH:
            raise _too_deep()
        return value
    if last is None:
        raise ValueError("the answer was empty")
    raise ValueError(
        f"the answer is not valid JSON ({last.msg} at line {last.lineno} column {last.colno})"
    )


def _too_deep() -> ValueError:
    return ValueError(
        f"the answer's JSON is nested deeper than {boundedjson.MAX_DEPTH} levels: answer with "
        "a flatter structure"
    )


def check_compiles(code: str) -> None:
    """Raise ``ValueError`` (a message fit for the model) unless ``code`` is Python that
    compiles: a syntax error or a NUL byte is caught here, before anything runs it."""
    if "\x00" in code:
        raise ValueError("the code contains a NUL byte (\\x00): send plain Python source")
    try:
        compile(code, "<answer>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        raise ValueError(f"the code does not compile: {exc.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # nesting too deep for the compiler
        raise ValueError(f"the code does not compile: {type(exc).__name__}: {exc}") from None


_VALIDATORS: OrderedDict[int, tuple[dict[str, Any], SchemaValidator]] = OrderedDict()
_MAX_VALIDATORS = 256


class SchemaValidator:
    """A node's JSON Schema, checked against its meta-schema once and compiled once.

    Valid answers (nearly all of them) take the fast path: ``fastjsonschema``'s generated code
    (nbformat's dependency), about 5x quicker than ``jsonschema`` for 20 records. A rejected
    answer is checked again by ``jsonschema``, whose ``best_match`` message goes back to the
    model; where the two disagree, ``jsonschema`` decides. The fast path is used only for the
    drafts ``fastjsonschema`` implements, never fills defaults in, never checks formats (as
    ``jsonschema`` does not by default) and never fetches a remote ``$ref``."""

    def __init__(self, schema: dict[str, Any]) -> None:
        import jsonschema  # type: ignore[import-untyped]  # nbformat's dependency; json nodes only

        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"the node's JSON Schema is invalid: {exc.message}") from None
        self.slow = cls(schema)
        self._fast = _compile_fast(schema)

    def first_error(self, data: Any) -> Any:
        """``None`` when ``data`` fits, else ``jsonschema``'s best error."""
        if self._fast is not None:
            try:
                self._fast(data)
                return None
            except Exception:  # invalid, or a case the generated code cannot take: ask jsonschema
                pass
        import jsonschema

        return jsonschema.exceptions.best_match(self.slow.iter_errors(data))


_FAST_DRAFTS = frozenset(f"http://json-schema.org/draft-{n}/schema" for n in ("04", "06", "07")) | {
    ""
}
"""The drafts fastjsonschema implements (no ``$schema``: its default, draft 7)."""


def _no_remote(uri: str) -> Any:
    raise ValueError(f"remote $ref {uri} is not fetched")


def _compile_fast(schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    if str(schema.get("$schema", "")).rstrip("#") not in _FAST_DRAFTS:
        return None
    try:
        import fastjsonschema

        fast: Callable[[Any], Any] = fastjsonschema.compile(
            schema,
            handlers={"http": _no_remote, "https": _no_remote, "file": _no_remote},
            use_default=False,
            use_formats=False,
        )
    except Exception:  # not installed, or a schema it cannot compile: jsonschema alone
        return None
    return fast


def schema_validator(schema: dict[str, Any]) -> SchemaValidator:
    """The ``SchemaValidator`` of ``schema``, built once per schema object rather than once per
    answer. Keyed by identity: a node's schema is one object for the whole run (the spec is
    frozen)."""
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        _VALIDATORS.move_to_end(id(schema))
        return hit[1]
    validator = SchemaValidator(schema)
    _VALIDATORS[id(schema)] = (schema, validator)  # holding the schema keeps its id unique
    if len(_VALIDATORS) > _MAX_VALIDATORS:
        _VALIDATORS.popitem(last=False)
    return validator


def _strip_code_fence(code: str) -> str:
    m = _FENCE.fullmatch(code.strip())
    return m.group(1) if m else code


def validate_answer(text: str, fmt: str, json_schema: dict[str, Any] | None = None) -> BaseModel:
    """Parse and validate one answer; raises ``ValueError`` with a message fit for the model."""
    value = extract_json(text)
    model = ANSWER_TYPES[fmt]
    try:
        answer = model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"the JSON does not match the schema: {problems}") from None
    if isinstance(answer, CodeAnswer):
        answer = answer.model_copy(update={"code": _strip_code_fence(answer.code)})
        check_compiles(answer.code)
    if isinstance(answer, JsonAnswer) and json_schema:
        error = schema_validator(json_schema).first_error(answer.data)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "data"
            raise ValueError(f"'data' does not match the node's schema at {where}: {error.message}")
    return answer


CallHook = Callable[[ModelRequest, ModelResponse, float], None]
RepairHook = Callable[[int, str], None]


async def call_structured(
    provider: Provider,
    request: ModelRequest,
    fmt: str,
    *,
    json_schema: dict[str, Any] | None = None,
    max_repairs: int = 2,
    on_call: CallHook | None = None,
    on_repair: RepairHook | None = None,
) -> tuple[BaseModel, list[ModelResponse]]:
    """Ask, validate, and ask for a repair while the answer does not fit.

    Returns the validated answer and every response (for token accounting). ``on_call`` sees
    each call as it finishes; ``on_repair(n, problem)`` is told before repair ``n`` is asked.
    """
    request = replace(request, output_schema=answer_schema(fmt, json_schema))
    responses: list[ModelResponse] = []
    messages = list(request.messages)
    for repair in range(max_repairs + 1):
        t0 = time.perf_counter()
        response = await provider.complete(request)
        responses.append(response)
        if on_call is not None:
            on_call(request, response, time.perf_counter() - t0)
        try:
            return validate_answer(response.text, fmt, json_schema), responses
        except ValueError as exc:
            problem = str(exc)
            if response.stop_reason == "max_tokens":
                problem += (
                    f" (the answer was cut off at max_tokens={request.max_tokens}: answer more "
                    "concisely, or raise the node's max_tokens)"
                )
        if repair == max_repairs:
            raise OutputValidationError(
                f"the model's answer did not match the expected {fmt} structure after "
                f"{repair + 1} attempt(s): {problem}",
                attempts=repair + 1,
                last_response=response.text,
            )
        if on_repair is not None:
            on_repair(repair + 1, problem)
        messages += [
            Message("assistant", response.text),
            Message(
                "user",
                f"Your answer could not be used: {problem}. Answer again with only a JSON object "
                "that matches the schema, no prose and no Markdown fences.",
            ),
        ]
        request = replace(
            request, messages=tuple(messages), purpose="repair", attempt=request.attempt + 1
        )
    raise AssertionError("unreachable")


__all__ = [
    "ANSWER_TYPES",
    "CodeAnswer",
    "JsonAnswer",
    "TextAnswer",
    "answer_schema",
    "call_structured",
    "check_compiles",
    "extract_json",
    "schema_validator",
    "validate_answer",
]

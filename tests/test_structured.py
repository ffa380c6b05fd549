"""Structured output: tolerant parsing, validation messages, and the repair loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbworkflow.agents import ScriptedProvider
from nbworkflow.agents.base import Message, ModelRequest, ModelResponse
from nbworkflow.agents.structured import (
    CodeAnswer,
    JsonAnswer,
    TextAnswer,
    answer_schema,
    call_structured,
    extract_json,
    validate_answer,
)
from nbworkflow.exceptions import OutputValidationError

REQUEST = ModelRequest(
    node_id="n", model="m", system="You are a Tester.", messages=(Message("user", "go"),)
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.sampled_from(["", "json"]))
def test_extract_json_finds_an_object_in_fences_and_prose(value: dict[str, Any], lang: str) -> None:
    blob = json.dumps(value)
    assert extract_json(blob) == value
    assert extract_json(f"Here you go:\n```{lang}\n{blob}\n```\nHope it helps.") == value
    assert extract_json(f"The answer is {blob}") == value


def test_extract_json_reports_where_it_broke() -> None:
    with pytest.raises(ValueError, match=r"not valid JSON .* line 1 column"):
        extract_json('{"a": ')
    with pytest.raises(ValueError, match="empty"):
        extract_json("   ")


def test_validate_answer_models_and_code_fences() -> None:
    text = validate_answer('{"rationale": "r", "content": "# T"}', "text")
    assert isinstance(text, TextAnswer) and text.content == "# T"
    code = validate_answer(json.dumps({"code": "```python\nx = 1\n```"}), "code")
    assert isinstance(code, CodeAnswer) and code.code == "x = 1"
    with pytest.raises(ValueError, match="code: Field required"):
        validate_answer('{"rationale": "r"}', "code")


def test_validate_answer_checks_the_nodes_json_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    ok = validate_answer('{"data": {"n": 2}}', "json", schema)
    assert isinstance(ok, JsonAnswer) and ok.data == {"n": 2}
    with pytest.raises(ValueError, match=r"'data' does not match the node's schema at n: 'x'"):
        validate_answer('{"data": {"n": "x"}}', "json", schema)


def test_answer_schema_is_closed_and_embeds_the_node_schema() -> None:
    text = answer_schema("text")
    assert text["additionalProperties"] is False
    assert text["required"] == ["content", "rationale"]
    inner = {"type": "array", "items": {"type": "string"}}
    assert answer_schema("json", inner)["properties"]["data"] == inner


def structured(script: list[Any], fmt: str = "text", **kwargs: Any) -> Any:
    provider = ScriptedProvider({"n": script}, raw_strings=True)  # raw text, to be repaired
    repairs: list[tuple[int, str]] = []

    async def go() -> Any:
        return await call_structured(
            provider, REQUEST, fmt, on_repair=lambda n, p: repairs.append((n, p)), **kwargs
        )

    return asyncio.run(go()), repairs, provider.requests


def test_repair_loop_feeds_the_precise_problem_back() -> None:
    (answer, responses), repairs, requests = structured(
        ["not json", {"rationale": "r"}, {"rationale": "r", "content": "ok"}]
    )
    assert isinstance(answer, TextAnswer) and answer.content == "ok"
    assert len(responses) == 3
    assert [n for n, _ in repairs] == [1, 2]
    assert "not valid JSON" in repairs[0][1]
    assert "content: Field required" in repairs[1][1]
    assert [r.purpose for r in requests] == ["answer", "repair", "repair"]
    assert [r.attempt for r in requests] == [1, 2, 3]
    last = requests[2].messages
    assert [m.role for m in last] == ["user", "assistant", "user", "assistant", "user"]
    assert repairs[1][1] in last[4].content
    assert all(r.output_schema == answer_schema("text") for r in requests)


def test_repairs_exhausted_raise_with_attempts_and_last_answer() -> None:
    with pytest.raises(OutputValidationError) as info:
        structured(["a", "b", "c", "d"], max_repairs=1)
    assert info.value.attempts == 2
    assert info.value.last_response == "b"
    assert "after 2 attempt(s)" in str(info.value)


class CutOff:
    """A provider whose answers stop at max_tokens."""

    name = "cutoff"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return ModelResponse(text='{"rationale": "a very long', stop_reason="max_tokens")

    async def aclose(self) -> None:
        return None


def test_a_truncated_answer_says_to_raise_max_tokens() -> None:
    provider = CutOff()
    with pytest.raises(OutputValidationError) as info:
        asyncio.run(call_structured(provider, REQUEST, "text", max_repairs=1))
    assert "cut off at max_tokens=4096" in str(info.value)
    assert "raise the node's max_tokens" in str(info.value)
    assert "cut off at max_tokens" in provider.requests[1].messages[-1].content


class TestSchemaFastPath:
    """The compiled fast path agrees with jsonschema, which decides and words every rejection."""

    def _check(self, schema: dict[str, Any], data: Any) -> str | None:
        from nbworkflow.agents.structured import validate_answer

        try:
            validate_answer(json.dumps({"rationale": "r", "data": data}), "json", schema)
        except ValueError as exc:
            return str(exc)
        return None

    def test_a_rejection_is_worded_by_jsonschema(self) -> None:
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        said = self._check(schema, {"n": "x"})
        assert said is not None and "at n: 'x' is not of type 'integer'" in said

    def test_formats_are_not_checked_and_defaults_not_filled(self) -> None:
        from nbworkflow.agents.structured import schema_validator

        schema = {
            "type": "object",
            "properties": {"e": {"type": "string", "format": "email"}, "d": {"default": 1}},
        }
        data = {"e": "not-an-email"}
        assert schema_validator(schema).first_error(data) is None  # as jsonschema by default
        assert data == {"e": "not-an-email"}  # no default written into the answer

    def test_a_remote_ref_is_never_fetched(self) -> None:
        from nbworkflow.agents.structured import schema_validator

        schema = {"$ref": "http://nbw-test.invalid/schema.json"}
        validator = schema_validator(schema)
        assert validator._fast is None  # the compiled path refused it, nothing was fetched

    def test_a_2020_12_schema_is_checked_by_jsonschema(self) -> None:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
        }
        assert self._check(schema, [1, "a"]) is None
        said = self._check(schema, ["a", "a"])
        assert said is not None and "is not of type 'integer'" in said

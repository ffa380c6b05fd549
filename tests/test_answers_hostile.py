"""Hostile model answers (issue 15 item 7, issue 16 item 6): too-deep JSON and code that does not
compile get a repair round, never a raw exception; a node's schema is checked once, not per
answer."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbworkflow.agents import ScriptedProvider
from nbworkflow.agents import structured as st_mod
from nbworkflow.agents.structured import extract_json, schema_validator, validate_answer
from nbworkflow.engine import run_workflow
from nbworkflow.events import Decision, NodeRetrying
from nbworkflow.runlog import read_events
from nbworkflow.spec import load_workflow

DEEP = "[" * 10_000 + "]" * 10_000
MIDDLE = "[" * 500 + "]" * 500  # parses with json, but too deep to walk safely


@pytest.mark.parametrize("data", [DEEP, MIDDLE])
def test_deep_json_is_a_validation_error(data: str) -> None:
    with pytest.raises(ValueError, match="nested deeper than"):
        extract_json('{"rationale": "r", "data": ' + data + "}")


@pytest.mark.parametrize(
    "code",
    ["def f(:\n    pass\n", "x = 1\x00\n", "x = (" * 300 + "1" + ")" * 300],
    ids=["syntax", "nul", "too-nested"],
)
def test_code_that_does_not_compile_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match=r"does not compile|NUL byte"):
        validate_answer(json.dumps({"rationale": "r", "code": code}), "code")


def test_good_code_and_fenced_code_pass() -> None:
    answer = validate_answer(json.dumps({"code": "```python\ndef f():\n    return 1\n```"}), "code")
    assert answer.code.startswith("def f")  # type: ignore[attr-defined]


def run_node(tmp_path: Path, fmt: str, answers: list[Any]) -> tuple[Any, list[Any]]:
    spec = load_workflow(text=f"name: t\nnodes:\n  - id: a\n    action: do\n    output: {fmt}\n")
    result = run_workflow(
        spec, provider=ScriptedProvider({"a": answers}, raw_strings=True), runs_dir=tmp_path
    )
    return result, read_events(result.run_dir)


def test_a_10000_deep_answer_gets_a_repair_round(tmp_path: Path) -> None:
    deep = '{"rationale": "r", "data": ' + DEEP + "}"
    result, events = run_node(tmp_path, "json", [deep, {"rationale": "r", "data": {"k": 1}}])
    assert result.ok and result.output("a").data == {"k": 1}
    assert any("nested deeper than" in json.dumps(getattr(e, "data", {})) or "nested deeper"
               in getattr(e, "reason", "") for e in events)  # fmt: skip


@pytest.mark.parametrize("bad", ["def f(:\n", "x = 1\x00"])
def test_code_with_syntax_errors_or_nul_gets_a_repair_round(tmp_path: Path, bad: str) -> None:
    result, events = run_node(tmp_path, "code", [{"code": bad}, {"code": "x = 1\n"}])
    assert result.ok and result.output("a").content == "x = 1\n"
    said = [e for e in events if isinstance(e, (Decision, NodeRetrying))]
    assert said and result.state.nodes["a"].attempts >= 1


def test_the_schema_is_checked_once_per_schema_not_per_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jsonschema  # type: ignore[import-untyped]

    schema = {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]}
    checks: list[object] = []
    real = jsonschema.validators.Draft202012Validator.check_schema
    monkeypatch.setattr(
        jsonschema.validators.Draft202012Validator,
        "check_schema",
        classmethod(lambda cls, s, **kw: checks.append(s) or real(s, **kw)),
    )
    st_mod._VALIDATORS.clear()
    for i in range(20):
        validate_answer(json.dumps({"data": {"k": i}}), "json", schema)
    with pytest.raises(ValueError, match="at k"):
        validate_answer(json.dumps({"data": {"k": "x"}}), "json", schema)
    assert len(checks) == 1
    assert schema_validator(schema) is schema_validator(schema)


def test_an_invalid_schema_is_reported() -> None:
    st_mod._VALIDATORS.clear()
    with pytest.raises(ValueError, match="JSON Schema is invalid"):
        validate_answer(json.dumps({"data": 1}), "json", {"type": 5})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*'[]{}":,0a \n`\\', "```json\n", '"code": ', "[" * 900]), max_size=80)
)
def test_any_answer_text_is_an_answer_or_a_value_error(parts: list[str]) -> None:
    text = "".join(parts)
    for fmt in ("text", "code", "json"):
        with contextlib.suppress(ValueError):
            validate_answer(text, fmt, {"type": "array"} if fmt == "json" else None)


def test_a_too_deep_plain_string_script_answer_gets_a_repair_round(tmp_path: Path) -> None:
    """A teacher's plain-string JSON answer goes through the same bounded parse as a model's."""
    spec = load_workflow(text="name: t\nnodes:\n  - id: a\n    action: do\n    output: json\n")
    script = ScriptedProvider({"a": ['{"k": ' + DEEP + "}", '{"k": 1}']})
    result = run_workflow(spec, provider=script, runs_dir=tmp_path)
    assert result.ok and result.output("a").data == {"k": 1}

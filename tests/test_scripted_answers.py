"""Scripted answers written as a person writes them: a plain string is the deliverable."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbworkflow.agents import ScriptedProvider
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import ProviderError
from nbworkflow.spec import load_workflow

SPEC = """\
name: plain
nodes:
  - {id: left, action: Say left}
  - {id: code, action: Write f, output: code, depends_on: [left]}
  - id: data
    action: List two names
    output: {format: json, schema: {type: array, items: {type: string}}}
"""


def run(tmp_path: Path, provider: ScriptedProvider) -> object:
    return run_workflow(load_workflow(text=SPEC), provider=provider, runs_dir=tmp_path)


def test_plain_strings_are_the_content_the_code_and_the_json(tmp_path: Path) -> None:
    script = {"left": "I am LEFT", "code": "def f():\n    return 1\n", "data": '["ada", "grace"]'}
    result = run(tmp_path, ScriptedProvider(script))
    assert result.ok, result.state.nodes  # type: ignore[attr-defined]
    assert result.output("left").content == "I am LEFT"  # type: ignore[attr-defined]
    assert result.output("code").content.startswith("def f():")  # type: ignore[attr-defined]
    assert result.output("data").data == ["ada", "grace"]  # type: ignore[attr-defined]


def test_a_script_file_with_plain_strings(tmp_path: Path) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(
        "left: I am LEFT\ncode: |\n  def f():\n      return 1\ndata: '[\"x\"]'\n", encoding="utf-8"
    )
    result = run(tmp_path, ScriptedProvider.from_file(path))
    assert result.ok  # type: ignore[attr-defined]
    assert result.output("left").content == "I am LEFT"  # type: ignore[attr-defined]
    assert result.output("data").data == ["x"]  # type: ignore[attr-defined]


def test_a_script_file_with_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    """``yaml.safe_load`` expands aliases without bound: a small script could stall a run."""
    lines = ["a0: &a0 [lol]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)
    ]
    path = tmp_path / "script.yaml"
    path.write_text("\n".join(lines) + "\nplan: hello\n", encoding="utf-8")
    with pytest.raises(ProviderError, match=r"script\.yaml:\d+:\d+ is refused: aliases"):
        ScriptedProvider.from_file(path)


def test_objects_with_a_rationale_keep_working(tmp_path: Path) -> None:
    script = {
        "left": {"rationale": "asked", "content": "I am LEFT"},
        "code": {"rationale": "small", "code": "def f():\n    return 1\n"},
        "data": {"data": ["x"]},
    }
    result = run(tmp_path, ScriptedProvider(script))
    assert result.ok  # type: ignore[attr-defined]
    assert result.output("left").rationale == "asked"  # type: ignore[attr-defined]


def test_a_string_that_is_not_json_for_a_json_node_fails_like_a_model_answer(
    tmp_path: Path,
) -> None:
    script = {"left": "x", "code": "pass", "data": "ada, grace"}
    result = run(tmp_path, ScriptedProvider(script))
    node = result.state.nodes["data"]  # type: ignore[attr-defined]
    assert node.status.value == "failed" and "not valid JSON" in node.message


def test_raw_strings_are_the_model_text(tmp_path: Path) -> None:
    fenced = '```json\n{"rationale": "r", "content": "from the fence"}\n```'
    script = {"left": fenced, "code": '{"code": "pass"}', "data": '{"data": []}'}
    result = run(tmp_path, ScriptedProvider(script, raw_strings=True))
    assert result.output("left").content == "from the fence"  # type: ignore[attr-defined]

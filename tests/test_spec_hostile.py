"""Hostile spec text: every input gives a valid spec or a short, located SpecError, quickly and
in little memory (issue 15). Limits are asserted by cause (the message), never by wall clock."""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbworkflow.exceptions import SpecError, SpecIssue
from nbworkflow.spec import load_workflow
from nbworkflow.spec.located import MAX_DEPTH

ONE = "name: x\nnodes:\n  - id: a\n    action: b\n"


def errors_of(text: str, **kwargs: object) -> list[SpecIssue]:
    with pytest.raises(SpecError) as info:
        load_workflow(text=text, **kwargs)  # type: ignore[arg-type]
    return info.value.errors


def peak_mb(text: str) -> float:
    tracemalloc.start()
    try:
        with contextlib.suppress(SpecError):
            load_workflow(text=text)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_a_file_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_bytes(b"name: x\nnodes:\n  - id: \xff\n")
    with pytest.raises(SpecError) as info:
        load_workflow(bad)
    (err,) = info.value.errors
    assert "not UTF-8" in err.message and (err.line, err.col) == (3, 9)


def test_billion_laughs_is_refused_before_expanding() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = "name: x\n" + "\n".join(levels) + "\nnodes: *i\n"
    (err,) = errors_of(text)
    assert "aliases (*name) expand this to more than" in err.message
    assert peak_mb(text) < 20


@pytest.mark.parametrize("text", ["name: x\nnodes: &a [*a]\n", "name: x\nnodes: &a {b: *a}\n"])
def test_an_alias_that_contains_itself_is_refused(text: str) -> None:
    (err,) = errors_of(text)
    assert "refers to a mapping or list that contains it" in err.message and err.line == 2


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nnodes: " + "[" * 600 + "]" * 600 + "\n",
        "name: x\nnodes:\n" + "".join("  " * i + "-\n" for i in range(1, 600)),
        ONE + "    output:\n      format: json\n      schema: " + "{a: " * 300 + "1" + "}" * 300,
    ],
    ids=["flow", "block", "schema"],
)
def test_deep_nesting_is_refused(text: str) -> None:
    (err,) = errors_of(text)
    assert f"nesting deeper than {MAX_DEPTH} levels" in err.message and err.line


def test_nesting_made_deep_by_aliases_is_refused() -> None:
    deep = "[" * 60 + "]" * 60
    text = f"name: x\nx-d: &d {deep}\nnodes: " + "[" * 60 + "*d" + "]" * 60 + "\n"
    (err,) = errors_of(text)
    assert "nesting deeper than" in err.message


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "-" + "1" * 4400])
def test_huge_numbers_are_refused_where_they_are(number: str) -> None:
    (err,) = errors_of(ONE + f"    max_retries: {number}\n")
    assert "is too long" in err.message and err.line == 5 and err.path == "nodes[0].max_retries"


def test_a_huge_number_in_free_data_does_not_break_error_formatting() -> None:
    # the hex form converts (Python limits decimal digits only): its message must still print
    errs = errors_of(ONE + "    max_tokens: 0x" + "f" * 3000 + "\n")
    assert "max_tokens" in str(SpecError(errs)) and len(str(SpecError(errs))) < 400


@pytest.mark.parametrize("value", ["5", "[[a]]", "[{x: y}]"])
def test_secrets_of_the_wrong_type_are_located(value: str) -> None:
    (err,) = errors_of(f"name: x\nsecrets: {value}\nnodes:\n  - id: a\n    action: b\n")
    assert err.line == 2 and err.path.startswith("secrets")


def test_repeated_problems_are_summarised_and_output_stays_small() -> None:
    body = "".join(f"  - id: n{i}\n    action: b\n    depends_on: [missing]\n" for i in range(2000))
    with pytest.raises(SpecError) as info:
        load_workflow(text="name: x\nnodes:\n" + body)
    text = str(info.value)
    assert "and 1,998 more like this" in text
    assert len(text) < 2000 and "n1999" not in text  # no list of every known node


def test_many_typos_and_missing_ids_stay_small() -> None:
    body = "".join(
        f"  - id: n{i}\n    action: b\n    depend_on: [x]\n    depends_on: [gone{i}]\n"
        for i in range(3000)
    )
    with pytest.raises(SpecError) as info:
        load_workflow(text="name: x\nnodes:\n" + body)
    assert len(str(info.value)) < 3000
    assert "did you mean 'depends_on'" in str(info.value)


def test_unknown_node_suggests_among_thousands() -> None:
    body = "".join(f"  - id: step_{i}\n    action: b\n" for i in range(3000))
    body += "  - id: last\n    action: b\n    depends_on: [step_2999x]\n"
    (err,) = errors_of("name: x\nnodes:\n" + body)
    assert "did you mean 'step_2999'" in err.message and "known nodes" not in err.message


def test_control_characters_in_user_text_are_escaped() -> None:
    errs = errors_of('name: x\nnodes:\n  - id: "a\\e[31mred\\u202e"\n    action: b\n')
    text = str(SpecError(errs))
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b[31mred\\u202e" in text


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\x1b"])
def test_characters_yaml_refuses_are_located(bad: str) -> None:
    errs = errors_of(f"name: x{bad}\nnodes: []\n")
    assert errs[0].line == 1 and "\x00" not in str(SpecError(errs))


def test_merge_keys_work_and_explicit_keys_win() -> None:
    spec = load_workflow(
        text="name: x\nx-base: &base {agent: Bot, action: hi, max_retries: 5}\nnodes:\n"
        "  - <<: *base\n    id: a\n    max_retries: 1\n"
        "  - <<: [*base, {model: m2}]\n    id: b\n"
    )
    assert spec.node("a").agent == "Bot" and spec.node("a").max_retries == 1
    assert spec.node("b").max_retries == 5 and spec.node("b").model == "m2"


def test_a_merge_of_a_scalar_is_located() -> None:
    (err,) = errors_of(ONE + "    <<: 5\n")
    assert "'<<' merges a mapping" in err.message and err.line == 5


def test_nested_default_interpolation() -> None:
    text = ONE.replace("action: b", "action: ${NBW_NOPE_A:-${NBW_NOPE_B:-deep} and $$}")
    assert load_workflow(text=text, use_env=False).node("a").action == "deep and $"
    set_b = load_workflow(text=text, variables={"NBW_NOPE_B": "bee"}, use_env=False)
    assert set_b.node("a").action == "bee and $"
    # a value is never interpolated again
    tricky = load_workflow(text=text, variables={"NBW_NOPE_A": "${HOME}"}, use_env=False)
    assert tricky.node("a").action == "${HOME}"


def test_unset_variable_inside_a_default_is_reported() -> None:
    text = ONE.replace("action: b", "action: ${NBW_NOPE_A:-${NBW_NOPE_B}}")
    (err,) = errors_of(text, use_env=False)
    assert "undefined variable ${NBW_NOPE_B}" in err.message


def test_a_loaded_spec_is_not_changed_by_use() -> None:
    text = ONE + "  - id: b\n    action: c\n    depends_on: [a]\n"
    spec, fresh = load_workflow(text=text), load_workflow(text=text)
    before = dict(spec.__dict__), dict(spec.__pydantic_private__ or {})
    spec.topological_order()
    spec.node("b")
    spec.derived("k", lambda s: 1)
    assert spec == fresh
    assert dict(spec.__dict__) == before[0]
    assert spec.source_text == text and spec.where("b").endswith(":5")


def test_node_lookup_follows_a_copy_with_other_nodes() -> None:
    spec = load_workflow(text=ONE + "  - id: b\n    action: c\n")
    spec.node("a")
    copy = spec.model_copy(update={"nodes": spec.nodes[1:]})
    with pytest.raises(KeyError):
        copy.node("a")


# -- property tests ----------------------------------------------------------------------------

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["a", "b", "routine", "adaptive", "approval", "json", "code", "${X}", "$$"]),
)
_key = st.sampled_from(
    ["id", "action", "agent", "depends_on", "type", "output", "schema", "format", "inputs",
     "node", "file", "max_retries", "secrets", "defaults", "nodes", "name", "<<", "x-y", "staging",
     "sandbox", "timeout", "samples", "entrypoint", "cache"]
)  # fmt: skip
_tree = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_key, inner, max_size=5)),
    max_leaves=25,
)


def _bounded(text: str) -> None:
    """Nothing but SpecError; short messages; generous bounds on memory and CPU time (CPU, not
    wall clock: a loaded machine slows the clock on the wall, not the work done)."""
    cpu = time.process_time()
    tracemalloc.start()
    try:
        try:
            load_workflow(text=text, use_env=False)
        except SpecError as exc:
            assert len(str(exc)) < 20_000
        assert tracemalloc.get_traced_memory()[1] < 50e6
    finally:
        tracemalloc.stop()
    assert time.process_time() - cpu < 10


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_key, _tree, max_size=6))
def test_any_spec_like_tree_is_a_spec_or_a_spec_error(tree: dict[str, object]) -> None:
    _bounded(yaml.safe_dump(tree, allow_unicode=True))


_yaml_alphabet = st.sampled_from(
    [*list("ab:-[]{}&*!|>'\"#%@`,?\n \t<$\\0x9e."), "\x00", "é", "\x1b"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(_yaml_alphabet, max_size=120))
def test_any_text_is_a_spec_or_a_spec_error(text: str) -> None:
    _bounded(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_file_bytes_are_a_spec_or_a_spec_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("spec") / "w.yaml"
    path.write_bytes(b"name: x\nnodes:\n  - id: a\n    action: " + data)
    with contextlib.suppress(SpecError):
        load_workflow(path, use_env=False)


def test_nodes_are_not_written_after_loading() -> None:
    spec = load_workflow(text=ONE + "  - id: b\n    action: c\n    depends_on: [a]\n")
    node = spec.node("b")
    before = dict(node.__dict__)
    assert node.upstream == ("a",)
    assert dict(node.__dict__) == before
    assert node.model_copy(update={"depends_on": ()}).upstream == ()


def test_bytes_text_is_decoded_and_located() -> None:
    assert load_workflow(text=ONE.encode()).node("a").action == "b"
    (err,) = errors_of(b"name: x\nnodes: \xff\n")  # type: ignore[arg-type]
    assert "not UTF-8" in err.message and err.line == 2


@pytest.mark.parametrize(
    "text",
    [
        'name: "evil\\e[2J"\nnodes:\n  - id: a\n    action: b\n',
        'name: x\nmodel: "m\\u202e"\nnodes:\n  - id: a\n    action: b\n',
        'name: x\nnodes:\n  - id: a\n    agent: "\\x07bell"\n    action: b\n',
    ],
)
def test_labels_shown_as_they_are_refuse_control_characters(text: str) -> None:
    (err,) = errors_of(text)
    assert "control characters are not allowed" in err.message
    assert "\x1b" not in str(SpecError([err])) and "\u202e" not in str(SpecError([err]))


def test_the_bounds_hold_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbworkflow.spec import located

    monkeypatch.setattr(located, "_LOADER", located._Slow)
    assert load_workflow(text=ONE).node("a").action == "b"
    (err,) = errors_of("name: x\nnodes: " + "[" * 600 + "]" * 600 + "\n")
    assert "nesting deeper than" in err.message
    (err,) = errors_of("name: x\nnodes: &a [*a]\n")
    assert "contains it" in err.message


def test_a_few_alike_problems_are_all_listed() -> None:
    body = "".join(f"  - id: n{i}\n    depends_on: [gone{i}]\n    action: b\n" for i in range(5))
    errs = errors_of("name: x\nnodes:\n" + body)
    assert [e.message.split(";")[0] for e in errs] == [f"unknown node 'gone{i}'" for i in range(5)]

"""Every spec error is located (file:line:col, node id) and says the fix; the seed's YAML loads."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest

from nbworkflow.exceptions import CycleError, SpecError, SpecIssue
from nbworkflow.spec import json_schema, load_workflow

EXAMPLE = Path(__file__).parents[1] / "examples" / "crm" / "workflow.yaml"

# The article's workflow.yaml, all of it, as published (examples/seed/seed.yaml is this text).
SEED_YAML = """\
name: CRM_Integration_Builder
version: 1.1

nodes:
  - id: analyze_docs
    type: routine
    agent: "Systems Analyst"
    action: "Read CRM OpenAPI spec and extract the User payload schema."

  - id: generate_mapper
    type: routine
    agent: "Backend Engineer"
    depends_on: [analyze_docs]
    action: "Write a Python function 'sync_to_crm(user_dict)'."

  # The self-healing loop (Runs dynamically)
  - id: adaptive_test_loop
    type: adaptive
    agent: "Integration Engineer"
    depends_on: [generate_mapper]
    max_retries: 3
    action: "Execute sync_to_crm against staging. If it fails, adapt the code."
"""


def errors_of(text: str, **kwargs: object) -> list[SpecIssue]:
    with pytest.raises(SpecError) as info:
        load_workflow(text=textwrap.dedent(text), **kwargs)  # type: ignore[arg-type]
    return info.value.errors


def only_error(text: str, **kwargs: object) -> SpecIssue:
    errs = errors_of(text, **kwargs)
    assert len(errs) == 1, errs
    return errs[0]


def test_seed_yaml_loads_as_written() -> None:
    spec = load_workflow(text=SEED_YAML)
    assert spec.name == "CRM_Integration_Builder"
    assert spec.version == "1.1"  # YAML reads 1.1 as a float; we keep the text
    assert [n.id for n in spec.nodes] == ["analyze_docs", "generate_mapper", "adaptive_test_loop"]
    assert spec.node("generate_mapper").depends_on == ("analyze_docs",)
    assert spec.topological_order() == [n.id for n in spec.nodes]
    # What the adaptive node leaves out is inferred when it runs (tests/test_seed.py).
    assert {w.node_id for w in spec.warnings} == {"adaptive_test_loop"}


def test_derived_data_is_kept_per_set_of_nodes() -> None:
    spec = load_workflow(text=SEED_YAML)
    order = spec.topological_order()
    order.reverse()  # callers get their own list
    assert spec.topological_order() == ["analyze_docs", "generate_mapper", "adaptive_test_loop"]
    builds: list[int] = []
    assert spec.derived("k", lambda s: builds.append(1) or len(s.nodes)) == 3
    assert spec.derived("k", lambda s: builds.append(1) or 0) == 3 and builds == [1]
    # A copy with other settings keeps it; a copy with other nodes builds it again.
    assert spec.model_copy(update={"model": "m"}).derived("k", lambda s: -1) == 3
    one = spec.model_copy(update={"nodes": spec.nodes[:1]})
    assert one.derived("k", lambda s: len(s.nodes)) == 1
    assert one.topological_order() == ["analyze_docs"]


def test_example_workflow_loads_and_orders() -> None:
    spec = load_workflow(EXAMPLE)
    order = spec.topological_order()
    assert order[0] == "analyze_docs" and order[-1] == "adaptive_test_loop"
    assert order.index("generate_mapper") < order.index("write_tests")
    adaptive = spec.node("adaptive_test_loop")
    assert adaptive.max_retries == 3
    assert spec.node("write_docs").max_retries == 2  # from defaults:
    assert spec.where("generate_mapper") == f"{EXAMPLE}:18"


def test_yaml_syntax_error_is_located() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    action: [unclosed\n")
    assert "YAML syntax error" in err.message
    assert err.line is not None and err.line >= 4


def test_top_level_must_be_a_mapping() -> None:
    err = only_error("- id: a\n  action: b\n")
    assert "top level must be a mapping" in err.message
    assert err.line == 1


def test_empty_document() -> None:
    err = only_error("")
    assert "empty" in err.message


def test_empty_workflow() -> None:
    err = only_error("name: x\nnodes: []\n")
    assert "no nodes" in err.message and err.line == 2


def test_missing_nodes_and_name() -> None:
    errs = errors_of("version: 1\n")
    messages = " | ".join(e.message for e in errs)
    assert "missing required key 'nodes'" in messages
    assert "missing required key 'name'" in messages


def test_missing_node_id() -> None:
    err = only_error("name: x\nnodes:\n  - action: do it\n")
    assert err.message == "missing required key 'id'"
    assert err.line == 3 and err.path == "nodes[0]"


def test_duplicate_node_ids_point_at_the_second() -> None:
    err = only_error(
        """\
        name: x
        nodes:
          - id: a
            action: one
          - id: a
            action: two
        """
    )
    assert "duplicate node id 'a' (first defined on line 3)" in err.message
    assert err.line == 5 and err.node_id == "a"


def test_unknown_dependency_suggests_close_match() -> None:
    err = only_error(
        """\
        name: x
        nodes:
          - id: analyze_docs
            action: one
          - id: b
            action: two
            depends_on: [analyse_docs]
        """
    )
    assert "unknown node 'analyse_docs' (did you mean 'analyze_docs'?)" in err.message
    assert (err.line, err.col, err.node_id) == (7, 18, "b")
    assert str(err).startswith("<workflow>:7:18: node 'b': ")


def test_self_dependency() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    action: b\n    depends_on: a\n")
    assert "depends on itself" in err.message and err.line == 5


def test_cycle_is_printed_in_order() -> None:
    with pytest.raises(CycleError) as info:
        load_workflow(
            text=textwrap.dedent(
                """\
                name: x
                nodes:
                  - id: a
                    action: one
                    depends_on: [c]
                  - id: b
                    action: two
                    depends_on: [a]
                  - id: c
                    action: three
                    depends_on: [b]
                """
            )
        )
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    assert " -> ".join(cycle) in str(info.value)
    # Each step of the printed cycle is a real edge, in run order.
    edges = {("c", "a"), ("a", "b"), ("b", "c")}
    assert set(itertools.pairwise(cycle)) == edges


def test_unknown_key_did_you_mean() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    action: b\n    depend_on: [c]\n")
    assert err.message == "unknown key 'depend_on' (did you mean 'depends_on'?)"
    assert (err.line, err.col, err.node_id) == (5, 5, "a")


def test_unknown_top_level_key() -> None:
    err = only_error("name: x\nmax_concurency: 3\nnodes:\n  - id: a\n    action: b\n")
    assert "did you mean 'max_concurrency'" in err.message and err.line == 2


def test_wrong_type() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    action: b\n    max_retries: lots\n")
    assert "max_retries" in err.message and "'lots'" in err.message and err.line == 5


def test_unknown_node_type() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    type: adaptiv\n    action: b\n")
    assert "unknown node type 'adaptiv' (did you mean 'adaptive'?)" in err.message
    assert err.line == 4


def test_max_retries_out_of_range() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    action: b\n    max_retries: 50\n")
    assert err.message == "max_retries must be between 0 and 10, got 50"
    assert err.line == 5


def test_all_errors_reported_not_only_the_first() -> None:
    errs = errors_of(
        """\
        name: x
        nodes:
          - id: a
            action: one
            depend_on: [b]
          - id: b
            type: routin
            action: two
          - id: c
            action: three
            max_retries: -1
        """
    )
    assert [e.line for e in errs] == [5, 7, 11]


def test_routine_node_rejects_adaptive_fields() -> None:
    err = only_error("name: x\nnodes:\n  - id: a\n    action: b\n    entrypoint: f\n")
    assert "only applies to adaptive nodes" in err.message and err.line == 5


def test_adaptive_node_without_entrypoint_or_check_loads_with_warnings() -> None:
    # The run infers them (nodes.adaptive.infer) or fails naming the field: warn, don't refuse.
    spec = load_workflow(text="name: x\nnodes:\n  - id: a\n    type: adaptive\n    action: b\n")
    assert [(w.severity, w.line, w.node_id) for w in spec.warnings] == [("warning", 3, "a")] * 2
    text = " | ".join(w.message for w in spec.warnings)
    assert "no 'entrypoint'" in text and "nothing to check against" in text
    # An error elsewhere still refuses the spec, and lists only the errors.
    errs = errors_of("name: x\nnodes:\n  - id: a\n    type: adaptive\n    action: ''\n")
    assert [e.severity for e in errs] == ["error"] and "missing 'action'" in errs[0].message


def test_defaults_apply_and_are_validated() -> None:
    spec = load_workflow(
        text="name: x\ndefaults:\n  max_retries: 5\n  timeout: 30\nnodes:\n  - id: a\n    action: b\n"
        "  - id: c\n    action: d\n    max_retries: 1\n"
    )
    assert spec.node("a").max_retries == 5 and spec.node("a").timeout == 30
    assert spec.node("c").max_retries == 1
    err = only_error("name: x\ndefaults:\n  max_retires: 5\nnodes:\n  - id: a\n    action: b\n")
    assert "did you mean 'max_retries'" in err.message and err.line == 3


def test_interpolation_from_variables_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBW_TEST_PERSONA", "Env Persona")
    text = "name: x\nnodes:\n  - id: a\n    agent: ${NBW_TEST_PERSONA}\n    action: use ${TABLE} and $${LITERAL} ${MISSING:-dflt}\n"
    spec = load_workflow(text=text, variables={"TABLE": "users"})
    assert spec.node("a").agent == "Env Persona"
    assert spec.node("a").action == "use users and ${LITERAL} dflt"
    assert spec.source_text == text  # the raw text keeps ${VAR}: no secret in run folders
    err = only_error("name: x\nnodes:\n  - id: a\n    action: ${NOPE_NOT_SET_ANYWHERE}\n")
    assert "undefined variable ${NOPE_NOT_SET_ANYWHERE}" in err.message and err.line == 4


def test_inputs_shorthand_and_node_refs_become_dependencies() -> None:
    spec = load_workflow(
        text="name: x\nnodes:\n  - id: a\n    action: b\n  - id: c\n    action: d\n"
        "    inputs: [notes.md, {node: a}]\n"
    )
    node = spec.node("c")
    assert node.inputs[0].file == "notes.md"
    assert node.upstream == ("a",)
    assert spec.topological_order() == ["a", "c"]


def test_inputs_are_named_to_the_model_by_file_name_not_by_location() -> None:
    spec = load_workflow(
        text="name: x\nnodes:\n  - id: a\n    action: b\n"
        "    inputs: [/home/ada/work/notes.md, {file: ../spec.yaml, name: the spec}, "
        "{url: 'https://example.com/api.json'}]\n"
    )
    labels = [i.label for i in spec.node("a").inputs]
    assert labels == ["notes.md", "the spec", "https://example.com/api.json"]


def test_output_shorthand_and_json_schema() -> None:
    spec = load_workflow(
        text="name: x\nnodes:\n  - id: a\n    action: b\n    output: code\n"
        "  - id: j\n    action: k\n    output: {format: json, schema: {type: object}}\n"
    )
    assert spec.node("a").output.format == "code"
    assert spec.node("j").output.json_schema == {"type": "object"}


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the workflow file"):
        load_workflow(tmp_path / "nope.yaml")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("name: x\nnodes:\n  - id: a\n    action: b\n    depends_on: [zz]\n")
    with pytest.raises(SpecError) as info:
        load_workflow(path)
    assert str(info.value.errors[0]).startswith(f"{path}:5:")


def test_json_schema_is_published_and_describes_nodes() -> None:
    schema = json_schema()
    json.dumps(schema)
    assert "nodes" in schema["properties"]
    node_def = schema["$defs"]["NodeSpec"]
    assert set(node_def["properties"]) >= {
        "id",
        "type",
        "agent",
        "action",
        "depends_on",
        "max_retries",
    }
    assert node_def["properties"]["max_retries"]["maximum"] == 10


def test_references_of_an_invalid_node_are_still_checked() -> None:
    errs = errors_of(
        """\
        name: x
        nodes:
          - id: analyze_docs
            action: one
          - id: c
            action: two
            depends_on: [analyse_docs]
            max_retries: 50
        """
    )
    assert [(e.line, e.node_id) for e in errs] == [(7, "c"), (8, "c")]
    assert "unknown node 'analyse_docs' (did you mean 'analyze_docs'?)" in errs[0].message


def test_errors_never_echo_a_secret_variables_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SERVICE_TOKEN", "plumharbor-4417")
    monkeypatch.setenv("DB_PASS_FILE_SETTING", "otterviolet-22")
    errs = errors_of(
        "name: x\nsecrets: [DB_PASS_FILE_SETTING]\nnodes:\n  - id: a\n    action: b\n"
        "    max_retries: ${ACME_SERVICE_TOKEN}\n    timeout: ${DB_PASS_FILE_SETTING}\n"
        "    temperature: ${NOT_SECRET:-warm}\n"
    )
    text = "\n".join(e.message for e in errs)
    assert len(errs) == 3
    assert "plumharbor-4417" not in text and "otterviolet-22" not in text
    assert "'${ACME_SERVICE_TOKEN}'" in text and "'${DB_PASS_FILE_SETTING}'" in text
    assert "'warm'" in text  # an ordinary value is still shown


def test_warnings_are_bounded_like_errors() -> None:
    nodes = "".join(f"  - id: n{i}\n    type: adaptive\n    action: a\n" for i in range(2000))
    spec = load_workflow(text="name: x\nnodes:\n" + nodes)
    assert len(spec.nodes) == 2000
    assert 0 < len(spec.warnings) <= 130
    assert all(w.severity == "warning" for w in spec.warnings)
    assert any("more like this" in w.message for w in spec.warnings)

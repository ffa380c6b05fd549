"""Every nbworkflow error survives pickling with its message and fields (Dask sends them back)."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from typing import Any

import pytest

import nbworkflow
from nbworkflow.exceptions import (
    CycleError,
    NodeFailed,
    OutputValidationError,
    ProviderError,
    SpecError,
    SpecIssue,
    StagingError,
    WorkflowError,
)

ISSUES = [SpecIssue("unknown node 'x'", "w.yaml", 3, 5, "nodes[0].depends_on", "a")]


def _examples() -> dict[str, Any]:
    from nbworkflow.approval import ApprovalRequest, WaitingForHuman

    request = ApprovalRequest("run-1", "gate", 2, "approval", "approve the output", code="x = 1")
    return {
        "SpecError": SpecError(ISSUES),
        "CycleError": CycleError(ISSUES, ["a", "b", "a"]),
        "ProviderError": ProviderError("rate limited", status_code=429, retryable=True),
        "OutputValidationError": OutputValidationError("bad", attempts=3, last_response="{oops"),
        "StagingError": StagingError("down", status_code=503),
        "NodeFailed": NodeFailed("mapper", "it broke"),
        "WaitingForHuman": WaitingForHuman(request, {"attempt": 2}),
    }


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


def _import_everything() -> None:
    for info in pkgutil.walk_packages(nbworkflow.__path__, "nbworkflow."):
        if info.name.endswith(".__main__"):  # runs a command when imported
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra (docker, dask...) not installed
            continue


def _fields(error: BaseException) -> dict[str, Any]:
    return dict(vars(error))


def test_every_workflow_error_pickles_with_its_fields() -> None:
    _import_everything()
    examples = _examples()
    classes = [WorkflowError, *_all_subclasses(WorkflowError)]
    assert {"SpecError", "CycleError", "NodeFailed", "OutputValidationError"} <= {
        c.__name__ for c in classes
    }
    for cls in classes:
        error = examples.get(cls.__name__)
        if error is None or type(error) is not cls:
            try:
                error = cls("something went wrong")
            except TypeError:
                pytest.fail(f"{cls.__module__}.{cls.__name__}: add an example to _examples()")
        error.extra_note = "fields set later survive too"  # type: ignore[attr-defined]
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is cls
        assert str(back) == str(error), cls
        assert back.args == error.args, cls
        assert _fields(back) == _fields(error), cls


def test_named_fields_after_round_trip() -> None:
    cycle = pickle.loads(pickle.dumps(CycleError(ISSUES, ["a", "b", "a"])))
    assert cycle.cycle == ["a", "b", "a"] and cycle.errors == ISSUES
    assert isinstance(cycle, SpecError) and isinstance(cycle, ValueError)
    node = pickle.loads(pickle.dumps(NodeFailed("mapper", "it broke")))
    assert (node.node_id, node.reason, str(node)) == (
        "mapper",
        "it broke",
        "node 'mapper' failed: it broke",
    )
    out = pickle.loads(pickle.dumps(OutputValidationError("bad", attempts=3, last_response="{x")))
    assert (out.attempts, out.last_response, out.retryable) == (3, "{x", False)


def test_specs_results_and_events_pickle_with_their_fields(tmp_path: Any) -> None:
    from nbworkflow import events as ev
    from nbworkflow.agents import ScriptedProvider
    from nbworkflow.batch.result import ItemOutput, ItemResult
    from nbworkflow.engine import run_workflow
    from nbworkflow.spec import load_workflow

    spec = load_workflow(
        text="name: p\nnodes:\n  - id: a\n    action: hi ${WHO}\n", variables={"WHO": "you"}
    )
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec
    assert (back.source_text, back.variables, back.where("a")) == (
        spec.source_text,
        {"WHO": "you"},
        spec.where("a"),
    )
    run = run_workflow(
        spec,
        provider=ScriptedProvider({"a": {"rationale": "r", "content": "done"}}),
        runs_dir=tmp_path,
    )
    again = pickle.loads(pickle.dumps(run))
    assert again.status == run.status and again.outputs == run.outputs
    assert again.state.nodes["a"].status == run.state.nodes["a"].status
    from nbworkflow.runlog import read_events

    for event in read_events(run.run_dir):
        assert pickle.loads(pickle.dumps(event)) == event
    item = ItemResult(0, "k", "p", {"x": 1}, "succeeded", outputs={"a": ItemOutput("text", "done")})
    assert pickle.loads(pickle.dumps(item)) == item
    assert ev.RunStatus.SUCCEEDED is pickle.loads(pickle.dumps(ev.RunStatus.SUCCEEDED))

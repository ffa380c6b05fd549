"""Structure: the public API is complete and the layering rule holds (ARCHITECTURE.md §1)."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import nbworkflow

SRC = Path(nbworkflow.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert nbworkflow.__all__ == sorted(nbworkflow.__all__)
    for name in nbworkflow.__all__:
        assert getattr(nbworkflow, name) is not None, name
    public = {n for n in vars(nbworkflow) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(nbworkflow.__all__), public - set(nbworkflow.__all__)


def test_importing_the_core_pulls_in_no_ui_and_no_sdk() -> None:
    code = (
        "import sys, nbworkflow, nbworkflow.engine, nbworkflow.cli, nbworkflow.spec, "
        "nbworkflow.runlog, nbworkflow.sanitize, nbworkflow.agents, nbworkflow.nodes.routine\n"
        "bad = [m for m in ('IPython', 'ipywidgets', 'anthropic', 'docker') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_layering_rule_by_source() -> None:
    """IPython only under magics/, ipywidgets only in widgets/view.py, widgets/batch.py and
    magics/, anthropic only in agents/anthropic.py, docker only under sandbox/."""
    allowed = {
        "IPython": ("magics/",),
        "ipywidgets": ("magics/", "widgets/view.py", "widgets/batch.py"),
        "anthropic": ("agents/anthropic.py",),
        "docker": ("sandbox/",),
    }
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        for module in _imports(path) & set(allowed):
            if not rel.startswith(allowed[module]):
                offenders.append(f"{rel} imports {module}")
    assert offenders == []


def test_every_exception_is_a_workflow_error() -> None:
    from nbworkflow import exceptions

    for name in exceptions.__all__:
        obj = getattr(exceptions, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, exceptions.WorkflowError), name


def test_every_free_text_event_field_passes_the_sanitizer() -> None:
    """Events are the one way error text leaves a run (widget, CLI, log, notebook): every
    free-text field of every event class must be in the engine's redaction table."""
    from nbworkflow import engine
    from nbworkflow import events as ev

    structural = {
        "run_id",
        "kind",
        "node_id",
        "purpose",
        "workflow",
        "provider",
        "model",
        "error_type",
        "artifact",
        "blocked_by",
        "resumed_from",
        "restored_from",
        "spec_file",
        "verdict",
        "counts",
    }
    for cls in (ev.RunStarted, ev.RunFinished, *ev.NODE_EVENTS):
        hints = typing.get_type_hints(cls)
        text_fields = {
            f.name
            for f in dataclasses.fields(cls)
            if hints[f.name] in (str, str | None) and f.name not in structural
        }
        covered = set(engine._TEXT_FIELDS.get(cls, ()))
        assert text_fields <= covered, f"{cls.__name__}: {text_fields - covered} not sanitized"
        # Free-form containers (decision data, a waiting node's log) are sanitized whole.
        containers = {
            f.name
            for f in dataclasses.fields(cls)
            if typing.get_origin(hints[f.name]) in (dict, list) and f.name not in structural
        }
        nested = set(engine._NESTED_FIELDS.get(cls, ()))
        assert containers <= nested, f"{cls.__name__}: {containers - nested} not sanitized"


def test_model_prompts_are_built_from_sanitized_text() -> None:
    """Error text reaches a model only through the adaptive node, which sanitizes it."""
    source = (SRC / "nodes" / "adaptive.py").read_text(encoding="utf-8")
    assert "sanitize(" in source

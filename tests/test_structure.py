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
    free-text field of every event class is marked ``Text``/``Tree``, which is what the event
    bus reads to sanitize it (no table elsewhere to keep in step)."""
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
        "artifact_sha256",  # a hex digest the run writer adds as it writes the line
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
        marked_text, marked_trees = ev.redacted_fields(cls)
        assert text_fields <= set(marked_text), f"{cls.__name__}: {text_fields - set(marked_text)}"
        containers = {
            f.name
            for f in dataclasses.fields(cls)
            if typing.get_origin(hints[f.name]) in (dict, list) and f.name not in structural
        }
        assert containers <= set(marked_trees), f"{cls.__name__}: {containers - set(marked_trees)}"


def test_the_event_bus_sanitizes_exactly_the_marked_fields() -> None:
    from nbworkflow import events as ev
    from nbworkflow.engine.bus import redact_event

    secret = "AKIA" + "IOSFODNN7EXAMPLE"
    event = ev.NodeWaiting(
        run_id="r",
        node_id="n",
        reason=f"r {secret}",
        code=f"c {secret}",
        log=[{"error": f"e {secret}"}],
        data={"nested": [f"d {secret}"]},
    )
    clean = redact_event(event, lambda t: t.replace(secret, "[X]"))
    assert secret not in ev.event_to_json(clean)  # type: ignore[arg-type]
    assert clean.node_id == "n"  # type: ignore[union-attr]


def test_model_prompts_are_built_from_sanitized_text(tmp_path: Path) -> None:
    """Everything the adaptive node shows the model passes the sanitizer (not only the run's
    known secret values): credentials the sanitizer recognises by shape, planted in the code a
    model wrote, in the staging error body and in the exception the code raised, never reach
    a model request. Deleting the sanitize call of the prompt builder turns this red."""
    from tests.test_adaptive import GOOD, URL, Staging, load, run_heal, spec_text

    # Random-looking values: alphabet runs and AWS's documented EXAMPLE key are placeholders
    # that the sanitizer keeps on purpose.
    github = "ghp_" + "R7d9Kq2LmX4vB8nT1wZc6YpF3sHj0GaE5uNi"
    aws = "AKIA" + "Q3ZT7LWJ5RNX2HBD"
    anthropic = "sk-ant-api03-" + "Zx81QwErTy5uIoPa3sDfGh7jKl0ZxCvBnM2qWe"
    code = (
        f"TOKEN = {github!r}  # a model hard-coded a credential\n"
        "def sync_to_crm(user):\n"
        f"    raise KeyError({anthropic!r})\n"
    )
    staging = Staging((422, {"message": f"bad payload, key {aws}", "detail": []}), 201)
    answers = iter(
        [
            {"rationale": "keep the token", "code": code.replace("    raise", "    return {}#")},
            {"rationale": "fixed", "code": GOOD},
        ]
    )
    run = run_heal(
        load(spec_text(URL, max_retries=3)),
        tmp_path,
        code=code,
        responder=lambda _request: next(answers),
        transport=staging.transport(),
    )
    prompts = [m.content for r in run.adapt_requests() for m in r.messages]
    assert len(prompts) >= 2, "the loop must have asked for rewrites (exception, then 422)"
    for secret in (github, aws, anthropic):
        assert not [p for p in prompts if secret in p], f"{secret[:8]}... reached the model"
    assert any("[REDACTED:" in p for p in prompts)

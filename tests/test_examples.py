"""The shipped example runs end to end, offline: the README's main job."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbworkflow import events as ev
from nbworkflow.cli import main
from nbworkflow.runlog import list_runs, read_events

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(
    "provider",
    [["--provider", "auto"], ["--provider", "scripted", "--script", "examples/crm/script.yaml"]],
    ids=["recorded-cassette", "scripted"],
)
def test_demo_heals_the_seed_scenario(
    provider: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code = main(["demo", *provider, "--runs-dir", str(tmp_path), "-q"])
    out = capsys.readouterr()
    assert code == 0, out.err
    (run,) = list_runs(tmp_path)
    events = read_events(run.path)
    started = events[0]
    assert isinstance(started, ev.RunStarted)
    assert started.provider == ("replay" if "auto" in provider else "scripted")
    verdicts = [
        e.verdict
        for e in events
        if isinstance(e, ev.Decision) and e.node_id == "adaptive_test_loop"
    ]
    assert verdicts == ["adapt", "success"]  # 422 -> rewrite -> 201
    healed = (run.path / "artifacts" / "adaptive_test_loop.py").read_text()
    assert "customer_tier" in healed
    assert "attempt 2 [success]" in out.out  # the decision log is printed


def test_demo_names_what_an_example_folder_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--example", str(tmp_path)]) != 0
    assert "no example at" in capsys.readouterr().err
    (tmp_path / "workflow.yaml").write_text((ROOT / "examples/crm/workflow.yaml").read_text())
    assert main(["demo", "--example", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "no OpenAPI document at" in err and "crm_openapi.yaml" in err
    assert "Traceback" not in err

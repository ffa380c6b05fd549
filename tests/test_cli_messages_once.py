"""The CLI says each node's reason once: why a node failed (the one-line "no network: ..."
included) and why a node waits. On a terminal the live board's final drawing keeps a failure's
reason and the summary does not repeat it; in plain lines (a log file, CI) and with ``-q`` the
summary keeps it and the progress lines only say what happened; a waiting node's reason is
said once, next to how to answer it."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from nbworkflow.agents.guard import allow_model_requests
from nbworkflow.cli import execute

SPEC = """\
name: once
nodes:
  - id: fetch
    action: fetch the records
  - id: summarise
    action: summarise them
    depends_on: [fetch]
  - id: report
    action: report on it
    depends_on: [summarise]
"""
WAITING_SPEC = """\
name: once waiting
nodes:
  - id: fetch
    action: fetch the records
  - id: sign_off
    type: approval
    depends_on: [fetch]
"""
NO_ANSWER = "the script has no answer for node 'summarise'"
SKIPPED = "upstream node 'summarise' failed"
WAITS = "approve the output of 'fetch'"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cli_run(tmp_path: Path, spec: str, script: str, *, live: bool, quiet: bool = False) -> str:
    (tmp_path / "wf.yaml").write_text(spec)
    (tmp_path / "script.yaml").write_text(script)
    stream = io.StringIO()
    execute(
        str(tmp_path / "wf.yaml"),
        provider="scripted",
        provider_options={"script": str(tmp_path / "script.yaml")},
        variables={},
        runs_dir=str(tmp_path / "runs"),
        live=live,
        quiet=quiet,
        stream=stream,
        cache=False,
    )
    return ANSI.sub("", stream.getvalue())


@pytest.mark.parametrize(("live", "quiet"), [(False, False), (True, False), (False, True)])
def test_a_failure_and_its_skip_are_said_once(tmp_path: Path, live: bool, quiet: bool) -> None:
    out = cli_run(tmp_path, SPEC, "fetch: {content: rows}\n", live=live, quiet=quiet)
    assert out.count(NO_ANSWER) == 1, out
    assert out.count(SKIPPED) == 1, out
    table = re.search(r"^node +status", out, re.M)
    assert table is not None, out
    summary = out[table.start() :]
    # Under the summary when the output is plain lines (or -q); on the board when it is live.
    assert (NO_ANSWER in summary) is not live
    assert (SKIPPED in summary) is not live
    if not quiet and not live:
        assert "  ✘ summarise failed\n" in out and "  ⤼ report skipped\n" in out


@pytest.mark.parametrize("live", [False, True])
def test_a_waiting_nodes_reason_is_said_once_next_to_how_to_answer(
    tmp_path: Path, live: bool
) -> None:
    out = cli_run(tmp_path, WAITING_SPEC, "fetch: {content: rows}\n", live=live)
    assert out.count(WAITS) == 1, out
    help_at = out.index("waiting for a human decision")
    assert out.index(WAITS) > help_at and "--approve sign_off" in out[help_at:]


def test_the_live_board_cuts_a_long_reason_while_running_and_ends_with_it_whole(
    tmp_path: Path,
) -> None:
    from nbworkflow import events as ev
    from nbworkflow.cli.progress import BOARD_CHARS, Progress

    why = "no network: cannot resolve api.example.com; " + "x" * 100
    stream = io.StringIO()
    board = Progress(stream, live=True)
    nodes = (ev.NodeInfo(id="a", type="routine"), ev.NodeInfo(id="b", type="routine"))
    board(ev.RunStarted(run_id="r", workflow="w", provider="p", nodes=nodes))
    board(ev.NodeStarted(run_id="r", node_id="a"))
    board(ev.NodeFailed(run_id="r", node_id="a", error_type="ProviderError", message=why))
    board._draw_board()  # a redraw while b still runs (the throttle may have skipped one)
    assert why not in stream.getvalue() and why[: BOARD_CHARS - 1] in stream.getvalue()
    assert board.said == set()
    board(ev.RunFinished(run_id="r", status=ev.RunStatus.FAILED, duration_s=1.0, counts={}))
    assert stream.getvalue().count(why) == 1 and board.said == {"a"}


def test_no_network_is_said_once_on_the_cli(tmp_path: Path) -> None:
    """The issue's case: an API key, no network; the provider's one line, once."""
    (tmp_path / "wf.yaml").write_text(SPEC)
    for live in (False, True):
        stream = io.StringIO()
        with allow_model_requests():
            code = execute(
                str(tmp_path / "wf.yaml"),
                provider="openai",
                provider_options={"api_key": "sk-test", "base_url": "https://nbw-test.invalid/v1"},
                variables={},
                runs_dir=str(tmp_path / "runs"),
                live=live,
                stream=stream,
                cache=False,
            )
        out = stream.getvalue()
        assert code == 1
        assert out.count("no network: cannot resolve nbw-test.invalid") == 1, out

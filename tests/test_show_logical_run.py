"""``%workflow show RUN`` draws a logical run (one across approvals) from any of its ids: its
last segment, which holds every node's latest state, and it says which segment it drew."""

from __future__ import annotations

from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nbworkflow.staging import OpenAPIMock
from tests.test_approval_widget import shell
from tests.test_run_segments import approved_run, crm

__all__ = ["crm", "shell"]  # fixtures, used by name


def show(ip: InteractiveShell, line: str) -> tuple[str, str]:
    """What ``%workflow show`` printed, and the HTML it displayed."""
    with capture_output() as cap:
        ip.run_line_magic("workflow", f"show {line}")
    return cap.stdout, cap.outputs[-1].data["text/html"]


def test_show_draws_the_last_segment_from_any_segments_id(
    crm: OpenAPIMock, tmp_path: Path, shell: InteractiveShell
) -> None:
    first, second = approved_run(crm, tmp_path)
    root = tmp_path / "runs"
    drawn = []
    for ref in (first, first[-4:], second):
        said, html = show(shell, f"{ref} --runs-dir {root}")
        assert said.strip() == f"run {first}: segment 2/2 (run {second}, its last)"
        # The run after the approval, not the question before it.
        assert f'data-run-id="{second}"' in html
        assert 'data-run-status="succeeded"' in html and "waiting" not in html.split(">")[0]
        assert str(root / second) in html  # its own folder, for its artifacts
        drawn.append(html)
    assert drawn[0] == drawn[1] == drawn[2]


def test_show_falls_back_to_the_last_readable_segment_and_says_why(
    crm: OpenAPIMock, tmp_path: Path, shell: InteractiveShell
) -> None:
    first, second = approved_run(crm, tmp_path)
    root = tmp_path / "runs"
    events = root / second / "events.jsonl"
    events.write_bytes(b"\xff{not json\n" + events.read_bytes())
    said, html = show(shell, f"{second} --runs-dir {root}")
    assert said.startswith(f"run {first}: segment 1/2 (run {first}, its last readable; ")
    assert "corrupt event line" in said
    assert f'data-run-id="{first}"' in html and 'data-run-status="waiting"' in html
    events.write_bytes(b"")  # nothing in it at all: said too, never an empty drawing
    said, html = show(shell, f"{first} --runs-dir {root}")
    assert "its last readable; " in said and "holds no event" in said
    assert f'data-run-id="{first}"' in html


def test_a_run_never_resumed_is_drawn_without_a_note(
    crm: OpenAPIMock, tmp_path: Path, shell: InteractiveShell
) -> None:
    first, _ = approved_run(crm, tmp_path)
    root = tmp_path / "runs"
    alone = tmp_path / "alone"
    alone.mkdir()
    (root / first).rename(alone / first)
    said, html = show(shell, f"{first} --runs-dir {alone}")
    assert said == "" and f'data-run-id="{first}"' in html

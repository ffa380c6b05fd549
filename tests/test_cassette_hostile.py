"""Damaged cassettes (issue 15): a ProviderError naming the line, never a raw exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbworkflow.agents.replay import ReplayProvider, load_cassette
from nbworkflow.cli import main as cli
from nbworkflow.exceptions import ProviderError

HEADER = json.dumps({"cassette": "nbworkflow", "version": 1})
ENTRY = {
    "key": "k",
    "occurrence": 0,
    "node_id": "a",
    "purpose": "answer",
    "attempt": 1,
    "request": {"model": "m", "system": "s", "messages": [{"role": "user", "content": "x"}]},
    "response": {"text": "hi", "input_tokens": 1, "output_tokens": 1},
}


def write(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_good_entry_loads(tmp_path: Path) -> None:
    (entry,) = load_cassette(write(tmp_path, HEADER.encode(), json.dumps(ENTRY).encode()))
    assert entry.to_response().text == "hi" and entry.to_request().messages[0].content == "x"


@pytest.mark.parametrize(
    "line",
    [
        b'{"key": "k", "node_id": "a", "request": {}, "response": {"text": "\xff"}}',
        b"[" * 50_000,
        json.dumps({**ENTRY, "request": {"messages": [5]}}).encode(),
        json.dumps({**ENTRY, "response": {"input_tokens": "many"}}).encode(),
        json.dumps({**ENTRY, "occurrence": -1}).encode(),
        b"[]",
        b"null",
    ],
    ids=["not-utf8", "deep", "message-not-mapping", "tokens-text", "negative", "list", "null"],
)
def test_a_damaged_line_is_named(tmp_path: Path, line: bytes) -> None:
    path = write(tmp_path, HEADER.encode(), json.dumps(ENTRY).encode(), line)
    with pytest.raises(ProviderError, match=r"c\.jsonl:3: not a cassette entry"):
        load_cassette(path)


def test_run_with_a_non_utf8_cassette_exits_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "wf.yaml").write_text("name: x\nnodes:\n  - id: a\n    action: b\n")
    cassette = write(tmp_path, HEADER.encode(), b'{"key": "\xff\xfe"}')
    code = cli(
        ["run", str(tmp_path / "wf.yaml"), "--provider", "replay", "--cassette", str(cassette),
         "--runs-dir", str(tmp_path / "runs")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "c.jsonl:2" in err and "Traceback" not in err


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.binary(max_size=80) | st.sampled_from([b"{}", b'{"key": 1}']), max_size=4))
def test_any_cassette_bytes_load_or_raise_provider_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("c") / "c.jsonl"
    path.write_bytes(b"\n".join([HEADER.encode(), json.dumps(ENTRY).encode(), *lines]))
    try:
        provider = ReplayProvider(path)
    except ProviderError:
        return
    assert provider.entries[0].to_response().text == "hi"

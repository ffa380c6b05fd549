"""Recording model calls to a cassette and replaying them offline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nbworkflow import events as ev
from nbworkflow.agents import ScriptedProvider, resolve_provider
from nbworkflow.agents.base import Message, ModelRequest, ModelResponse
from nbworkflow.agents.replay import (
    RecordingProvider,
    ReplayProvider,
    describe_difference,
    load_cassette,
    request_fields,
)
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import ProviderError
from nbworkflow.spec import load_workflow
from nbworkflow.testing import MessagesServer, ReceivedRequest, Reply, message_reply

T = TypeVar("T")
KEY = "sk-ant-replay-test-key-0000"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def req(node: str = "n1", text: str = "# Task\nDo it", **kwargs: Any) -> ModelRequest:
    base: dict[str, Any] = {
        "node_id": node,
        "model": "claude-x",
        "system": "You are a Backend Engineer.",
        "messages": (Message("user", text),),
        "output_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    base.update(kwargs)
    return ModelRequest(**base)


async def calls(provider: Any, requests: list[ModelRequest]) -> list[ModelResponse]:
    try:
        return [await provider.complete(r) for r in requests]
    finally:
        await provider.aclose()


def record(tmp_path: Path, script: dict[str, Any], requests: list[ModelRequest]) -> Path:
    cassette = tmp_path / "c.jsonl"
    run(calls(RecordingProvider(ScriptedProvider(script), cassette), requests))
    return cassette


# --- the cassette -----------------------------------------------------------------------------


def test_cassette_is_append_only_jsonl_keyed_by_cache_key(tmp_path: Path) -> None:
    first, second = req(), req("n2", "other")
    cassette = record(tmp_path, {"n1": "one", "n2": "two"}, [first, second])
    lines = cassette.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"cassette": "nbworkflow", "version": 1}
    entries = [json.loads(line) for line in lines[1:]]
    assert [e["key"] for e in entries] == [first.cache_key(), second.cache_key()]
    assert entries[0]["request"] == request_fields(first)
    assert entries[0]["response"]["text"] == "one"
    assert set(entries[0]) == {
        "key", "occurrence", "node_id", "purpose", "attempt", "vendor", "request", "response",
        "recorded_at",
    }  # fmt: skip
    # A second session appends; it never rewrites.
    record(tmp_path, {"n1": "again"}, [first])
    assert cassette.read_text(encoding="utf-8").splitlines()[:3] == lines
    assert len(cassette.read_text(encoding="utf-8").splitlines()) == 4


def test_replay_serves_recorded_answers_with_tokens(tmp_path: Path) -> None:
    cassette = record(tmp_path, {"n1": {"a": "x"}}, [req()])
    [response] = run(calls(ReplayProvider(cassette), [req()]))
    assert json.loads(response.text) == {"a": "x"}
    assert response.input_tokens > 0 and response.output_tokens > 0
    assert response.meta["replayed"] is True


def test_identical_requests_replay_in_order(tmp_path: Path) -> None:
    same = [req(), req(), req()]
    cassette = record(tmp_path, {"n1": ["first", "second", "third"]}, same)
    entries = load_cassette(cassette)
    assert [e.occurrence for e in entries] == [0, 1, 2]
    assert len({e.key for e in entries}) == 1
    provider = ReplayProvider(cassette)
    texts = [r.text for r in run(calls(provider, same))]
    assert texts == ["first", "second", "third"]
    # aclose() rewound: a new run replays from the first occurrence; a fourth ask is a miss.
    with pytest.raises(ProviderError, match="3 time\\(s\\), and it is asked once more"):
        run(calls(provider, [*same, req()]))


def test_re_recording_appends_and_the_later_line_wins(tmp_path: Path) -> None:
    cassette = record(tmp_path, {"n1": "old"}, [req()])
    record(tmp_path, {"n1": "new"}, [req()])
    [response] = run(calls(ReplayProvider(cassette), [req()]))
    assert response.text == "new"


# --- misses say what changed ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        ({"system": "You are a QA Engineer."}, "system prompt", "+You are a QA Engineer."),
        ({"messages": (Message("user", "# Task\nDo it better"),)}, "message text", "+Do it better"),
        ({"model": "claude-y"}, "model", "'claude-y' now, 'claude-x' recorded"),
        ({"output_schema": {"type": "object"}}, "output schema", '- "properties": {'),
        ({"max_tokens": 99}, "max_tokens", "99 now, 4096 recorded"),
    ],
)
def test_miss_names_the_node_and_what_changed(
    tmp_path: Path, change: dict[str, Any], field: str, detail: str
) -> None:
    cassette = record(tmp_path, {"n1": "x", "n2": "y"}, [req(), req("n2", "unrelated")])
    with pytest.raises(ProviderError) as info:
        run(calls(ReplayProvider(cassette), [replace(req(), **change)]))
    message = str(info.value)
    assert "node 'n1'" in message
    assert f"differs in: {field}\n" in message
    assert detail in message
    assert "--record" in message


def test_miss_for_an_unknown_node_suggests_a_close_one(tmp_path: Path) -> None:
    cassette = record(tmp_path, {"generate_mapper": "x"}, [req("generate_mapper")])
    with pytest.raises(ProviderError) as info:
        run(calls(ReplayProvider(cassette), [req("generate_maper", text="renamed")]))
    assert "node 'generate_maper'" in str(info.value)
    assert "did you mean 'generate_mapper'" in str(info.value)


def test_nearest_request_is_chosen_among_the_nodes_calls(tmp_path: Path) -> None:
    repair = req(messages=(Message("user", "a"), Message("assistant", "b"), Message("user", "c")))
    cassette = record(tmp_path, {"n1": ["x", "y"]}, [req(text="a"), repair])
    wanted = replace(repair, messages=(*repair.messages[:2], Message("user", "c2")))
    with pytest.raises(ProviderError) as info:
        run(calls(ReplayProvider(cassette), [wanted]))
    message = str(info.value)
    assert "line 3" in message  # the repair entry, not the first call
    assert "message text changed in message 3 (user)" in message


def test_describe_difference_counts_messages() -> None:
    old = request_fields(req())
    new = request_fields(req(messages=(Message("user", "x"), Message("assistant", "y"))))
    lines = describe_difference(old, new)
    assert lines[0] == "message text: 2 messages now, 1 recorded"


def test_bad_cassettes_are_located(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="does not exist: record one with --record"):
        ReplayProvider(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"cassette": "nbworkflow", "version": 1}\n{"key": 1}\n', encoding="utf-8")
    with pytest.raises(ProviderError, match=r"bad\.jsonl:2: not a cassette entry"):
        ReplayProvider(bad)
    future = tmp_path / "future.jsonl"
    future.write_text('{"cassette": "nbworkflow", "version": 9}\n', encoding="utf-8")
    with pytest.raises(ProviderError, match="unsupported cassette version"):
        ReplayProvider(future)


# --- resolve_provider -------------------------------------------------------------------------


def test_resolve_provider_record_wraps_any_provider(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("n1: hello\n", encoding="utf-8")
    wrapped = resolve_provider("scripted", script=str(script), record=str(tmp_path / "a.jsonl"))
    assert isinstance(wrapped, RecordingProvider) and wrapped.name == "scripted"
    inner = ScriptedProvider({"n1": "hi"})
    wrapped2 = resolve_provider(inner, record=tmp_path / "b.jsonl")
    assert isinstance(wrapped2, RecordingProvider) and wrapped2.inner is inner
    run(calls(wrapped2, [req()]))
    assert load_cassette(tmp_path / "b.jsonl")[0].response["text"] == "hi"
    replayer = resolve_provider("replay", cassette=tmp_path / "b.jsonl", model="ignored")
    assert isinstance(replayer, ReplayProvider)
    assert resolve_provider(inner) is inner


# --- a whole workflow: record against the loopback API, replay with the server stopped --------

SPEC = """
name: crm_mini
model: claude-wf
nodes:
  - id: analyze_docs
    agent: Systems Analyst
    action: Extract the User payload schema.
    output:
      format: json
      schema:
        type: object
        properties: {fields: {type: array, items: {type: string}}}
        required: [fields]
        additionalProperties: false
  - id: generate_mapper
    agent: Backend Engineer
    depends_on: [analyze_docs]
    action: Write sync_to_crm(user_dict).
    output: code
  - id: write_docs
    agent: Technical Writer
    model: claude-writer
    depends_on: [generate_mapper]
    action: Document the mapping.
"""


class FakeClaude:
    """Answers by persona; the engineer's first answer is broken JSON (forces a repair)."""

    def __init__(self) -> None:
        self.engineer_calls = 0

    def __call__(self, request: ReceivedRequest) -> Reply:
        system = request.system or ""
        if "Systems Analyst" in system:
            body = {"rationale": "from the spec", "data": {"fields": ["email", "first_name"]}}
            return message_reply(json.dumps(body), input_tokens=120, output_tokens=30)
        if "Backend Engineer" in system:
            self.engineer_calls += 1
            if self.engineer_calls == 1:
                return message_reply('{"rationale": "map", "code": "def', input_tokens=200)
            code = "def sync_to_crm(user_dict):\n    return {'email': user_dict['email']}\n"
            return message_reply(
                f"```json\n{json.dumps({'rationale': 'fixed', 'code': code})}\n```",
                input_tokens=260,
                output_tokens=50,
            )
        body = {"rationale": "wiki", "content": "# Mapping\n\n| ours | CRM |\n"}
        return message_reply(json.dumps(body), input_tokens=300, output_tokens=80)


def outputs(result: Any) -> dict[str, tuple[str, str, Any, str]]:
    return {
        nid: (out.format, out.content, out.data, out.rationale)
        for nid, out in sorted(result.outputs.items())
    }


def test_record_then_replay_a_whole_workflow_offline(tmp_path: Path) -> None:
    spec = load_workflow(text=SPEC)
    cassette = tmp_path / "crm.cassette.jsonl"
    live_events: list[ev.RunEvent] = []
    with MessagesServer(responder=FakeClaude()) as server:
        live = run_workflow(
            spec,
            provider="anthropic",
            provider_options={
                "api_key": KEY,
                "base_url": server.url,
                "max_retries": 0,
                "record": str(cassette),
            },
            runs_dir=None,
            subscribers=[live_events.append],
        )
    assert not server.running
    assert live.ok, live
    assert len(server.requests) == 4  # three nodes + one repair
    models = sorted({r.model for r in server.requests if r.model})
    assert models == ["claude-wf", "claude-writer"]

    text = cassette.read_text(encoding="utf-8")
    assert KEY not in text and "authorization" not in text.lower()
    entries = load_cassette(cassette)
    assert [e.purpose for e in entries].count("repair") == 1

    replay_events: list[ev.RunEvent] = []
    replayed = run_workflow(
        spec,
        provider="replay",
        provider_options={"cassette": str(cassette)},
        runs_dir=None,
        subscribers=[replay_events.append],
    )
    assert replayed.ok, replayed
    assert outputs(replayed) == outputs(live)
    assert "def sync_to_crm" in replayed.output("generate_mapper").content
    assert replayed.output("analyze_docs").data == {"fields": ["email", "first_name"]}
    assert (replayed.state.input_tokens, replayed.state.output_tokens) == (
        live.state.input_tokens,
        live.state.output_tokens,
    )
    calls_live = [e for e in live_events if isinstance(e, ev.ModelCalled)]
    calls_replay = [e for e in replay_events if isinstance(e, ev.ModelCalled)]
    assert len(calls_replay) == len(calls_live) == 4
    assert all(c.cached for c in calls_replay) and not any(c.cached for c in calls_live)
    assert all(e.to_request().cache_key() == e.key for e in entries)
    first = run(calls(ReplayProvider(cassette), [entries[0].to_request()]))[0]
    assert first.meta["replayed"] is True and first.meta["recorded_retries"] == 0
    assert "retries" not in first.meta
    repairs = [e for e in replay_events if isinstance(e, ev.Decision) and e.verdict == "repair"]
    assert len(repairs) == 1 and repairs[0].node_id == "generate_mapper"

    # Change one node's action: replay fails on that node and says what changed.
    edited = load_workflow(text=SPEC.replace("Document the mapping.", "Document it all."))
    failed = run_workflow(
        edited, provider="replay", provider_options={"cassette": str(cassette)}, runs_dir=None
    )
    assert not failed.ok
    reason = failed.state.nodes["write_docs"].message
    assert "write_docs" in reason and "message text" in reason, reason

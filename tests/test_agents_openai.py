"""The openai provider against a real loopback Chat Completions server (real SDK, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import openai
import pytest

from nbworkflow.agents.base import ModelRequest
from nbworkflow.agents.openai import OpenAIProvider, map_error
from nbworkflow.agents.replay import RecordingProvider, ReplayProvider, load_cassette
from nbworkflow.agents.structured import answer_schema, call_structured
from nbworkflow.agents.testing import Reply
from nbworkflow.exceptions import OutputValidationError, ProviderError
from nbworkflow.testing.openai_server import (
    ChatCompletionsServer,
    chat_reply,
    chat_system,
    openai_error_reply,
    response_format,
)
from tests.support.providers import complete, make_request
from tests.support.providers import structured as structured_call

T = TypeVar("T")
KEY = "sk-openai-test-0123456789abcdef-secret"
FAST = {"retry-after-ms": "1"}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make(server: ChatCompletionsServer, **kwargs: Any) -> OpenAIProvider:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("api_key", KEY)
    return OpenAIProvider(base_url=server.url, **kwargs)


def request(**kwargs: Any) -> ModelRequest:
    return make_request("gpt-test-1", **kwargs)


async def structured(provider: Any, fmt: str, **kwargs: Any) -> Any:
    return await structured_call(provider, request(), fmt, **kwargs)


# --- answers ----------------------------------------------------------------------------------


def test_plain_answer_sends_system_model_settings_and_counts_tokens() -> None:
    reply = chat_reply("hi there", prompt_tokens=17, completion_tokens=4, model="gpt-test-1-2025")
    with ChatCompletionsServer([reply]) as server:
        response = run(complete(make(server), request()))
    assert response.text == "hi there"
    assert (response.input_tokens, response.output_tokens) == (17, 4)
    assert response.model == "gpt-test-1-2025"
    assert response.stop_reason == "end_turn"
    assert response.meta["retries"] == 0 and response.meta["vendor"] == "openai"
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    body = sent.json
    assert body["model"] == "gpt-test-1"
    assert body["messages"] == [
        {"role": "system", "content": "You are a Systems Analyst."},
        {"role": "user", "content": "# Task\nSay hi"},
    ]
    assert body["max_completion_tokens"] == 321 and "max_tokens" not in body
    assert body["temperature"] == 0.25
    assert "response_format" not in body
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(body)


def test_strict_schema_goes_as_json_schema_response_format() -> None:
    answer = {"rationale": "short", "content": "# Hello"}
    with ChatCompletionsServer([answer]) as server:
        result, responses, repairs = run(structured(make(server), "text"))
    assert result.model_dump() == answer and repairs == []
    assert responses[0].meta["structured"] == "json_schema"
    fmt = response_format(server.requests[0])
    assert fmt is not None and fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["content", "rationale"]
    # OpenAI itself enforces the schema: the system prompt stays the persona.
    assert chat_system(server.requests[0]) == "You are a Systems Analyst."


def test_loose_schema_goes_as_json_mode_with_the_schema_in_the_prompt() -> None:
    with ChatCompletionsServer([{"rationale": "", "data": [1, {"a": None}]}]) as server:
        result, responses, _ = run(structured(make(server), "json"))
    assert result.data == [1, {"a": None}]
    assert responses[0].meta["structured"] == "json_object"
    assert response_format(server.requests[0]) == {"type": "json_object"}
    system = chat_system(server.requests[0])
    assert system.startswith("You are a Systems Analyst.")
    assert json.dumps(answer_schema("json")) in system


def test_other_servers_get_the_schema_in_the_prompt_even_with_json_schema() -> None:
    with ChatCompletionsServer([{"rationale": "", "content": "x"}]) as server:
        run(structured(make(server, vendor="ollama"), "text"))
    sent = server.requests[0]
    assert response_format(sent) is not None
    assert '"content"' in chat_system(sent)
    assert sent.json["max_tokens"] == 321 and "max_completion_tokens" not in sent.json


def test_fenced_answer_with_prose_is_parsed() -> None:
    text = 'Sure:\n```json\n{"rationale": "r", "code": "def f():\\n    return 1"}\n```\n'
    with ChatCompletionsServer([text]) as server:
        result, _, repairs = run(structured(make(server), "code"))
    assert result.code == "def f():\n    return 1" and repairs == []


def test_unparseable_answer_then_repair() -> None:
    replies = [
        chat_reply('{"rationale": "r", "content": ', prompt_tokens=30, completion_tokens=7),
        chat_reply('{"rationale": "r", "content": "fixed"}', prompt_tokens=50, completion_tokens=9),
    ]
    with ChatCompletionsServer(replies) as server:
        result, responses, repairs = run(structured(make(server), "text"))
    assert result.content == "fixed"
    assert [n for n, _ in repairs] == [1] and "not valid JSON" in repairs[0][1]
    assert sum(r.input_tokens for r in responses) == 80
    second = server.requests[1].messages
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == '{"rationale": "r", "content": '
    assert "not valid JSON" in second[3]["content"]


def test_server_ignoring_response_format_still_works() -> None:
    # A server that accepts response_format and answers prose around the JSON anyway.
    def ignores(_req: Any) -> Reply:
        return chat_reply('I think this is it. {"rationale": "r", "content": "ok"} Hope it helps!')

    with ChatCompletionsServer(responder=ignores) as server:
        result, _, repairs = run(structured(make(server, vendor="openai-compatible"), "text"))
    assert result.content == "ok" and repairs == []


def test_server_rejecting_response_format_is_asked_again_without_it() -> None:
    err = openai_error_reply(400, "Unrecognized request argument: response_format")
    answer = {"rationale": "", "content": "x"}
    with ChatCompletionsServer([err, answer, answer]) as server:
        provider = make(server, vendor="openai-compatible")

        async def twice() -> list[Any]:
            try:
                return [await call_structured(provider, request(), "text") for _ in range(2)]
            finally:
                await provider.aclose()

        results = run(twice())
    assert [answer.content for answer, _ in results] == ["x", "x"]
    assert [response_format(r) is not None for r in server.requests] == [True, False, False]
    assert '"content"' in chat_system(server.requests[1])
    assert results[0][1][0].meta["structured"] == "none"
    assert results[0][1][0].meta["retries"] == 0


def test_server_rejecting_response_format_says_how_to_do_without() -> None:
    # Only when the provider was told which mode to use does the 400 reach the user.
    err = openai_error_reply(400, "Unrecognized request argument: response_format")
    provider_args = {"vendor": "openai-compatible", "structured": "json_object"}
    with ChatCompletionsServer([err]) as server, pytest.raises(ProviderError) as info:
        run(structured(make(server, **provider_args), "text"))
    assert "structured='json_object' or 'none'" in str(info.value)
    assert len(server.requests) == 1
    with ChatCompletionsServer([{"rationale": "", "content": "x"}]) as server:
        run(structured(make(server, vendor="openai-compatible", structured="none"), "text"))
    assert "response_format" not in server.requests[0].json
    assert '"content"' in chat_system(server.requests[0])


def test_truncated_answer_tells_the_repair_about_max_tokens() -> None:
    replies = [
        chat_reply('{"rationale": "r", "content": "lo', finish_reason="length"),
        chat_reply('{"rationale": "r", "content": "short"}'),
    ]
    with ChatCompletionsServer(replies) as server:
        _, responses, repairs = run(structured(make(server), "text"))
    assert responses[0].stop_reason == "max_tokens"
    assert "max_tokens=321" in repairs[0][1]


def test_repairs_run_out() -> None:
    with ChatCompletionsServer(["no", "no", "no"]) as server, pytest.raises(OutputValidationError):
        run(structured(make(server), "text", max_repairs=2))
    assert len(server.requests) == 3


def test_missing_usage_counts_zero_tokens() -> None:
    with ChatCompletionsServer([chat_reply("x", usage=False)]) as server:
        response = run(complete(make(server, vendor="ollama"), request()))
    assert (response.input_tokens, response.output_tokens) == (0, 0)


# --- failures ---------------------------------------------------------------------------------


def test_429_then_success_is_retried_and_counted() -> None:
    replies: list[Reply | str] = [openai_error_reply(429, "slow down", headers=FAST), "fine"]
    with ChatCompletionsServer(replies) as server:
        provider = make(server)
        response = run(complete(provider, request()))
    assert response.text == "fine"
    assert response.meta["retries"] == 1 and provider.retries == 1
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]


def test_500_storm_is_transient_after_the_retries() -> None:
    replies = [openai_error_reply(500, "boom", headers=FAST) for _ in range(3)]
    with ChatCompletionsServer(replies) as server:
        provider = make(server, max_retries=2)
        with pytest.raises(ProviderError) as info:
            run(complete(provider, request()))
    err = info.value
    assert err.retryable is True and err.status_code == 500
    assert "after 2 retries" in str(err) and "boom" in str(err)
    assert isinstance(err.__cause__, openai.InternalServerError)
    assert len(server.requests) == 3 and provider.retries == 2


def test_401_names_the_key_variable_and_never_the_key() -> None:
    server = ChatCompletionsServer([openai_error_reply(401, "Incorrect API key")])
    with server, pytest.raises(ProviderError) as info:
        run(complete(make(server), request()))
    assert len(server.requests) == 1
    assert "OPENAI_API_KEY is not set or invalid" in str(info.value)
    assert info.value.retryable is False and KEY not in str(info.value)


@pytest.mark.parametrize(("status", "words"), [(400, "fix"), (403, "permission"), (404, "pull")])
def test_permanent_statuses_fail_at_once(status: int, words: str) -> None:
    # 403 is "project and limits"; the SDK's class name says permission.
    server = ChatCompletionsServer([openai_error_reply(status)])
    with server, pytest.raises(ProviderError) as info:
        run(complete(make(server, vendor="ollama"), request(model="llama3.2")))
    assert len(server.requests) == 1
    assert info.value.status_code == status and info.value.retryable is False
    text = str(info.value) + type(info.value.__cause__).__name__.lower()
    assert words in text
    if status == 404:
        assert "`ollama pull llama3.2`" in str(info.value)


def test_refused_loopback_connection_is_transient_and_names_ollama() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(
        vendor="ollama", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    )
    with pytest.raises(ProviderError) as info:
        run(complete(provider, request(model="llama3.2")))
    assert info.value.retryable is True
    assert "ollama serve" in str(info.value)
    assert isinstance(info.value.__cause__, openai.APIConnectionError)


TRANSIENT = {408, 409, 429, 500, 502, 503, 504}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503])
def test_every_status_maps_with_the_right_class(status: int) -> None:
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    response = httpx2.Response(status, request=req, json={"error": {"message": "m"}})
    client = openai.AsyncOpenAI(api_key=KEY, base_url="http://127.0.0.1:1/v1")
    exc = client._make_status_error_from_response(response)
    mapped = map_error(exc, vendor="openai", model="m")
    assert type(mapped) is ProviderError
    assert mapped.status_code == status
    assert mapped.retryable is (status in TRANSIENT)


def test_every_sdk_exception_class_maps_to_a_provider_error() -> None:
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    samples: list[BaseException] = [
        openai.APITimeoutError(request=req),
        openai.APIConnectionError(request=req),
        openai.APIResponseValidationError(httpx2.Response(200, request=req), None),
        openai.OpenAIError("m"),
        RuntimeError("m"),
    ]
    for exc in samples:
        mapped = map_error(exc, vendor="openai", model="m")
        assert type(mapped) is ProviderError
        assert mapped.retryable is isinstance(exc, openai.APIConnectionError)


# --- construction -----------------------------------------------------------------------------


def test_missing_openai_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderError, match=r"OPENAI_API_KEY is not set.*--provider replay"):
        OpenAIProvider()


def test_compatible_server_needs_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPATIBLE_BASE_URL", raising=False)
    with pytest.raises(ProviderError, match="OPENAI_COMPATIBLE_BASE_URL=http://HOST:PORT/v1"):
        OpenAIProvider(vendor="openai-compatible")


def test_base_urls_and_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OLLAMA_BASE_URL", "OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert OpenAIProvider(vendor="ollama").base_url == "http://localhost:11434/v1/"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9999")
    assert OpenAIProvider(vendor="ollama").base_url == "http://127.0.0.1:9999/v1/"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ChatCompletionsServer(["ok"]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        run(complete(OpenAIProvider(), request()))
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_prefix_of_its_own_vendor_is_stripped_another_is_refused() -> None:
    with ChatCompletionsServer(["ok"]) as server:
        run(complete(make(server), request(model="openai:gpt-x")))
        with pytest.raises(ProviderError, match=r"is for anthropic.*--provider auto"):
            run(complete(make(server), request(model="anthropic:claude-x")))
    assert [r.model for r in server.requests] == ["gpt-x"]


# --- cassettes --------------------------------------------------------------------------------


def test_cassette_recorded_through_the_server_replays_offline(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    replies = ['{"rationale": "', '{"rationale": "r", "content": "fixed"}']
    with ChatCompletionsServer(replies) as server:
        recorder = RecordingProvider(make(server), cassette)
        live, live_responses, _ = run(structured(recorder, "text"))
    lines = [json.loads(x) for x in cassette.read_text().splitlines()]
    assert [line.get("vendor") for line in lines[1:]] == ["openai", "openai"]
    assert [e.response["meta"]["vendor"] for e in load_cassette(cassette)] == ["openai"] * 2
    # The server is gone: the replay answers alone, repair included.
    replayed, responses, repairs = run(structured(ReplayProvider(cassette), "text"))
    assert replayed == live and [n for n, _ in repairs] == [1]
    assert [r.text for r in responses] == [r.text for r in live_responses]
    assert all(r.meta["replayed"] and r.meta["vendor"] == "openai" for r in responses)

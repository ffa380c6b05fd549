"""The anthropic provider against a real loopback Messages API server (real SDK, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx2
import pytest

from nbworkflow import events as ev
from nbworkflow.agents import resolve_provider
from nbworkflow.agents.anthropic import AnthropicProvider, map_error, strict_compatible
from nbworkflow.agents.base import Message, ModelRequest
from nbworkflow.agents.guard import (
    ALLOW_ENV,
    allow_model_requests,
    check_model_request,
    is_loopback,
    model_requests_allowed,
)
from nbworkflow.agents.structured import answer_schema
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import OutputValidationError, ProviderError
from nbworkflow.spec import load_workflow
from nbworkflow.testing import (
    MessagesServer,
    ReceivedRequest,
    Reply,
    error_reply,
    message_reply,
    tool_reply,
)
from tests.support.providers import complete, make_request
from tests.support.providers import structured as structured_call

T = TypeVar("T")
KEY = "sk-ant-test-0123456789abcdef-secret"
FAST = {"retry-after-ms": "1"}  # keeps SDK retries quick


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make(server: MessagesServer, **kwargs: Any) -> AnthropicProvider:
    kwargs.setdefault("max_retries", 2)
    return AnthropicProvider(api_key=KEY, base_url=server.url, **kwargs)


def request(**kwargs: Any) -> ModelRequest:
    return make_request("claude-test-1", **kwargs)


async def structured(provider: Any, fmt: str, **kwargs: Any) -> Any:
    return await structured_call(provider, request(), fmt, **kwargs)


# --- plain and structured answers -------------------------------------------------------------


def test_plain_answer_sends_persona_model_and_settings() -> None:
    with MessagesServer([message_reply("hi there", input_tokens=17, output_tokens=4)]) as server:
        response = run(complete(make(server), request()))
    assert response.text == "hi there"
    assert (response.input_tokens, response.output_tokens) == (17, 4)
    assert response.stop_reason == "end_turn"
    assert response.meta["retries"] == 0
    [sent] = server.requests
    assert sent.method == "POST" and sent.path == "/v1/messages"
    body = sent.json
    assert body["model"] == "claude-test-1"
    assert body["system"] == "You are a Systems Analyst."
    assert body["messages"] == [{"role": "user", "content": "# Task\nSay hi"}]
    assert body["max_tokens"] == 321
    assert body["temperature"] == 0.25
    assert "output_config" not in body and "tools" not in body
    # The key goes in an auth header and nowhere else.
    auth = sent.headers.get("x-api-key") or sent.headers.get("authorization", "")
    assert KEY in auth
    assert KEY not in json.dumps(body)
    assert "anthropic-version" in sent.headers


def test_temperature_omitted_when_unset_and_provider_model_is_the_fallback() -> None:
    with MessagesServer(["ok"]) as server:
        run(complete(make(server, model="claude-fallback"), request(model="", temperature=None)))
    body = server.requests[0].json
    assert body["model"] == "claude-fallback"
    assert "temperature" not in body


def test_structured_output_requests_the_answer_schema_via_output_config() -> None:
    answer = {"rationale": "short", "content": "# Hello"}
    with MessagesServer([answer]) as server:
        result, responses, repairs = run(structured(make(server), "text"))
    assert result.model_dump() == answer
    assert repairs == [] and len(responses) == 1
    assert responses[0].meta["structured"] == "output_config"
    sent = server.requests[0].json
    assert sent["system"] == "You are a Systems Analyst."
    assert sent["output_config"] == {
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "description": "Answer of a ``text`` node.",
                "title": "TextAnswer",
                "properties": {
                    "rationale": {
                        "type": "string",
                        "description": "One or two sentences on the approach taken.",
                        "title": "Rationale",
                    },
                    "content": {
                        "type": "string",
                        "description": "The deliverable, in Markdown.",
                        "title": "Content",
                    },
                },
                "additionalProperties": False,
                "required": ["content", "rationale"],
            },
        }
    }
    assert "tools" not in sent


def test_json_node_with_strict_schema_sends_it_inside_the_answer_schema() -> None:
    user_schema = {
        "type": "object",
        "properties": {"fields": {"type": "array", "items": {"type": "string"}}},
        "required": ["fields"],
        "additionalProperties": False,
    }
    with MessagesServer([{"rationale": "", "data": {"fields": ["email", "name"]}}]) as server:
        result, _, _ = run(structured(make(server), "json", json_schema=user_schema))
    assert result.data == {"fields": ["email", "name"]}
    sent_schema = server.requests[0].output_schema
    assert sent_schema is not None
    assert sent_schema["properties"]["data"]["properties"]["fields"]["items"]["type"] == "string"


def test_json_node_without_schema_uses_a_forced_tool() -> None:
    with MessagesServer([tool_reply({"rationale": "r", "data": [1, {"a": None}]})]) as server:
        result, responses, _ = run(structured(make(server), "json"))
    assert result.data == [1, {"a": None}]
    assert responses[0].meta["structured"] == "tool"
    sent = server.requests[0].json
    assert "output_config" not in sent
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}
    assert sent["tools"][0]["input_schema"] == answer_schema("json")


def test_structured_mode_none_puts_the_schema_in_the_system_prompt() -> None:
    with MessagesServer([{"rationale": "", "content": "x"}]) as server:
        run(structured(make(server, structured="none"), "text"))
    sent = server.requests[0]
    assert "output_config" not in sent.json and "tools" not in sent.json
    assert sent.system is not None
    assert sent.system.startswith("You are a Systems Analyst.")
    assert '"content"' in sent.system


def test_forcing_output_config_on_an_untyped_schema_is_a_clear_error() -> None:
    with MessagesServer() as server:
        provider = make(server, structured="output_config")
        with pytest.raises(ProviderError, match="structured='tool'"):
            run(complete(provider, request(output_schema=answer_schema("json"))))
    assert server.requests == []


def test_fenced_json_with_prose_is_parsed() -> None:
    text = (
        'Sure, here it is:\n```json\n{"rationale": "r", "code": "def f():\\n    return 1"}\n```\n'
    )
    with MessagesServer([text]) as server:
        result, _, repairs = run(structured(make(server), "code"))
    assert result.code == "def f():\n    return 1"
    assert repairs == []


def test_invalid_json_then_valid_runs_the_repair_loop() -> None:
    replies = [
        message_reply('{"rationale": "r", "content": ', input_tokens=30, output_tokens=7),
        message_reply('{"rationale": "r", "content": "fixed"}', input_tokens=50, output_tokens=9),
    ]
    with MessagesServer(replies) as server:
        result, responses, repairs = run(structured(make(server), "text"))
    assert result.content == "fixed"
    assert [n for n, _ in repairs] == [1]
    assert "not valid JSON" in repairs[0][1]
    assert sum(r.input_tokens for r in responses) == 80
    assert sum(r.output_tokens for r in responses) == 16
    # The repair request carries the broken answer and the precise problem.
    second = server.requests[1].messages
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == '{"rationale": "r", "content": '
    assert "not valid JSON" in second[2]["content"]
    assert server.requests[1].output_schema == server.requests[0].output_schema


def test_schema_violation_is_fed_back_precisely() -> None:
    user_schema = {
        "type": "object",
        "properties": {"count": {"type": "integer"}},
        "required": ["count"],
        "additionalProperties": False,
    }
    replies = [
        {"rationale": "", "data": {"count": "three"}},
        {"rationale": "", "data": {"count": 3}},
    ]
    with MessagesServer(replies) as server:
        result, _, repairs = run(structured(make(server), "json", json_schema=user_schema))
    assert result.data == {"count": 3}
    problem = repairs[0][1]
    assert "count" in problem and "not of type 'integer'" in problem
    assert problem in server.requests[1].messages[2]["content"]


def test_repairs_run_out_into_output_validation_error() -> None:
    server = MessagesServer(["nope", "still nope", "never JSON"])
    with server, pytest.raises(OutputValidationError) as info:
        run(structured(make(server), "text", max_repairs=2))
    assert info.value.attempts == 3
    assert info.value.last_response == "never JSON"
    assert info.value.retryable is False
    assert len(server.requests) == 3


# --- failures: transient, retried and counted; permanent with the fix -------------------------


def test_529_then_200_is_retried_and_counted() -> None:
    replies: list[Reply | str] = [error_reply(529, "Overloaded", headers=FAST), "fine"]
    with MessagesServer(replies) as server:
        provider = make(server)
        response = run(complete(provider, request()))
    assert response.text == "fine"
    assert response.meta["retries"] == 1
    assert provider.retries == 1
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]
    assert server.requests[0].json == server.requests[1].json


def test_retries_are_counted_per_call_when_calls_run_concurrently() -> None:
    failed_once: set[str] = set()

    def by_text(received: ReceivedRequest) -> Reply:
        text = received.last_user_text
        if text.startswith("flaky") and text not in failed_once:
            failed_once.add(text)
            return error_reply(529, headers=FAST)
        return message_reply(f"answer to {text}")

    async def both(provider: AnthropicProvider) -> list[Any]:
        try:
            return list(
                await asyncio.gather(
                    *(
                        provider.complete(request(messages=(Message("user", t),)))
                        for t in ("steady-1", "flaky-1", "steady-2", "flaky-2")
                    )
                )
            )
        finally:
            await provider.aclose()

    with MessagesServer(responder=by_text) as server:
        provider = make(server)
        responses = run(both(provider))
    assert [r.text for r in responses] == [
        "answer to steady-1",
        "answer to flaky-1",
        "answer to steady-2",
        "answer to flaky-2",
    ]
    assert [r.meta["retries"] for r in responses] == [0, 1, 0, 1]
    assert provider.retries == 2 and provider.calls == 4
    assert len(server.requests) == 6


def test_retry_after_is_honoured() -> None:
    # The SDK's own backoff for a first retry is at most 0.5 s; waiting >= 0.6 s proves the
    # header was obeyed (a lower bound, so no timing luck is involved).
    replies: list[Reply | str] = [
        error_reply(429, "slow down", headers={"retry-after": "0.6"}),
        "ok",
    ]
    with MessagesServer(replies) as server:
        t0 = time.monotonic()
        response = run(complete(make(server), request()))
        elapsed = time.monotonic() - t0
    assert response.meta["retries"] == 1
    assert elapsed >= 0.6


def test_persistent_5xx_is_transient_after_the_retries() -> None:
    replies = [error_reply(503, "down", headers=FAST) for _ in range(3)]
    with MessagesServer(replies) as server:
        provider = make(server, max_retries=2)
        with pytest.raises(ProviderError) as info:
            run(complete(provider, request()))
    err = info.value
    assert err.retryable is True and err.status_code == 503
    assert "after 2 retries" in str(err)
    assert isinstance(err.__cause__, anthropic.APIStatusError)
    assert len(server.requests) == 3
    assert provider.retries == 2


def test_500_with_x_should_retry_false_is_not_retried() -> None:
    reply = error_reply(500, "poison request", headers={"x-should-retry": "false"})
    with MessagesServer([reply]) as server, pytest.raises(ProviderError) as info:
        run(complete(make(server, max_retries=3), request()))
    assert len(server.requests) == 1
    assert info.value.status_code == 500
    assert info.value.retryable is False
    assert isinstance(info.value.__cause__, anthropic.InternalServerError)


def test_400_is_permanent_and_says_what_to_fix() -> None:
    server = MessagesServer([error_reply(400, "max_tokens: must be <= 8192")])
    with server, pytest.raises(ProviderError) as info:
        run(complete(make(server), request()))
    assert len(server.requests) == 1
    err = info.value
    assert err.status_code == 400 and err.retryable is False
    assert "max_tokens: must be <= 8192" in str(err)
    assert "fix" in str(err)
    assert isinstance(err.__cause__, anthropic.BadRequestError)


def test_401_names_the_key_variable_and_never_the_key() -> None:
    server = MessagesServer([error_reply(401, "invalid x-api-key")])
    with server, pytest.raises(ProviderError) as info:
        run(complete(make(server), request()))
    assert len(server.requests) == 1
    assert "ANTHROPIC_API_KEY is not set or invalid" in str(info.value)
    assert info.value.retryable is False
    assert KEY not in str(info.value)


@pytest.mark.parametrize(("status", "words"), [(403, "permissions"), (404, "claude-test-1")])
def test_403_and_404_are_permanent(status: int, words: str) -> None:
    with MessagesServer([error_reply(status)]) as server, pytest.raises(ProviderError) as info:
        run(complete(make(server), request()))
    assert len(server.requests) == 1
    assert info.value.status_code == status and info.value.retryable is False
    assert words in str(info.value)


def test_slow_answer_hits_the_timeout_and_is_transient() -> None:
    with MessagesServer([Reply(200, {}, delay=30.0), Reply(200, {}, delay=30.0)]) as server:
        provider = make(server, timeout=0.3, max_retries=1)
        with pytest.raises(ProviderError) as info:
            run(complete(provider, request()))
    err = info.value
    assert err.retryable is True and err.status_code is None
    assert "timed out after 0.3 s after 1 retry" in str(err)
    assert isinstance(err.__cause__, anthropic.APITimeoutError)
    assert len(server.requests) == 2


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = AnthropicProvider(api_key=KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(ProviderError) as info:
        run(complete(provider, request()))
    assert info.value.retryable is True
    assert "could not reach" in str(info.value)
    assert isinstance(info.value.__cause__, anthropic.APIConnectionError)


TRANSIENT = {408, 409, 429, 500, 502, 503, 504, 529}


@pytest.mark.parametrize(
    "status", [400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529]
)
def test_every_status_error_maps_once_with_the_right_class(status: int) -> None:
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/messages")
    response = httpx2.Response(status, request=req, json={"error": {"message": "m"}})
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url="http://127.0.0.1:1")
    exc = client._make_status_error_from_response(response)
    mapped = map_error(exc, model="m")
    assert type(mapped) is ProviderError
    assert mapped.status_code == status
    assert mapped.retryable is (status in TRANSIENT)
    assert KEY not in str(mapped)


def sdk_error(cls: type[BaseException]) -> BaseException:
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/messages")
    if issubclass(cls, anthropic.APIStatusError):
        code = getattr(cls, "status_code", 500)
        return cls("m", response=httpx2.Response(code, request=req), body=None)
    if issubclass(cls, anthropic.APITimeoutError):
        return cls(request=req)
    if issubclass(cls, anthropic.APIConnectionError):
        return cls(request=req)
    if issubclass(cls, anthropic.APIResponseValidationError):
        return cls(httpx2.Response(200, request=req), None)
    return cls("m")


def test_every_sdk_exception_class_maps_to_a_provider_error() -> None:
    from anthropic import _exceptions

    classes = [getattr(_exceptions, n) for n in _exceptions.__all__]
    classes += [anthropic.APIConnectionError, anthropic.APITimeoutError, anthropic.APIStatusError]
    classes += [anthropic.APIResponseValidationError, anthropic.AnthropicError]
    for cls in classes:
        exc = sdk_error(cls)
        mapped = map_error(exc, model="m")
        assert type(mapped) is ProviderError, cls
        if isinstance(exc, anthropic.APIStatusError):
            assert mapped.status_code == exc.status_code
            assert mapped.retryable is (exc.status_code in TRANSIENT or exc.status_code >= 500)
        elif isinstance(exc, anthropic.APIConnectionError):
            assert mapped.retryable is True
        else:
            assert mapped.retryable is False


# --- construction, key, guard -----------------------------------------------------------------


def test_missing_key_fails_at_construction_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ProviderError) as info:
        AnthropicProvider()
    message = str(info.value)
    assert "ANTHROPIC_API_KEY" in message and "--provider replay" in message


def test_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with MessagesServer(["ok"]) as server:
        provider = resolve_provider("anthropic", base_url=server.url)
        assert isinstance(provider, AnthropicProvider)
        run(complete(provider, request()))
    assert KEY in (
        server.requests[0].headers.get("x-api-key") or server.requests[0].headers["authorization"]
    )


def test_a_callers_client_is_used_counted_and_left_open() -> None:
    replies: list[Reply | str] = [error_reply(529, headers=FAST), "ok"]
    with MessagesServer(replies) as server:
        client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.url, max_retries=1)
        provider = AnthropicProvider(client=client)

        async def go() -> Any:
            response = await complete(provider, request())
            assert not client.is_closed()
            await client.close()
            return response

        response = run(go())
    assert response.meta["retries"] == 1
    assert len(server.requests) == 2


def test_guard_blocks_real_endpoints_in_tests() -> None:
    assert os.environ.get(ALLOW_ENV) == "0"  # set by tests/conftest.py
    assert not model_requests_allowed()
    provider = AnthropicProvider(api_key=KEY, base_url="https://api.anthropic.com", max_retries=0)
    with pytest.raises(ProviderError) as info:
        run(complete(provider, request()))
    assert "blocked" in str(info.value) and ALLOW_ENV in str(info.value)
    assert info.value.__cause__ is None  # refused before any HTTP


def test_guard_helpers() -> None:
    assert is_loopback("http://127.0.0.1:9/x") and is_loopback("http://[::1]:9")
    assert is_loopback("http://localhost:9") and is_loopback("http://127.5.0.1")
    assert not is_loopback("https://api.anthropic.com") and not is_loopback("http://10.0.0.1")
    check_model_request("http://127.0.0.1:1")  # allowed while blocked
    with allow_model_requests():
        assert model_requests_allowed()
        check_model_request("https://api.anthropic.com")
    assert not model_requests_allowed()


def test_strict_compatible() -> None:
    assert strict_compatible(answer_schema("text"))
    assert strict_compatible(answer_schema("code"))
    assert not strict_compatible(answer_schema("json"))  # data: any value
    assert not strict_compatible({"type": "object"})  # free-form object
    assert not strict_compatible(
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True}
    )
    assert strict_compatible({"anyOf": [{"type": "string"}, {"type": "null"}]})
    assert strict_compatible({"enum": ["a", "b"]})
    assert not strict_compatible({"type": ["string", "null"]})


def test_server_records_unscripted_requests_and_answers_500() -> None:
    with MessagesServer() as server, pytest.raises(ProviderError) as info:
        run(complete(make(server, max_retries=3), request()))
    assert len(server.requests) == 1  # x-should-retry: false
    assert "no scripted reply left" in str(info.value)
    assert isinstance(server.requests[0], ReceivedRequest)


def test_core_does_not_import_the_sdk() -> None:
    code = (
        "import sys, nbworkflow, nbworkflow.agents, nbworkflow.agents.replay, "
        "nbworkflow.agents.testing, nbworkflow.testing, nbworkflow.engine\n"
        "print(sorted(m for m in ('anthropic', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- a whole workflow on the provider ---------------------------------------------------------

SPEC = """
name: tokens
model: claude-wf-model
nodes:
  - id: analyze
    agent: Systems Analyst
    action: Extract the fields.
    output:
      format: json
      schema:
        type: object
        properties: {fields: {type: array, items: {type: string}}}
        required: [fields]
        additionalProperties: false
  - id: write
    agent: Backend Engineer
    model: claude-node-model
    max_tokens: 777
    depends_on: [analyze]
    action: Write the mapper.
    output: code
"""


def answer_for(req: ReceivedRequest) -> Reply:
    system = req.system or ""
    if "Systems Analyst" in system:
        return message_reply(
            json.dumps({"rationale": "read it", "data": {"fields": ["email"]}}),
            input_tokens=100,
            output_tokens=20,
        )
    return message_reply(
        json.dumps({"rationale": "map", "code": "def sync_to_crm(u):\n    return u"}),
        input_tokens=200,
        output_tokens=40,
    )


def test_workflow_on_anthropic_sums_tokens_and_chooses_models(tmp_path: Path) -> None:
    seen: list[ev.RunEvent] = []
    with MessagesServer(responder=answer_for) as server:
        result = run_workflow(
            load_workflow(text=SPEC),
            provider="anthropic",
            provider_options={"api_key": KEY, "base_url": server.url},
            runs_dir=tmp_path / "runs",
            subscribers=[seen.append],
        )
    assert result.ok, result
    assert result.output("analyze").data == {"fields": ["email"]}
    assert "def sync_to_crm" in result.output("write").content
    by_system = {r.system.split(" working")[0]: r.json for r in server.requests if r.system}
    analyst = by_system["You are a Systems Analyst"]
    engineer = by_system["You are a Backend Engineer"]
    assert analyst["model"] == "claude-wf-model"
    assert engineer["model"] == "claude-node-model" and engineer["max_tokens"] == 777
    assert "Extract the fields." in analyst["messages"][0]["content"]
    # The upstream output is part of the dependent node's context.
    assert '"email"' in engineer["messages"][0]["content"]
    assert (result.state.input_tokens, result.state.output_tokens) == (300, 60)
    assert result.state.nodes["write"].input_tokens == 200
    calls = [e for e in seen if isinstance(e, ev.ModelCalled)]
    assert sorted(c.input_tokens for c in calls) == [100, 200]
    # The key is never written to the run folder.
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(encoding="utf-8", errors="replace"), path

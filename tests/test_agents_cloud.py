"""Claude on AWS Bedrock and Google Vertex AI: the SDK's own cloud clients against loopback
servers that speak their paths, with dummy credentials (real SDK, real HTTP, real SigV4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import pytest

from nbworkflow.agents.anthropic import AnthropicProvider
from nbworkflow.agents.base import Message, ModelRequest, Provider
from nbworkflow.agents.routing import build_vendor
from nbworkflow.agents.structured import call_structured
from nbworkflow.agents.testing import error_reply, message_reply
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import ProviderError
from nbworkflow.spec import load_workflow
from nbworkflow.testing.cloud_server import BedrockServer, VertexServer, model_in_path

T = TypeVar("T")
BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_MODEL = "claude-sonnet-4-5@20250929"
SIGV4 = {"aws_access_key": "AKIDUMMYDUMMY", "aws_secret_key": "dummy", "aws_region": "eu-west-1"}
VERTEX = {"access_token": "ya29.dummy", "region": "us-east5", "project_id": "my-proj"}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def request(model: str) -> ModelRequest:
    return ModelRequest(
        node_id="n1", model=model, system="You are a Tester.", messages=(Message("user", "hi"),)
    )


async def complete(provider: Provider, req: ModelRequest) -> Any:
    try:
        return await provider.complete(req)
    finally:
        await provider.aclose()


def test_bedrock_signs_with_sigv4_and_puts_the_model_in_the_path() -> None:
    with BedrockServer([message_reply("hello", input_tokens=12, output_tokens=3)]) as server:
        provider = build_vendor("bedrock", {"base_url": server.url, **SIGV4})
        response = run(complete(provider, request(f"bedrock:{BEDROCK_MODEL}")))
    assert response.text == "hello" and (response.input_tokens, response.output_tokens) == (12, 3)
    assert response.meta["vendor"] == "bedrock"
    [sent] = server.requests
    assert model_in_path(sent) == BEDROCK_MODEL
    assert "model" not in sent.json and "anthropic_version" in sent.json
    assert sent.system == "You are a Tester."
    auth = sent.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDUMMYDUMMY/")
    assert "/eu-west-1/bedrock/aws4_request" in auth
    assert "dummy" not in auth.split("Signature=")[0].split("Credential=")[1].split("/")[0]


def test_bedrock_api_key_goes_as_a_bearer_token() -> None:
    with BedrockServer(["ok"]) as server:
        provider = build_vendor(
            "bedrock", {"base_url": server.url, "api_key": "bedrock-key", "aws_region": "x"}
        )
        run(complete(provider, request(BEDROCK_MODEL)))
    assert server.requests[0].headers["authorization"] == "Bearer bedrock-key"


def test_vertex_uses_raw_predict_with_project_region_and_token() -> None:
    with VertexServer([{"rationale": "r", "content": "vertex answer"}]) as server:
        provider = build_vendor("vertex", {"base_url": server.url + "/v1", **VERTEX})

        async def go() -> Any:
            try:
                return await call_structured(provider, request(f"vertex:{VERTEX_MODEL}"), "text")
            finally:
                await provider.aclose()

        answer, responses = run(go())
    assert answer.content == "vertex answer" and responses[0].meta["vendor"] == "vertex"
    [sent] = server.requests
    assert sent.path == (
        "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/"
        f"{VERTEX_MODEL}:rawPredict"
    )
    assert sent.headers["authorization"] == "Bearer ya29.dummy"
    assert sent.output_schema is not None  # structured output travels as on the first party API


def test_cloud_credentials_errors_name_the_clouds_fix() -> None:
    with BedrockServer([error_reply(403, "not authorized")]) as server:
        provider = build_vendor("bedrock", {"base_url": server.url, **SIGV4})
        with pytest.raises(ProviderError) as info:
            run(complete(provider, request(BEDROCK_MODEL)))
    assert "AWS credentials" in str(info.value) and "ANTHROPIC_API_KEY" not in str(info.value)
    assert info.value.retryable is False and len(server.requests) == 1
    assert isinstance(info.value.__cause__, anthropic.PermissionDeniedError)
    with VertexServer([error_reply(401)]) as server:
        provider = build_vendor("vertex", {"base_url": server.url, **VERTEX})
        with pytest.raises(ProviderError, match="gcloud auth application-default login"):
            run(complete(provider, request(VERTEX_MODEL)))


def test_cloud_overload_is_retried_and_counted() -> None:
    replies = [error_reply(529, headers={"retry-after-ms": "1"}), message_reply("fine")]
    with VertexServer(replies) as server:
        provider = build_vendor("vertex", {"base_url": server.url, "max_retries": 2, **VERTEX})
        response = run(complete(provider, request(VERTEX_MODEL)))
    assert response.text == "fine" and response.meta["retries"] == 1


def test_missing_cloud_settings_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "CLOUD_ML_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ProviderError, match=r"cannot set up Claude on bedrock.*AWS_REGION"):
        AnthropicProvider.on_cloud("bedrock")
    with pytest.raises(ProviderError, match=r"cannot set up Claude on vertex.*CLOUD_ML_REGION"):
        AnthropicProvider.on_cloud("vertex")


def test_a_workflow_names_bedrock_models_per_node(tmp_path: Path) -> None:
    spec = load_workflow(
        text=f"""
name: cloud
model: vertex:{VERTEX_MODEL}
nodes:
  - {{id: a, agent: Analyst, action: Say hi., output: text}}
  - {{id: b, agent: Writer, model: "bedrock:{BEDROCK_MODEL}", action: Say bye., output: text}}
"""
    )
    answer = json.dumps({"rationale": "", "content": "done"})
    with (
        BedrockServer(responder=lambda r: answer) as bedrock,
        VertexServer(responder=lambda r: answer) as vertex,
    ):
        result = run_workflow(
            spec,
            provider="auto",
            provider_options={
                "bedrock": {"base_url": bedrock.url, **SIGV4},
                "vertex": {"base_url": vertex.url, **VERTEX},
            },
            runs_dir=tmp_path,
        )
    assert result.ok, result
    assert [model_in_path(r) for r in bedrock.requests] == [BEDROCK_MODEL]
    assert [model_in_path(r) for r in vertex.requests] == [VERTEX_MODEL]


def test_a_missing_signing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in ("botocore", "botocore.auth", "botocore.awsrequest", "boto3"):
        monkeypatch.setitem(sys.modules, name, None)  # "import" raises ImportError
    with BedrockServer(["never"]) as server:
        provider = build_vendor("bedrock", {"base_url": server.url, **SIGV4})
        with pytest.raises(ProviderError, match=r"pip install 'nbworkflow\[bedrock\]'"):
            run(complete(provider, request(BEDROCK_MODEL)))
    assert server.requests == []


def test_a_missing_openai_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ProviderError, match=r"pip install 'nbworkflow\[openai\]'"):
        build_vendor("openai", {"api_key": "k", "base_url": "http://127.0.0.1:9/v1"})

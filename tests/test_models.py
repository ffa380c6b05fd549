"""Model strings, the routing provider, the request guard and "no network" for every vendor."""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nbworkflow import events as ev
from nbworkflow.agents import PROVIDERS, resolve_provider
from nbworkflow.agents.anthropic import AnthropicProvider
from nbworkflow.agents.base import Message, ModelRequest, Provider
from nbworkflow.agents.models import ModelRef, model_for, parse_model, vendors_of
from nbworkflow.agents.openai import OpenAIProvider
from nbworkflow.agents.routing import RoutingProvider, build_vendor
from nbworkflow.agents.testing import MessagesServer, allow_model_requests, message_reply
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import ProviderError
from nbworkflow.spec import load_workflow
from nbworkflow.testing.openai_server import ChatCompletionsServer, chat_reply, chat_system

T = TypeVar("T")
KEY = "sk-test-key-for-loopback-only"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def request(model: str, node_id: str = "n1") -> ModelRequest:
    return ModelRequest(node_id=node_id, model=model, system="S", messages=(Message("user", "hi"),))


async def complete(provider: Provider, req: ModelRequest) -> Any:
    try:
        return await provider.complete(req)
    finally:
        await provider.aclose()


# --- model strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "vendor", "name"),
    [
        ("openai:gpt-4.1-mini", "openai", "gpt-4.1-mini"),
        ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("ollama:llama3.2", "ollama", "llama3.2"),
        ("ollama:llama3.2:3b", "ollama", "llama3.2:3b"),
        ("openai-compatible:qwen2.5-7b", "openai-compatible", "qwen2.5-7b"),
        ("bedrock:anthropic.claude-sonnet-4-5-v1:0", "bedrock", "anthropic.claude-sonnet-4-5-v1:0"),
        ("vertex:claude-sonnet-4-5@20250929", "vertex", "claude-sonnet-4-5@20250929"),
        ("OpenAI:gpt-4o", "openai", "gpt-4o"),
        ("claude-sonnet-4-5", None, "claude-sonnet-4-5"),
        ("llama3.2:3b", None, "llama3.2:3b"),
    ],
)
def test_parse_model(text: str, vendor: str | None, name: str) -> None:
    assert parse_model(text) == ModelRef(vendor, name)


def test_model_string_mistakes_are_clear() -> None:
    with pytest.raises(ProviderError, match="did you mean 'openai'"):
        parse_model("opanai:gpt-4o")
    with pytest.raises(ProviderError, match="no model name after 'ollama:'"):
        parse_model("ollama:")


def test_vendors_of_and_model_for() -> None:
    assert vendors_of(["claude-x", "openai:g", "anthropic:c", "ollama:l"], "anthropic") == [
        "anthropic",
        "openai",
        "ollama",
    ]
    assert vendors_of(["g"], "openai") == ["openai"]
    assert model_for("anthropic:claude-x", "anthropic") == "claude-x"
    with pytest.raises(ProviderError, match="is for openai"):
        model_for("openai:g", "anthropic")


def test_every_vendor_is_a_provider_name() -> None:
    for vendor in ("openai", "ollama", "openai-compatible", "bedrock", "vertex", "anthropic"):
        assert vendor in PROVIDERS


# --- routing ----------------------------------------------------------------------------------


def test_router_sends_each_request_to_its_vendor() -> None:
    with (
        ChatCompletionsServer(responder=lambda r: f"openai says hi to {r.model}") as oai,
        ChatCompletionsServer(responder=lambda r: f"ollama says hi to {r.model}") as local,
        MessagesServer(responder=lambda r: f"claude says hi to {r.model}") as claude,
    ):
        router = RoutingProvider(
            "anthropic",
            api_key=KEY,
            base_url=claude.url,
            vendors={
                "openai": {"api_key": KEY, "base_url": oai.url},
                "ollama": {"base_url": local.url},
            },
        )

        async def go() -> list[Any]:
            try:
                return [
                    await router.complete(request(m))
                    for m in ("openai:gpt-x", "claude-bare", "ollama:llama3.2:3b", "anthropic:c")
                ]
            finally:
                await router.aclose()

        answers = run(go())
    assert [a.text for a in answers] == [
        "openai says hi to gpt-x",
        "claude says hi to claude-bare",
        "ollama says hi to llama3.2:3b",
        "claude says hi to c",
    ]
    assert [a.meta["vendor"] for a in answers] == ["openai", "anthropic", "ollama", "anthropic"]
    assert router._providers == {}  # aclose closed and forgot every vendor client


def test_router_builds_vendors_lazily_and_pickles_as_name_and_options() -> None:
    router = RoutingProvider(
        "openai", api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=5.0
    )
    assert router._providers == {}
    assert router.options_for("ollama") == {"max_retries": 1, "timeout": 5.0}
    provider = router.provider_for("openai")
    assert isinstance(provider, OpenAIProvider) and provider.max_retries == 1
    clone = pickle.loads(pickle.dumps(router))
    assert isinstance(clone, RoutingProvider) and clone._providers == {}
    assert (clone.default, clone.options, clone.name) == ("openai", router.options, "openai")
    assert isinstance(clone.provider_for("openai"), OpenAIProvider)
    run(router.aclose())
    run(clone.aclose())


def test_router_reports_a_missing_key_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="OPENAI_API_KEY is not set"):
        RoutingProvider("anthropic", api_key=KEY, prepare=["anthropic", "openai"])


def test_unknown_vendor_options_are_refused() -> None:
    with pytest.raises(ProviderError, match="unknown vendor"):
        RoutingProvider("anthropic", vendors={"opneai": {}})
    with pytest.raises(ProviderError, match="unknown vendor"):
        build_vendor("nope", {})


def test_resolve_keeps_the_plain_provider_for_bare_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    plain = resolve_provider("anthropic", spec=load_workflow(text=SPEC_BARE))
    assert isinstance(plain, AnthropicProvider)
    routed = resolve_provider("auto", spec=load_workflow(text=SPEC_MIXED_TEMPLATE))
    assert isinstance(routed, RoutingProvider) and routed.name == "openai+anthropic"
    as_openai = resolve_provider("openai", spec=load_workflow(text=SPEC_BARE))
    assert isinstance(as_openai, OpenAIProvider)
    for provider in (plain, routed, as_openai):
        run(provider.aclose())


# --- a workflow on two vendors ----------------------------------------------------------------

SPEC_BARE = """
name: bare
model: some-model
nodes:
  - {id: a, agent: Analyst, action: Say hi., output: text}
"""

SPEC_MIXED_TEMPLATE = """
name: two-vendors
model: openai:gpt-4.1-mini
nodes:
  - id: analyze
    agent: Systems Analyst
    action: List the fields.
    output:
      format: json
      schema:
        type: object
        properties: {fields: {type: array, items: {type: string}}}
        required: [fields]
        additionalProperties: false
  - id: write
    agent: Backend Engineer
    model: anthropic:claude-loopback-1
    depends_on: [analyze]
    action: Write the mapper.
    output: code
"""


def test_a_workflow_mixing_two_vendors_runs(tmp_path: Path) -> None:
    seen: list[ev.RunEvent] = []
    analyst = json.dumps({"rationale": "read", "data": {"fields": ["email"]}})
    engineer = json.dumps({"rationale": "map", "code": "def sync(u):\n    return u"})
    with (
        ChatCompletionsServer(
            responder=lambda r: chat_reply(analyst, prompt_tokens=100, completion_tokens=20)
        ) as oai,
        MessagesServer(
            responder=lambda r: message_reply(engineer, input_tokens=200, output_tokens=40)
        ) as claude,
    ):
        result = run_workflow(
            load_workflow(text=SPEC_MIXED_TEMPLATE),
            provider_options={
                "openai": {"api_key": KEY, "base_url": oai.url},
                "anthropic": {"api_key": KEY, "base_url": claude.url},
            },
            runs_dir=tmp_path / "runs",
            subscribers=[seen.append],
        )
    assert result.ok, result
    assert result.output("analyze").data == {"fields": ["email"]}
    assert "def sync" in result.output("write").content
    [to_openai] = oai.requests
    [to_claude] = claude.requests
    assert to_openai.model == "gpt-4.1-mini" and "Systems Analyst" in chat_system(to_openai)
    assert to_claude.model == "claude-loopback-1" and '"email"' in to_claude.last_user_text
    calls = {c.node_id: c for c in seen if isinstance(c, ev.ModelCalled)}
    assert (calls["analyze"].input_tokens, calls["write"].input_tokens) == (100, 200)
    assert (result.state.input_tokens, result.state.output_tokens) == (300, 60)
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert started.provider == "openai+anthropic"


# --- the guard and "no network", for every vendor ---------------------------------------------


def vendor_provider(vendor: str, base_url: str) -> Provider:
    """A provider of ``vendor`` pointed at ``base_url`` with dummy credentials."""
    cloud: dict[str, dict[str, Any]] = {
        "bedrock": {"api_key": "dummy", "aws_region": "us-east-1"},
        "vertex": {"access_token": "dummy", "region": "us-east5", "project_id": "p"},
    }
    options: dict[str, Any] = {"base_url": base_url, "max_retries": 3}
    options |= cloud.get(vendor, {"api_key": KEY})
    return build_vendor(vendor, options)


EVERY_VENDOR = ["anthropic", "openai", "ollama", "openai-compatible", "bedrock", "vertex"]


@pytest.mark.parametrize("vendor", EVERY_VENDOR)
def test_guard_blocks_non_loopback_hosts_for_every_vendor(vendor: str) -> None:
    provider = vendor_provider(vendor, "https://api.example.com/v1")
    with pytest.raises(ProviderError) as info:
        run(complete(provider, request("m")))
    assert "real model requests are blocked" in str(info.value)
    assert info.value.__cause__ is None  # refused before any HTTP


@pytest.mark.parametrize("vendor", EVERY_VENDOR)
def test_unresolvable_host_fails_once_with_one_line(vendor: str) -> None:
    provider = vendor_provider(vendor, "https://nbw-test.invalid/v1")
    with allow_model_requests(), pytest.raises(ProviderError) as info:
        run(complete(provider, request("m")))
    message = str(info.value)
    assert message.startswith("no network: cannot resolve nbw-test.invalid")
    assert "\n" not in message and info.value.retryable is False
    assert info.value.__cause__ is None  # decided before the SDK (and its retries) ran


def test_a_run_without_network_shows_the_message_once(tmp_path: Path) -> None:
    seen: list[ev.RunEvent] = []
    spec = load_workflow(text=SPEC_MIXED_TEMPLATE.replace("anthropic:claude-loopback-1", "x"))
    with allow_model_requests():
        result = run_workflow(
            spec,
            provider="openai",
            provider_options={"api_key": KEY, "base_url": "https://nbw-test.invalid/v1"},
            runs_dir=tmp_path,
            subscribers=[seen.append],
        )
    assert not result.ok
    assert not [e for e in seen if isinstance(e, ev.NodeRetrying)]
    [failed] = [e for e in seen if isinstance(e, ev.NodeFailed)]
    assert failed.node_id == "analyze" and failed.attempts == 1
    assert failed.message.startswith("no network: cannot resolve nbw-test.invalid")


def _own_address() -> str | None:
    """This machine's non-loopback address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 9))
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_refused_connection_to_a_non_loopback_host_fails_fast() -> None:
    address = _own_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind((address, 0))
        port = sock.getsockname()[1]
    provider = vendor_provider("openai", f"http://{address}:{port}/v1")
    with allow_model_requests(), pytest.raises(ProviderError) as info:
        run(complete(provider, request("m")))
    assert str(info.value).startswith(f"no network: cannot connect to {address}:{port}")
    assert info.value.retryable is False


def test_a_reachable_host_is_checked_once() -> None:
    # The server listens on loopback, reached through a name that is not "localhost" so the
    # check runs: it must look once, then trust the host for every later call.
    address = _own_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    with ChatCompletionsServer(["one", "two"], host=address) as server:
        provider = vendor_provider("openai", server.url)
        assert isinstance(provider, OpenAIProvider)

        async def go() -> list[str]:
            try:
                return [(await provider.complete(request("m"))).text for _ in range(2)]
            finally:
                await provider.aclose()

        with allow_model_requests():
            assert run(go()) == ["one", "two"]
        assert len(provider._hosts._ok) == 1
    assert len(server.requests) == 2


# --- layering: vendor SDKs stay in their modules, imported lazily ------------------------------


def test_sdks_are_imported_only_by_their_module_and_only_when_used() -> None:
    import ast
    import subprocess
    import sys

    import nbworkflow

    src = Path(nbworkflow.__file__).parent
    owners = {
        "openai": "agents/openai.py",
        "anthropic": "agents/anthropic.py",
        "genai_prices": "agents/prices.py",
    }
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                assert name not in ("boto3", "botocore", "google"), rel
                assert owners.get(name, rel) == rel, f"{rel} imports {name}"
    code = (
        "import sys, nbworkflow.agents, nbworkflow.agents.routing, nbworkflow.agents.models, "
        "nbworkflow.agents.prices, nbworkflow.agents.openai, nbworkflow.agents.network, "
        "nbworkflow.testing.openai_server, nbworkflow.testing.cloud_server\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'genai_prices', 'httpx2') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_two_vendor_example_replays_offline(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "two_vendors" / "workflow.yaml"
    result = run_workflow(example, runs_dir=tmp_path)  # auto: the cassette next to the spec
    assert result.ok, result
    assert "def due_for_reminder" in result.output("implement").content
    assert result.output("fields").data["fields"][0] == {"name": "due", "type": "string"}


def test_vendor_providers_pickle_as_name_and_options() -> None:
    import anthropic

    providers = [
        vendor_provider(vendor, "http://127.0.0.1:9/v1")
        for vendor in ("anthropic", "openai", "ollama", "bedrock", "vertex")
    ]
    for provider in providers:
        clone = pickle.loads(pickle.dumps(provider))
        assert type(clone) is type(provider) and clone is not provider
        assert clone.name == provider.name
        assert clone.base_url == provider.base_url  # type: ignore[attr-defined]
        run(clone.aclose())
        run(provider.aclose())
    own = AnthropicProvider(client=anthropic.AsyncAnthropic(api_key=KEY))
    with pytest.raises(TypeError, match="build it from options"):
        pickle.dumps(own)


def test_host_check_tries_every_address_before_saying_no(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbworkflow.agents.network import HostCheck

    async def two_addresses(self: Any, host: str, port: int, **kwargs: Any) -> list[Any]:
        # The first address refuses (nothing listens on 127.0.0.2), the second answers.
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", two_addresses)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert run(HostCheck()._probe("api.example.test", port)) is None
        listener.close()
        problem = run(HostCheck()._probe("api.example.test", port))
    assert problem is not None and problem.startswith(f"cannot connect to api.example.test:{port}")


def test_offline_providers_ignore_options_meant_for_live_vendors() -> None:
    from nbworkflow.agents.replay import ReplayProvider
    from nbworkflow.agents.scripted import ScriptedProvider

    cassette = Path(__file__).resolve().parents[1] / "examples/two_vendors/workflow.cassette.jsonl"
    live = {"openai": {"api_key": KEY}, "ollama": {"base_url": "http://127.0.0.1:9/v1"}}
    assert isinstance(resolve_provider("auto", cassette=cassette, **live), ReplayProvider)
    assert isinstance(resolve_provider("scripted", script={"a": "x"}, **live), ScriptedProvider)


def test_a_routed_run_is_named_after_the_vendors_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    spec = load_workflow(text=SPEC_BARE.replace("some-model", "openai:gpt-4.1-mini"))
    provider = resolve_provider("auto", spec=spec)
    assert isinstance(provider, RoutingProvider) and provider.name == "openai"
    run(provider.aclose())

"""Re-record ``workflow.cassette.jsonl``: one workflow on two vendors through their real SDKs.

``requirements`` and ``fields`` run on ``openai:gpt-4.1-mini`` (the ``openai`` SDK, Chat
Completions), ``implement`` on ``anthropic:claude-sonnet-5`` (the ``anthropic`` SDK,
Messages). Each SDK talks real HTTP to a loopback server of nbworkflow's test doubles that
answers like ``script.yaml``; every call is recorded with the vendor that answered. Then
``nbworkflow run examples/two_vendors/workflow.yaml`` replays it offline.

    python examples/two_vendors/record_cassette.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from nbworkflow import load_workflow, run_workflow
from nbworkflow.agents.testing import MessagesServer, ReceivedRequest, Reply, message_reply
from nbworkflow.testing.openai_server import ChatCompletionsServer, chat_reply, chat_system

HERE = Path(__file__).parent
CASSETTE = HERE / "workflow.cassette.jsonl"


def main() -> int:
    script = yaml.safe_load((HERE / "script.yaml").read_text(encoding="utf-8"))
    spec = load_workflow(HERE / "workflow.yaml")
    by_persona = {node.agent: node.id for node in spec.nodes}

    def answer_text(system: str) -> tuple[str, int]:
        persona = re.match(r"You are an? (.+?) working", system)
        node_id = by_persona[persona.group(1)] if persona else ""
        text = json.dumps(script[node_id])
        return text, len(text) // 4  # about 4 characters a token

    def openai_answer(request: ReceivedRequest) -> Reply:
        text, out = answer_text(chat_system(request))
        prompt = len(json.dumps(request.json)) // 4
        return chat_reply(text, prompt_tokens=prompt, completion_tokens=out, model="gpt-4.1-mini")

    def anthropic_answer(request: ReceivedRequest) -> Reply:
        text, out = answer_text(request.system or "")
        prompt = len(json.dumps(request.json)) // 4
        return message_reply(
            text, input_tokens=prompt, output_tokens=out, model="claude-sonnet-5"
        )

    CASSETTE.unlink(missing_ok=True)
    with (
        ChatCompletionsServer(responder=openai_answer) as openai_server,
        MessagesServer(responder=anthropic_answer) as anthropic_server,
    ):
        result = run_workflow(
            spec,
            provider="anthropic",  # live vendors; "auto" would pick script.yaml
            provider_options={
                "openai": {"api_key": "sk-loopback-recording", "base_url": openai_server.url},
                "anthropic": {
                    "api_key": "sk-loopback-recording",
                    "base_url": anthropic_server.url,
                },
                "record": str(CASSETTE),
            },
            runs_dir=None,
            cache=False,
        )
        calls = len(openai_server.requests), len(anthropic_server.requests)
    print(f"{result.status.value}: {calls[0]} OpenAI + {calls[1]} Anthropic calls -> {CASSETTE}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

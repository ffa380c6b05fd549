"""Re-record ``workflow.cassette.jsonl``: the CRM workflow through the real ``anthropic`` SDK.

The SDK talks real HTTP to a loopback server that speaks the Messages API and answers like the
scripted agent (``script.yaml``), while the adaptive node checks its code against the contract
mock of ``crm_openapi.yaml``. Every request/response pair is recorded, keyed by model, system prompt, messages and
output schema (no headers, no key). ``nbworkflow run examples/crm/workflow.yaml`` then replays
it offline (the ``auto`` provider prefers a cassette next to the spec).

    python examples/crm/record_cassette.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from nbworkflow import load_workflow, run_workflow
from nbworkflow.staging import OpenAPIMock
from nbworkflow.testing import MessagesServer, ReceivedRequest, message_reply

HERE = Path(__file__).parent
CASSETTE = HERE / "workflow.cassette.jsonl"


def main() -> int:
    script = yaml.safe_load((HERE / "script.yaml").read_text(encoding="utf-8"))
    by_persona = {node.agent: node.id for node in load_workflow(HERE / "workflow.yaml").nodes}

    def answer(request: ReceivedRequest) -> object:
        persona = re.match(r"You are an? (.+?) working", request.system or "")
        node_id = by_persona[persona.group(1)] if persona else ""
        text = json.dumps(script[node_id])
        # Token counts as a model would report them, roughly (4 characters a token).
        return message_reply(
            text, input_tokens=len(json.dumps(request.json)) // 4, output_tokens=len(text) // 4
        )

    CASSETTE.unlink(missing_ok=True)
    with (
        OpenAPIMock(HERE / "crm_openapi.yaml", token="staging-demo-token") as crm,
        MessagesServer(responder=answer) as server,
    ):
        spec = load_workflow(HERE / "workflow.yaml", variables={"STAGING_URL": crm.url})
        result = run_workflow(
            spec,
            provider="anthropic",
            provider_options={
                "api_key": "sk-loopback-recording",
                "base_url": server.url,
                "record": str(CASSETTE),
            },
            runs_dir=None,
            cache=False,
        )
    print(f"{result.status.value}: {len(server.requests)} model calls recorded to {CASSETTE}")
    for node in result.state.nodes.values():
        if node.message:
            print(f"  {node.id}: {node.status.value}: {node.message}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

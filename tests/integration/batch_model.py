"""A scripted model for batch tests on Dask workers (importable there: workers share sys.path).

It answers every node, fails the item whose name is ``Bob``, says whether the worker's own
environment filled ``${NBW_BATCH_TEST_TOKEN}``, and waits
``latency`` seconds per call like a remote model.
"""

from __future__ import annotations

import os
from typing import Any

from nbworkflow.agents import ScriptedProvider
from nbworkflow.agents.base import ModelRequest
from nbworkflow.exceptions import ProviderError

SECRET_NAME = "NBW_BATCH_TEST_TOKEN"

WORKFLOW = """\
name: greet
secrets: [NBW_BATCH_TEST_TOKEN]
nodes:
  - id: hello
    action: "Greet ${item.name} (key ${NBW_BATCH_TEST_TOKEN:-none})"
  - id: bye
    action: Say bye
    depends_on: hello
"""


class ItemModel(ScriptedProvider):
    def __init__(self, latency: float = 0.0) -> None:
        super().__init__({"bye": {"rationale": "r", "content": "bye"}}, latency=latency)
        self.responders = {"hello": _hello}

    def __reduce__(self) -> tuple[Any, ...]:
        return (ItemModel, (self.latency,))


def _hello(request: ModelRequest) -> dict[str, str]:
    text = "\n".join(m.content for m in request.messages)
    line = next(x for x in text.splitlines() if x.startswith("Greet "))
    if line.startswith("Greet Bob "):
        raise ProviderError("Bob is not welcome")
    # The engine redacts the value from the prompt: "(key none)" would mean it was not set.
    has_secret = bool(os.environ.get(SECRET_NAME)) and "(key none)" not in line
    return {
        "rationale": "r",
        "content": f"{line.split(' (')[0]} secret={has_secret} brief={'the brief text' in text}",
    }

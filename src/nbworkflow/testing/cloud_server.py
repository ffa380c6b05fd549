"""Loopback servers for Claude on AWS Bedrock and Google Vertex AI, as the anthropic SDK calls them.

Both answer Messages API bodies (``message_reply``, ``error_reply``); only the path differs:
Bedrock ``POST /model/{model}/invoke`` (model in the path, ``anthropic_version`` in the body,
SigV4 or bearer auth), Vertex ``POST .../projects/{p}/locations/{r}/publishers/anthropic/
models/{model}:rawPredict`` (bearer token). ``model_in_path`` reads the model back.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from .messages import MessagesServer, ReceivedRequest

_BEDROCK = re.compile(r"/model/(?P<model>[^/]+)/invoke$")
_VERTEX = re.compile(
    r"/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"
    r"(?P<model>[^/]+):rawPredict$"
)


class BedrockServer(MessagesServer):
    """``MessagesServer`` for ``AsyncAnthropicBedrock`` (``base_url=server.url``)."""

    api_path = "/model/{model}/invoke"

    def serves(self, path: str) -> bool:
        return _BEDROCK.search(path) is not None


class VertexServer(MessagesServer):
    """``MessagesServer`` for ``AsyncAnthropicVertex`` (``base_url=server.url``)."""

    api_path = (
        "/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict"
    )

    def serves(self, path: str) -> bool:
        return _VERTEX.search(path) is not None


def model_in_path(request: ReceivedRequest) -> str | None:
    """The model a Bedrock or Vertex request names in its path."""
    path = request.path.split("?")[0]
    match = _BEDROCK.search(path) or _VERTEX.search(path)
    return unquote(match.group("model")) if match else None


__all__ = ["BedrockServer", "VertexServer", "model_in_path"]

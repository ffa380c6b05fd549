"""A loopback server that speaks OpenAI's Chat Completions API, for the real ``openai`` SDK.

``ChatCompletionsServer`` is ``MessagesServer`` (same scripting, same request log, same
lifecycle) answering ``POST /v1/chat/completions`` with Chat Completions bodies::

    with ChatCompletionsServer([openai_error_reply(429, headers=FAST), "hello"]) as server:
        provider = OpenAIProvider(api_key="test", base_url=server.url)
        ...
    assert chat_system(server.requests[1]) == "..."

A ``str`` reply is the assistant's text, a mapping is sent as the JSON text of the answer.
Only the standard library is imported.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

from .messages import MessagesServer, ReceivedRequest, Reply, ReplyLike

_ids = itertools.count(1)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "model_not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


def chat_reply(
    text: str,
    *,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    model: str = "gpt-loopback",
    finish_reason: str = "stop",
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
    usage: bool = True,
) -> Reply:
    """A 200 Chat Completions answer with one choice holding ``text``."""
    body: dict[str, Any] = {
        "id": f"chatcmpl-loopback-{next(_ids):06d}",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
    }
    if usage:  # some servers leave it out
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return Reply(200, body, dict(headers or {}), delay)


def openai_error_reply(
    status: int,
    message: str = "",
    *,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Reply:
    """An error answer with OpenAI's error body."""
    kind = _ERROR_TYPES.get(status, "server_error")
    body = {"error": {"message": message or kind, "type": kind, "param": None, "code": kind}}
    return Reply(status, body, dict(headers or {}), delay)


def chat_system(request: ReceivedRequest) -> str:
    """The system message of a received Chat Completions request (``""`` if none)."""
    for message in request.messages:
        if message.get("role") == "system":
            return str(message.get("content") or "")
    return ""


def response_format(request: ReceivedRequest) -> dict[str, Any] | None:
    """The ``response_format`` a request asked for."""
    value = request.json.get("response_format")
    return value if isinstance(value, dict) else None


class ChatCompletionsServer(MessagesServer):
    """``MessagesServer`` for the Chat Completions API (``url`` ends in ``/v1``)."""

    api_path = "/v1/chat/completions"

    def serves(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def as_reply(self, item: ReplyLike) -> Reply:
        if isinstance(item, Reply):
            return item
        if isinstance(item, str):
            return chat_reply(item)
        return chat_reply(json.dumps(item, ensure_ascii=False))

    @property
    def url(self) -> str:
        """The base URL to hand the SDK (``http://127.0.0.1:PORT/v1``)."""
        return MessagesServer.url.fget(self) + "/v1"  # type: ignore[attr-defined,no-any-return]

    base_url = url

    def env(self, api_key: str = "sk-loopback-test") -> dict[str, str]:
        """Environment for a child process to talk to this server as ``openai:`` models."""
        return {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": api_key}


__all__ = [
    "ChatCompletionsServer",
    "chat_reply",
    "chat_system",
    "openai_error_reply",
    "response_format",
]

"""Test doubles shipped for users' tests (fake vendor servers)."""

# Like ``trio.testing``: the loopback Messages API server (``MessagesServer``) and its reply
# helpers. The product never imports this package; the request guard that keeps tests away
# from real models is product code (``nbworkflow.agents.guard``, re-exported here).

from __future__ import annotations

from ..agents.guard import ALLOW_ENV, allow_model_requests, check_model_request
from .messages import (
    MessagesServer,
    ReceivedRequest,
    Reply,
    error_reply,
    message_reply,
    tool_reply,
)

__all__ = [
    "ALLOW_ENV",
    "MessagesServer",
    "ReceivedRequest",
    "Reply",
    "allow_model_requests",
    "check_model_request",
    "error_reply",
    "message_reply",
    "tool_reply",
]

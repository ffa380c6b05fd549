"""A loopback Messages API server: the real ``anthropic`` SDK tested over real HTTP.

``MessagesServer`` speaks ``POST /v1/messages`` on 127.0.0.1 (a free port, a thread of the
stdlib ``http.server``), so the SDK can be tested with an explicit ``base_url`` and ``api_key``:
it serves scripted replies in order (status codes, headers such as ``retry-after`` or
``x-should-retry``, delays) and records every request it received (body and headers)::

    with MessagesServer([error_reply(529), "hello"]) as server:
        provider = AnthropicProvider(api_key="test", base_url=server.url)
        ...
    assert server.requests[1].system == "..."

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted HTTP answer of the loopback server."""

    status: int = 200
    body: Any = None
    """A JSON value (serialized), ``str``/``bytes`` (sent as is), or ``None`` (empty body)."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (to hit a client timeout)."""


_message_counter = 0
_counter_lock = threading.Lock()


def _message_id() -> str:
    global _message_counter
    with _counter_lock:
        _message_counter += 1
        return f"msg_loopback_{_message_counter:06d}"


def message_reply(
    text: str,
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    model: str = "claude-loopback",
    stop_reason: str = "end_turn",
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Reply:
    """A 200 Messages API answer whose content is one text block."""
    body = {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    return Reply(200, body, dict(headers or {}), delay)


def tool_reply(
    arguments: Mapping[str, Any],
    *,
    name: str = "answer",
    input_tokens: int = 10,
    output_tokens: int = 5,
    model: str = "claude-loopback",
) -> Reply:
    """A 200 Messages API answer whose content is one ``tool_use`` block."""
    body = {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "tool_use", "id": "toolu_loopback", "name": name, "input": dict(arguments)}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    return Reply(200, body)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_reply(
    status: int,
    message: str = "",
    *,
    headers: Mapping[str, str] | None = None,
    error_type: str | None = None,
    delay: float = 0.0,
) -> Reply:
    """An error answer with the Messages API's error body."""
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message or kind}}
    return Reply(status, body, dict(headers or {}), delay)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the server received, for assertions."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """The parsed JSON body (``None`` if it was not JSON)."""

    @property
    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def model(self) -> str | None:
        return self.json.get("model")

    @property
    def system(self) -> str | None:
        """The system prompt (text blocks joined)."""
        system = self.json.get("system")
        if isinstance(system, list):
            return "".join(b.get("text", "") for b in system if isinstance(b, dict))
        return system

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.json.get("messages") or [])

    @property
    def last_user_text(self) -> str:
        """The text of the last user message."""
        for msg in reversed(self.messages):
            if msg.get("role") == "user":
                content = msg.get("content")
                if isinstance(content, list):
                    return "".join(b.get("text", "") for b in content if isinstance(b, dict))
                return str(content)
        return ""

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON Schema asked for: ``output_config.format.schema`` or the forced tool's."""
        fmt = (self.json.get("output_config") or {}).get("format")
        if isinstance(fmt, dict) and "schema" in fmt:
            return fmt["schema"]  # type: ignore[no-any-return]
        choice = self.json.get("tool_choice") or {}
        for tool in self.json.get("tools") or []:
            if tool.get("name") == choice.get("name"):
                return tool.get("input_schema")  # type: ignore[no-any-return]
        return None


ReplyLike = Reply | str | Mapping[str, Any]
Responder = Callable[[ReceivedRequest], ReplyLike]


def _as_reply(item: ReplyLike) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return message_reply(item)
    return message_reply(json.dumps(item, ensure_ascii=False))


class MessagesServer:
    """A loopback ``POST /v1/messages`` server; see the module docstring.

    ``replies`` are served in order, one per request: a ``Reply``, a ``str`` (a text answer), a
    mapping (sent as the JSON text of a text answer) or a callable ``(ReceivedRequest) -> reply``.
    When the queue is empty ``responder`` answers, if given; otherwise the server answers 500
    with ``x-should-retry: false`` and a message saying no reply was scripted.
    """

    def __init__(
        self,
        replies: Iterable[ReplyLike | Responder] = (),
        *,
        responder: Responder | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._queue: deque[ReplyLike | Responder] = deque(replies)
        self.responder = responder
        self.host = host
        self.requests: list[ReceivedRequest] = []
        """Every request received, in order."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> MessagesServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="nbworkflow-messages-server",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes replies that are waiting out a delay
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MessagesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """The base URL to hand the SDK (``http://127.0.0.1:PORT``)."""
        if self._server is None:
            raise RuntimeError("the MessagesServer is not running: use it as a context manager")
        port = self._server.server_address[1]
        return f"http://{self.host}:{port}"

    base_url = url

    def env(self, api_key: str = "sk-loopback-test") -> dict[str, str]:
        """Environment for a child process (a kernel, the CLI) to talk to this server."""
        return {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": api_key}

    # scripting -----------------------------------------------------------------------------
    def add(self, *replies: ReplyLike | Responder) -> None:
        """Queue more replies."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not served yet."""
        return len(self._queue)

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            item = self._queue.popleft() if self._queue else None
        if item is None:
            if self.responder is None:
                return error_reply(
                    500,
                    f"MessagesServer: no scripted reply left for request {len(self.requests)}",
                    headers={"x-should-retry": "false"},
                )
            item = self.responder
        if callable(item):
            item = item(request)
        return self.as_reply(item)

    # other APIs (``nbworkflow.testing.openai_server``) override these two and ``api_path``
    api_path = "/v1/messages"

    def serves(self, path: str) -> bool:
        return path == self.api_path

    def as_reply(self, item: ReplyLike) -> Reply:
        return _as_reply(item)


def _make_handler(owner: MessagesServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read requests
            return None

        def _read_request(self) -> ReceivedRequest:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            return ReceivedRequest(self.command, self.path, headers, body)

        def _send(self, reply: Reply) -> None:
            if reply.delay and owner._stopping.wait(reply.delay):
                return
            if isinstance(reply.body, bytes):
                payload = reply.body
            elif isinstance(reply.body, str):
                payload = reply.body.encode()
            elif reply.body is None:
                payload = b""
            else:
                payload = json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                headers = {"content-type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", f"req_loopback_{len(owner.requests)}")
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def do_POST(self) -> None:
            request = self._read_request()
            if not owner.serves(request.path.split("?")[0].rstrip("/")):
                with owner._lock:
                    owner.requests.append(request)
                self._send(
                    error_reply(
                        404,
                        f"{type(owner).__name__} only serves POST {owner.api_path}, "
                        f"not {request.path}",
                    )
                )
                return
            self._send(owner._next_reply(request))

    return Handler


__all__ = [
    "MessagesServer",
    "ReceivedRequest",
    "Reply",
    "ReplyLike",
    "Responder",
    "error_reply",
    "message_reply",
    "tool_reply",
]

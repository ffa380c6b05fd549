"""The HTTP plumbing of the contract mock: a small threaded server with faults and a token.

``ServedMock`` starts and stops a mock on 127.0.0.1 (a free port, a daemon thread, or the
calling thread with ``serve_forever``); ``MockHandler`` holds what every route shares: reading a
bounded body, JSON answers, the bearer token, injected faults (503s, slow answers, reset
connections) and the ``/_chaos/`` routes. ``OpenAPIMock`` (``mock.py``) routes a document's
operations through it; the hand-written CRM mock that the chaos benchmark measures it against
(``examples/crm/handwritten_mock/``) does too, so both pay the same plumbing.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from .. import boundedjson

DEFAULT_TOKEN = "staging-demo-token"
DEFAULT_PORT = 8765
MAX_BODY = 1 << 20


class ServedMock:
    """Start/stop plumbing shared by the mocks: 127.0.0.1, a free port, a daemon thread."""

    host: str
    port: int
    handler: type[BaseHTTPRequestHandler]
    name = "mock"

    def _init_served(self) -> None:
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} is not started: use start() or 'with'")
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}"

    def bind(self) -> None:
        if self._server is None:
            self._stop.clear()
            self._server = _Server((self.host, self.port), self.handler, self)
            self.port = self._server.server_address[1]

    def start(self) -> Self:
        """Serve on a daemon thread; returns ``self``."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until ``stop()`` or Ctrl-C."""
        self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            self._close()

    def stop(self) -> None:
        self._stop.set()  # wakes handlers sleeping on a ``slow`` fault
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], crm: Any
    ) -> None:
        # ``OpenAPIMock`` or a hand-written mock: the handler only uses what they share.
        self.crm: Any = crm
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, reset) is part of the game, not a server bug.
        if not self.crm.quiet:
            super().handle_error(request, client_address)


class MockHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nbworkflow-mock/1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every request, which capped both mocks at ~22 requests/s.
    disable_nagle_algorithm = True
    server: _Server

    # -- plumbing --------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.crm.quiet:
            sys.stderr.write(f"{self.server.crm.name} {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        crm = self.server.crm
        crm.counts[str(status)] += 1
        if status >= 400 and isinstance(body, dict):
            debug: dict[str, str] = {}
            if crm.error_debug:
                debug["note"] = crm.error_debug
            if crm.echo_auth_in_errors:
                debug["authorization"] = self.headers.get("Authorization", "")
            if debug:
                body = {**body, "debug": debug}
        # compact: the C encoder (indent=1 fell back to the pure-Python one, 7x slower on a
        # 422); readers re-indent what they show (the adaptive node pretty-prints a body)
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, **extra: Any) -> None:
        phrase = HTTPStatus(status).phrase.lower().replace(" ", "_")
        self._send(status, {"error": phrase, "message": message, **extra})

    def _authorized(self) -> bool:
        expected = f"Bearer {self.server.crm.token}"
        if self.headers.get("Authorization", "") == expected:
            return True
        self._error(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'")
        return False

    def _reset(self) -> None:
        """Drop the connection with a TCP RST, without answering."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _injected_fault(self) -> bool:
        """Play the next planned fault, if any; ``True`` when the request got it instead."""
        crm = self.server.crm
        fault = crm.faults.next_fault()
        if fault == "reset":
            self._reset()
            return True
        if fault == "slow" and crm._stop.wait(crm.faults.slow_seconds):
            self._reset()  # shutting down: do not keep the client waiting
            return True
        if fault in ("500", "502", "503", "429"):
            status = int(fault)
            self._send(
                status,
                {"error": "unavailable", "message": f"injected fault: HTTP {status}; retry later"},
                {"Retry-After": "1"},
            )
            return True
        return False

    def _chaos(self, path: str, raw: bytes) -> None:
        crm = self.server.crm
        try:
            body = boundedjson.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/_chaos/mutate":
                self._send(200, crm.mutate_answer(body.get("kind")))
            elif path == "/_chaos/faults":
                if "rates" in body:
                    crm.faults.set_rates(body["rates"])
                crm.faults.schedule(body.get("next", []))
                self._send(200, crm.state())
            elif path == "/_chaos/reset":
                crm.reset_contract()
                crm.faults.clear()
                self._send(200, crm.state())
            else:
                self._error(404, f"no chaos route {path}")
        except ValueError as exc:
            self._error(400, str(exc))


_Handler = MockHandler  # the name ``mock`` imports

__all__ = ["DEFAULT_PORT", "DEFAULT_TOKEN", "MAX_BODY", "MockHandler", "ServedMock"]

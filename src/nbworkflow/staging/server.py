"""The mock CRM staging API: a small threaded HTTP server with chaos and fault injection.

(Over 400 lines because the HTTP handler plumbing here, auth, faults, resets and error bodies,
is shared with the OpenAPI contract mock in ``mock.py``; the CRM routes are the rest.)

Endpoints (every one but ``/openapi.json`` and ``/healthz`` needs ``Authorization: Bearer
<token>``; 401 otherwise):

``GET /openapi.json``
    The OpenAPI document of the *current* contract.
``POST /users``
    Validates the JSON body against the contract: 201 with the created user, 400 when the body
    is not JSON, 422 with field-level ``detail`` (plus the current ``schema``) otherwise.
``GET /users``
    Users created so far.
``GET /_chaos/state``, ``POST /_chaos/mutate`` (``{"kind": ...}`` optional),
``POST /_chaos/faults`` (``{"next": ["503", ...], "rates": {"503": 0.2}}``), ``POST /_chaos/reset``
    Drive the chaos from outside the process (the CLI server, notebooks).

Faults apply to ``POST /users`` only, before anything else (like a load balancer in front of the
app). Use ``MockCRM`` as a context manager in Python (it binds 127.0.0.1 on a free port), or
``serve()`` / ``main(argv)`` for a blocking server (``nbworkflow staging serve --port 8765``).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from .contract import MUTATION_KINDS, Contract, Mutation, MutationKind, Mutator, initial_contract
from .faults import FaultPlan
from .openapi import openapi_document

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


class MockCRM(ServedMock):
    """The mock CRM: contract, mutator and faults, served over HTTP on a background thread.

    ``with MockCRM(token="t", seed=1) as crm: ... crm.url ...`` starts it on 127.0.0.1 with a
    free port and stops it on exit. ``mutate()`` changes the contract now; ``mutate_every=N``
    changes it after every N ``POST /users`` requests; ``faults`` injects infrastructure faults.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        seed: int = 0,
        contract: Contract | None = None,
        mutate_every: int | None = None,
        fault_rates: Mapping[str, float] | None = None,
        slow_seconds: float = 5.0,
        error_debug: str | None = None,
        echo_auth_in_errors: bool = False,
        quiet: bool = True,
    ) -> None:
        if mutate_every is not None and mutate_every < 1:
            raise ValueError("mutate_every must be at least 1")
        self.host = host
        self.port = port
        self.token = token
        self.seed = seed
        self.initial = contract or initial_contract()
        self.contract = self.initial
        self.mutator = Mutator(seed)
        self.mutate_every = mutate_every
        self.faults = FaultPlan(seed=seed, rates=fault_rates, slow_seconds=slow_seconds)
        self.error_debug = error_debug
        """Planted in every error body (tests check it never reaches the model)."""
        self.echo_auth_in_errors = echo_auth_in_errors
        """Echo the request's Authorization header in error bodies, like a careless server."""
        self.quiet = quiet
        self.mutations: list[Mutation] = []
        self.users: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        """``requests``, ``users_requests`` and one entry per answered status (``"422"``...)."""
        self._lock = threading.RLock()
        self._init_served()

    # -- chaos -----------------------------------------------------------------------------
    def mutate(self, kind: MutationKind | None = None) -> Mutation:
        """Change the contract now (a seeded random applicable mutation unless ``kind``)."""
        with self._lock:
            self.contract, mutation = self.mutator.mutate(self.contract, kind)
            self.mutations.append(mutation)
            return mutation

    def mutate_answer(self, kind: MutationKind | None) -> dict[str, Any]:
        """What ``POST /_chaos/mutate`` answers."""
        mutation = self.mutate(kind)
        return {
            "kind": mutation.kind,
            "description": mutation.description,
            "version": mutation.version,
            "details": mutation.details,
        }

    def reset_contract(self) -> None:
        with self._lock:
            self.contract = self.initial
            self.mutations.clear()

    def fail_next(self, count: int, fault: str = "503") -> None:
        """Inject ``fault`` into the next ``count`` ``POST /users`` requests."""
        self.faults.fail_next(count, fault)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "contract_version": self.contract.version,
                "history": list(self.contract.history),
                "schema": self.contract.request_schema(),
                "counts": dict(self.counts),
                "faults_injected": dict(self.faults.injected),
                "faults_pending": self.faults.pending,
                "fault_rates": dict(self.faults.rates),
                "users": len(self.users),
            }

    # -- request handling (called from handler threads) ------------------------------------
    def _create_user(self, body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.counts["users_requests"] += 1
            n = self.counts["users_requests"]
            if self.mutate_every and n > 1 and (n - 1) % self.mutate_every == 0:
                self.mutate()
            contract = self.contract
            problems = contract.validate(body)
            if problems:
                fields = ", ".join(sorted({p["field"] or "body" for p in problems}))
                return 422, {
                    "error": "validation_failed",
                    "message": f"the payload does not match UserCreate v{contract.version}: {fields}",
                    "detail": problems,
                    "schema": contract.request_schema(),
                    "contract_version": contract.version,
                }
            user = {"id": f"usr_{len(self.users) + 1:04d}", **body}
            if len(self.users) < 10_000:
                self.users.append(user)
            return 201, user


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], crm: Any
    ) -> None:
        # ``MockCRM`` or ``OpenAPIMock``: the handler only uses what both have.
        self.crm: Any = crm
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, reset) is part of the game, not a server bug.
        if not self.crm.quiet:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MockCRM/1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every request, which capped both mocks at ~22 requests/s.
    disable_nagle_algorithm = True
    server: _Server

    # -- plumbing --------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.crm.quiet:
            sys.stderr.write(f"mock-crm {self.address_string()} {format % args}\n")

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
        data = json.dumps(body, indent=1).encode()
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

    # -- routes ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        crm = self.server.crm
        crm.counts["requests"] += 1
        self._read_body()
        path = self.path.split("?", 1)[0]
        if path == "/openapi.json":
            self._send(200, openapi_document(crm.contract, server_url=crm.url))
        elif path == "/healthz":
            self._send(200, {"ok": True})
        elif path == "/users":
            if self._authorized():
                self._send(200, {"users": list(crm.users)})
        elif path == "/_chaos/state":
            if self._authorized():
                self._send(200, crm.state())
        else:
            self._error(404, f"no route GET {path}")

    def do_POST(self) -> None:
        crm = self.server.crm
        crm.counts["requests"] += 1
        raw = self._read_body()
        path = self.path.split("?", 1)[0]
        if path == "/users":
            self._post_users(raw)
        elif path.startswith("/_chaos/"):
            if self._authorized():
                self._chaos(path, raw)
        else:
            self._error(404, f"no route POST {path}")

    def do_PUT(self) -> None:
        self._not_allowed()

    def do_PATCH(self) -> None:
        self._not_allowed()

    def do_DELETE(self) -> None:
        self._not_allowed()

    def _not_allowed(self) -> None:
        self._read_body()
        self._error(405, f"{self.command} is not allowed on {self.path}; use POST /users")

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

    def _post_users(self, raw: bytes) -> None:
        crm = self.server.crm
        if self._injected_fault():
            return
        if not self._authorized():
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            self._error(400, f"the body is not valid JSON: {exc}")
            return
        status, answer = crm._create_user(body)
        self._send(status, answer)

    def _chaos(self, path: str, raw: bytes) -> None:
        crm = self.server.crm
        try:
            body = json.loads(raw or b"{}")
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


MockCRM.handler = _Handler


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    token: str = DEFAULT_TOKEN,
    seed: int = 0,
    mutate_every: int | None = None,
    fault_rates: Mapping[str, float] | None = None,
    slow_seconds: float = 5.0,
    quiet: bool = False,
) -> None:
    """Run the mock CRM in the foreground until Ctrl-C (what ``nbworkflow staging serve`` calls)."""
    crm = MockCRM(
        host=host,
        port=port,
        token=token,
        seed=seed,
        mutate_every=mutate_every,
        fault_rates=fault_rates,
        slow_seconds=slow_seconds,
        quiet=quiet,
    )
    crm.bind()
    print(
        f"mock CRM staging API on {crm.url} (contract v{crm.contract.version}, seed {seed}); "
        f"OpenAPI at {crm.url}/openapi.json; Ctrl-C to stop",
        flush=True,
    )
    crm.serve_forever()


__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TOKEN",
    "MUTATION_KINDS",
    "MockCRM",
    "ServedMock",
    "serve",
]

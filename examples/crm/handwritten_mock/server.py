"""The hand-written mock CRM: ``POST /users`` checked by a contract written in Python.

It was the bundled staging API before ``OpenAPIMock`` of ``examples/crm/crm_openapi.yaml``
replaced it; it stays as the chaos benchmark's baseline (``bench/chaos.py`` measures both in the
same run) and shares the package's HTTP plumbing (``ServedMock``, ``MockHandler``), so the
comparison is of the request checking alone.

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
    Drive the chaos from outside the process.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from nbworkflow.staging.faults import FaultPlan
from nbworkflow.staging.server import DEFAULT_TOKEN, MockHandler, ServedMock

from .contract import Contract, Mutation, MutationKind, Mutator, initial_contract
from .openapi import openapi_document


class MockCRM(ServedMock):
    """The mock CRM: contract, mutator and faults, served over HTTP on a background thread.

    ``with MockCRM(token="t", seed=1) as crm: ... crm.url ...`` starts it on 127.0.0.1 with a
    free port and stops it on exit. ``mutate()`` changes the contract now; ``mutate_every=N``
    changes it after every N ``POST /users`` requests; ``faults`` injects infrastructure faults.
    """

    name = "mock CRM"

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


class _CRMHandler(MockHandler):
    server_version = "MockCRM/1"

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


MockCRM.handler = _CRMHandler


__all__ = ["MockCRM"]

"""The contract mock of any OpenAPI 3.0/3.1 document, served on loopback.

Every operation of the document is served at its path (the document's ``servers`` prefix is
dropped). Requests with a JSON body are validated by ``openapi-core``: 422 with field-level
``detail`` plus the current request ``schema`` (the shape the adaptive node and the repair agents
read), otherwise a 2xx body built from the response schema. One operation is *staged*: it gets
the infrastructure faults (``FaultPlan``) and the seeded mutations (``DocumentMutator``). Every
route but ``/openapi.json`` and ``/healthz`` needs ``Authorization: Bearer <token>``; the chaos
routes (``/_chaos/state``, ``mutate``, ``faults``, ``reset``) drive it from outside the process.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .document import (
    Operation,
    load_document,
    operations,
    parse_operation,
    request_schema,
)
from .example import example_value
from .faults import FaultPlan
from .mutate import DocumentMutation, DocumentMutator, MutationKind
from .server import DEFAULT_TOKEN, ServedMock, _Handler
from .validation import RequestChecker


def _route_regex(path: str) -> str:
    parts = re.split(r"(\{[^}/]+\})", path)
    return "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)


class _Router:
    """Operation of a request path: literal paths by dict, templated ones by one regex per method.

    OpenAPI matches concrete paths before templated ones (``/pet/findByStatus`` is not
    ``/pet/{petId}``); among templated ones, fewer parameters first, then document order. A
    scan of one regex per operation cost ~0.1 ms per request on a 400-path document.
    """

    def __init__(self, ops: list[Operation]) -> None:
        self._literal: dict[tuple[str, str], Operation] = {}
        templated: dict[str, list[Operation]] = {}
        for op in sorted(ops, key=lambda o: o.path.count("{")):
            if "{" in op.path:
                templated.setdefault(op.method, []).append(op)
            else:  # a path is served with or without one trailing slash
                self._literal.setdefault((op.method, op.path), op)
                self._literal.setdefault((op.method, op.path + "/"), op)
        # One alternation per method: the engine tries the alternatives in order, and the
        # group that matched (``lastindex``) says which operation it was.
        self._templated = {
            method: (
                re.compile("^(?:" + "|".join(f"({_route_regex(o.path)})" for o in group) + ")/?$"),
                group,
            )
            for method, group in templated.items()
        }

    def __call__(self, method: str, path: str) -> Operation | None:
        found = self._literal.get((method, path))
        if found is not None:
            return found
        entry = self._templated.get(method)
        if entry is None:
            return None
        match = entry[0].match(path)
        return entry[1][match.lastindex - 1] if match and match.lastindex else None


class OpenAPIMock(ServedMock):
    """``with OpenAPIMock(doc_or_path, "POST /users") as mock: ... mock.url ...``."""

    def __init__(
        self,
        document: Mapping[str, Any] | str | Path,
        operation: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        seed: int = 0,
        mutate_every: int | None = None,
        fault_rates: Mapping[str, float] | None = None,
        slow_seconds: float = 5.0,
        error_debug: str | None = None,
        echo_auth_in_errors: bool = False,
        quiet: bool = True,
    ) -> None:
        if mutate_every is not None and mutate_every < 1:
            raise ValueError("mutate_every must be at least 1")
        doc = (
            load_document(document)
            if isinstance(document, (str, Path))
            else copy.deepcopy(dict(document))
        )
        self.operation: Operation = parse_operation(doc, operation)
        self.initial: dict[str, Any] = doc
        self.document: dict[str, Any] = copy.deepcopy(doc)
        self.version = 1
        self.host, self.port, self.token, self.seed = host, port, token, seed
        self.mutator = DocumentMutator(seed)
        self.mutate_every = mutate_every
        """Mutate before every N-th checked request to the staged operation (N+1, 2N+1...)."""
        self.mutations: list[DocumentMutation] = []
        self.faults = FaultPlan(seed=seed, rates=fault_rates, slow_seconds=slow_seconds)
        self.error_debug = error_debug
        self.echo_auth_in_errors = echo_auth_in_errors
        self.quiet = quiet
        self.counts: Counter[str] = Counter()
        self.created: list[Any] = []
        self._lock = threading.RLock()
        self._init_served()
        self._checker = RequestChecker.of(self.document)
        self._route = _Router(operations(doc))

    # -- chaos -------------------------------------------------------------------------------
    def mutate(self, kind: MutationKind | None = None) -> DocumentMutation:
        """Change the staged operation's request schema now (seeded unless ``kind``)."""
        with self._lock:
            doc, mutation = self.mutator.mutate(self.document, self.operation, kind)
            self._checker = RequestChecker.of(doc)
            self.document = doc
            self.version += 1
            self.mutations.append(mutation)
            return mutation

    def mutate_answer(self, kind: MutationKind | None) -> dict[str, Any]:
        """What ``POST /_chaos/mutate`` answers."""
        return {**self.mutate(kind).as_dict(), "version": self.version}

    def reset_contract(self) -> None:
        with self._lock:
            self.document = copy.deepcopy(self.initial)
            self._checker = RequestChecker.of(self.document)
            self.version = 1
            self.mutations.clear()

    def fail_next(self, count: int, fault: str = "503") -> None:
        self.faults.fail_next(count, fault)

    def request_schema(self) -> dict[str, Any]:
        with self._lock:
            return request_schema(self.document, self.operation)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "operation": str(self.operation),
                "contract_version": self.version,
                "history": [f"v{i + 2}: {m.description}" for i, m in enumerate(self.mutations)],
                "schema": request_schema(self.document, self.operation),
                "counts": dict(self.counts),
                "faults_injected": dict(self.faults.injected),
                "faults_pending": self.faults.pending,
                "fault_rates": dict(self.faults.rates),
            }

    # -- request handling (handler threads) --------------------------------------------------
    def route(self, method: str, path: str) -> Operation | None:
        return self._route(method, path)

    def answer(self, op: Operation, path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            if self.mutate_every and op == self.operation:
                self.counts["checked_requests"] += 1
                n = self.counts["checked_requests"]
                if n > 1 and (n - 1) % self.mutate_every == 0:
                    self.mutate()
            checker, version = self._checker, self.version
        has_body = body is not None or op == self.operation
        problems = checker.problems(op, path, body) if has_body else []
        if problems:
            fields = ", ".join(sorted({p["field"] or "body" for p in problems}))
            schema = checker.request_schema(op)
            title = schema.get("title") or str(op)
            return 422, {
                "error": "validation_failed",
                "message": f"the payload does not match {title} v{version}: {fields}",
                "detail": problems,
                "schema": schema,
                "contract_version": version,
            }
        status, response_schema = checker.success_response(op)
        if response_schema is None:
            return status, {"ok": True}
        value = example_value(response_schema, body)
        with self._lock:
            if op == self.operation and len(self.created) < 10_000:
                self.created.append(value)
        return status, value


class _OpenAPIHandler(_Handler):
    server_version = "nbworkflow-OpenAPIMock/1"

    def _dispatch(self) -> None:
        mock: OpenAPIMock = self.server.crm
        mock.counts["requests"] += 1
        raw = self._read_body()
        path = self.path.split("?", 1)[0]
        method = self.command.upper()
        if method == "GET" and path == "/openapi.json":
            self._send(200, mock.document)
            return
        if method == "GET" and path == "/healthz":
            self._send(200, {"ok": True})
            return
        if path.startswith("/_chaos/"):
            if self._authorized():
                if method == "GET" and path == "/_chaos/state":
                    self._send(200, mock.state())
                elif method == "POST":
                    self._chaos(path, raw)
                else:
                    self._error(405, f"{method} is not allowed on {path}")
            return
        op = mock.route(method, path)
        if op is None:
            self._error(404, f"no operation {method} {path} in the document")
            return
        if op == mock.operation:
            mock.counts["staged_requests"] += 1
            if self._injected_fault():
                return
        if not self._authorized():
            return
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                self._error(400, f"the body is not valid JSON: {exc}")
                return
            except RecursionError:  # ~1000 nested arrays/objects: the decoder's own limit
                self._error(400, "the body nests arrays/objects too deeply (limit: ~900 levels)")
                return
        status, answer = mock.answer(op, path, body)
        self._send(status, answer)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch


OpenAPIMock.handler = _OpenAPIHandler

__all__ = ["OpenAPIMock"]

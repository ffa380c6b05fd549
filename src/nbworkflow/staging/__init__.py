"""Staging APIs for demos, tests and chaos runs (no network beyond loopback).

``OpenAPIMock`` is the contract mock of any OpenAPI 3.0/3.1 document (openapi-core validation,
field-level 422s, 2xx bodies from the response schema, injected faults: 503s, slow answers, reset
connections, seeded rates or exact schedules; a bearer token). ``DocumentMutator`` changes a
document's request schema from a seed (``nbworkflow.chaos`` runs a workflow's adaptive node
through them). The bundled CRM is ``OpenAPIMock(bundled_document("crm"))``: its document ships
in the wheel. ``serve()`` / ``main(argv)`` run a mock in the foreground (``nbworkflow staging
serve``). ``repair_responder`` is the deterministic repair agent that heals mappers from the
422 answers of documents with ``x-source`` annotations (the CRM's).

(The hand-written mock CRM, ``MockCRM`` with its Python ``Contract`` and ``Mutator``, moved to
``examples/crm/handwritten_mock/``: it is the chaos benchmark's baseline, not part of the API.)
"""

from __future__ import annotations

from .bundled import bundled_document, bundled_example
from .command import serve
from .command import serve_main as main
from .contract import MUTATION_KINDS, MutationKind
from .document import DocumentError, load_document
from .faults import FAULTS, FaultPlan
from .mock import OpenAPIMock
from .mutate import DocumentMutation, DocumentMutator
from .repair import mapper_code, repair, repair_responder
from .server import DEFAULT_PORT, DEFAULT_TOKEN

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TOKEN",
    "FAULTS",
    "MUTATION_KINDS",
    "DocumentError",
    "DocumentMutation",
    "DocumentMutator",
    "FaultPlan",
    "MutationKind",
    "OpenAPIMock",
    "bundled_document",
    "bundled_example",
    "load_document",
    "main",
    "mapper_code",
    "repair",
    "repair_responder",
    "serve",
]

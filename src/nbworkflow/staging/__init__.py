"""Staging APIs for demos, tests and chaos runs (no network beyond loopback).

``OpenAPIMock`` is the contract mock of any OpenAPI 3.0/3.1 document (openapi-core validation,
field-level 422s, faults, token); ``DocumentMutator`` changes a document's request schema from a
seed (``nbworkflow.chaos`` runs a workflow's adaptive node through them), and
``nbworkflow.staging.command`` holds the ``staging serve`` command. The rest is
the hand-written mock CRM, kept for the demo and as the benchmark's baseline:

``MockCRM`` serves ``POST /users`` validated against a contract that a seeded ``Mutator`` can
change (rename, add a required field, change a type or an enum, nest an object), with fault
injection (503s, slow answers, reset connections; seeded rates or exact schedules) and a bearer
token. ``serve()`` / ``main(argv)`` run it in the foreground (``nbworkflow staging serve``).
``repair_responder`` is the deterministic repair agent that heals mappers from its 422 answers.
"""

from __future__ import annotations

from .command import serve_main as main
from .contract import (
    MUTATION_KINDS,
    Contract,
    FieldSpec,
    Mutation,
    MutationKind,
    Mutator,
    initial_contract,
)
from .document import DocumentError, load_document
from .faults import FAULTS, FaultPlan
from .mock import OpenAPIMock
from .mutate import DocumentMutation, DocumentMutator
from .openapi import openapi_document
from .repair import mapper_code, repair, repair_responder
from .server import DEFAULT_PORT, DEFAULT_TOKEN, MockCRM, serve

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TOKEN",
    "FAULTS",
    "MUTATION_KINDS",
    "Contract",
    "DocumentError",
    "DocumentMutation",
    "DocumentMutator",
    "FaultPlan",
    "FieldSpec",
    "MockCRM",
    "Mutation",
    "MutationKind",
    "Mutator",
    "OpenAPIMock",
    "initial_contract",
    "load_document",
    "main",
    "mapper_code",
    "openapi_document",
    "repair",
    "repair_responder",
    "serve",
]

"""The mock CRM staging API, shipped for demos and tests (no network beyond loopback).

``MockCRM`` serves ``POST /users`` validated against a contract that a seeded ``Mutator`` can
change (rename, add a required field, change a type or an enum, nest an object), with fault
injection (503s, slow answers, reset connections; seeded rates or exact schedules) and a bearer
token. ``serve()`` / ``main(argv)`` run it in the foreground (``nbworkflow staging serve``).
``repair_responder`` is the deterministic repair agent that heals mappers from its 422 answers.
"""

from __future__ import annotations

from .contract import (
    MUTATION_KINDS,
    Contract,
    FieldSpec,
    Mutation,
    MutationKind,
    Mutator,
    initial_contract,
)
from .faults import FAULTS, FaultPlan
from .openapi import openapi_document
from .repair import mapper_code, repair, repair_responder
from .server import DEFAULT_PORT, DEFAULT_TOKEN, MockCRM, main, serve

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TOKEN",
    "FAULTS",
    "MUTATION_KINDS",
    "Contract",
    "FaultPlan",
    "FieldSpec",
    "MockCRM",
    "Mutation",
    "MutationKind",
    "Mutator",
    "initial_contract",
    "main",
    "mapper_code",
    "openapi_document",
    "repair",
    "repair_responder",
    "serve",
]

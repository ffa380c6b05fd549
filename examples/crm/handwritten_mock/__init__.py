"""The hand-written mock CRM: the chaos benchmark's baseline, not part of the package.

``MockCRM`` serves ``POST /users`` validated against a contract written in Python (``contract``)
that a seeded ``Mutator`` can change, with the package's faults and bearer token. The bundled
CRM is ``nbworkflow.staging.OpenAPIMock`` of ``examples/crm/crm_openapi.yaml`` now; this copy is
kept so ``bench/chaos.py`` can show the contract mock's requests per second next to the mock it
replaced, in the same run. Import it with ``examples/crm`` on ``sys.path``
(``import handwritten_mock``).
"""

from __future__ import annotations

from .contract import (
    MUTATION_KINDS,
    Contract,
    FieldSpec,
    Mutation,
    MutationKind,
    Mutator,
    contract_from_schema,
    initial_contract,
)
from .openapi import openapi_document
from .server import MockCRM

__all__ = [
    "MUTATION_KINDS",
    "Contract",
    "FieldSpec",
    "MockCRM",
    "Mutation",
    "MutationKind",
    "Mutator",
    "contract_from_schema",
    "initial_contract",
    "openapi_document",
]

"""The hand-written mock CRM, imported from ``examples/crm`` (the package does not ship it)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

CRM_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crm"


def handwritten_mock() -> ModuleType:
    """``examples/crm/handwritten_mock`` as a module (``MockCRM``, ``Contract``, ``Mutator``...)."""
    if str(CRM_EXAMPLE) not in sys.path:
        sys.path.insert(0, str(CRM_EXAMPLE))
    return importlib.import_module("handwritten_mock")

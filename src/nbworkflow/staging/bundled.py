"""Where the bundled examples' files are: in the wheel, or in a source checkout.

The wheel carries a copy of ``examples/crm`` (``pyproject.toml``: hatch ``force-include``) under
``nbworkflow/_examples/crm``, so ``nbworkflow demo`` runs offline from any install; a checkout
(or an editable install) reads ``examples/crm`` itself. The repository keeps one copy.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
_PLACES = (_PACKAGE / "_examples", _PACKAGE.parents[1] / "examples")
_DOCUMENTS = {"crm": "crm_openapi.yaml"}


def bundled_example(name: str = "crm") -> Path:
    """The folder of a bundled example (workflow, script, cassette, OpenAPI document)."""
    if name not in _DOCUMENTS:
        raise ValueError(f"no bundled example {name!r}; there is: {', '.join(_DOCUMENTS)}")
    for place in _PLACES:
        if (place / name / _DOCUMENTS[name]).is_file():
            return place / name
    raise FileNotFoundError(
        f"the bundled example {name!r} is missing from this install (looked in "
        f"{', '.join(str(p) for p in _PLACES)}): reinstall nbworkflow"
    )


def bundled_document(name: str = "crm") -> Path:
    """The OpenAPI document of a bundled example: ``bundled_document("crm")`` is the CRM's."""
    return bundled_example(name) / _DOCUMENTS[name]


__all__ = ["bundled_document", "bundled_example"]

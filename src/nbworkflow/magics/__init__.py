"""IPython integration: ``%load_ext nbworkflow`` registers ``%%workflow`` and ``%workflow``.

Loading the extension imports only the magic itself; the engine, pydantic, ipywidgets and any
model SDK are imported when a cell first runs a workflow.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``workflow`` magics with an IPython shell."""
    from .awaited import install
    from .workflow import WorkflowMagics

    ipython.register_magics(WorkflowMagics)
    install(ipython)


__all__ = ["load_ipython_extension"]

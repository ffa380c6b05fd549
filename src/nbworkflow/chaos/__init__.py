"""Chaos runs: a workflow's adaptive node against seeded mutations of an OpenAPI operation.

``arun_chaos`` (``runner``) serves the document with ``nbworkflow.staging.OpenAPIMock``, mutates
the staged operation's request schema round after round (with optional infrastructure faults)
and runs the workflow through the public engine; ``heal`` is the deterministic repair agent that
rewrites code offline from the sanitized prompt; ``command`` is ``nbworkflow chaos``. It sits
above the engine (it drives whole runs), so the staging mock itself stays free of models.
"""

from __future__ import annotations

from .runner import ChaosError, ChaosReport, Round, arun_chaos, write_outputs

__all__ = ["ChaosError", "ChaosReport", "Round", "arun_chaos", "write_outputs"]

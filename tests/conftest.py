"""Shared test setup. Real model calls are blocked by default (see nbworkflow.agents)."""

from __future__ import annotations

import os

os.environ.setdefault("NBWORKFLOW_ALLOW_MODEL_REQUESTS", "0")

"""The one instance per backend name (so ``configure_docker`` can reset it without importing the
package ``__init__``, which imports the backends)."""

from __future__ import annotations

import threading
from typing import Any

instances: dict[str, Any] = {}
lock = threading.Lock()


def forget(name: str) -> None:
    with lock:
        instances.pop(name, None)

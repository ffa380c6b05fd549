"""Infrastructure fault injection for the contract mock: seeded rates and deterministic schedules.

A fault is what a flaky dependency does to a request that is otherwise fine: answer ``503`` (or
``500``/``502``/``429``), answer too slowly (``slow``), or drop the connection without a word
(``reset``). ``schedule`` queues faults for the next requests ("fail the next 3 with 503"),
which is what tests use; ``rates`` make faults random but reproducible from the seed.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Literal

Fault = Literal["503", "500", "502", "429", "slow", "reset"]
FAULTS: tuple[Fault, ...] = ("503", "500", "502", "429", "slow", "reset")


class FaultPlan:
    """Decides, request by request, whether to inject a fault (thread-safe)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        rates: Mapping[str, float] | None = None,
        slow_seconds: float = 5.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.rates: dict[Fault, float] = {}
        self.slow_seconds = slow_seconds
        """How long a ``slow`` answer waits before it is sent (longer than the client's timeout)."""
        self._queue: deque[Fault | None] = deque()
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        """How many faults of each kind were injected so far."""
        self.set_rates(rates or {})

    def set_rates(self, rates: Mapping[str, float]) -> None:
        clean: dict[Fault, float] = {}
        for name, rate in rates.items():
            fault = check_fault(name)
            if not 0 <= rate <= 1:
                raise ValueError(f"fault rate for {name!r} must be between 0 and 1, got {rate}")
            if rate:
                clean[fault] = float(rate)
        if sum(clean.values()) > 1:
            raise ValueError("fault rates add up to more than 1")
        with self._lock:
            self.rates = clean

    def schedule(self, faults: Iterable[str | None]) -> None:
        """Queue faults for the next requests, in order; ``None`` lets one request through."""
        items = [None if f is None else check_fault(f) for f in faults]
        with self._lock:
            self._queue.extend(items)

    def fail_next(self, count: int, fault: str = "503") -> None:
        """Fail the next ``count`` requests with ``fault``."""
        self.schedule([fault] * count)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.rates = {}

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def next_fault(self) -> Fault | None:
        """The fault for the request being handled now, or ``None`` to serve it normally."""
        with self._lock:
            if self._queue:
                fault = self._queue.popleft()
            else:
                fault = None
                roll = self.rng.random()
                for name in FAULTS:  # fixed order, so the same seed gives the same faults
                    rate = self.rates.get(name, 0.0)
                    if roll < rate:
                        fault = name
                        break
                    roll -= rate
            if fault is not None:
                self.injected[fault] += 1
            return fault


def check_fault(name: str) -> Fault:
    for fault in FAULTS:
        if fault == str(name):
            return fault
    raise ValueError(f"unknown fault {name!r}; use one of {', '.join(FAULTS)}")


__all__ = ["FAULTS", "Fault", "FaultPlan", "check_fault"]

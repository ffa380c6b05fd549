"""The event bus: the one way events leave a run.

Every event passes the run's sanitizer (the fields its class marks ``Text``/``Tree``, see
``nbworkflow.events``), then updates the run state, then is appended to the run log, then
reaches every subscriber in order. A subscriber that raises is warned about once and never
breaks the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .. import events as ev
from ..events import RunEvent
from ..runlog import RunWriter
from ..state import RunState

Subscriber = Callable[[RunEvent], None]


def _fields_of(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return ev.redacted_fields(cls)


# Read once from the event classes: events without free text (NodeStarted) cost nothing here.
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {
    cls: _fields_of(cls) for cls in (ev.RunStarted, ev.RunFinished, *ev.NODE_EVENTS)
}
_REDACTED = frozenset(cls for cls, (text, trees) in _FIELDS.items() if text or trees)


def redact_event(event: RunEvent, sanitize: Callable[[str], str]) -> RunEvent:
    """Pass every free-text field of an event through the sanitizer."""
    text, trees = _FIELDS.get(type(event)) or _fields_of(type(event))
    updates: dict[str, Any] = {}
    for name in text:
        value = getattr(event, name)
        if value and (clean := sanitize(value)) != value:
            updates[name] = clean
    for name in trees:
        value = getattr(event, name)
        if value and (clean := _redact_value(value, sanitize)) != value:
            updates[name] = clean
    return replace(event, **updates) if updates else event


def _redact_value(value: Any, sanitize: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, sanitize) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, sanitize) for v in value]
    return value


class EventBus:
    """Publishes a run's events: sanitize, state, log, subscribers (in that order)."""

    def __init__(
        self,
        sanitize: Callable[[str], str],
        state: RunState,
        writer: RunWriter | None,
        subscribers: Sequence[Subscriber] = (),
    ) -> None:
        self.sanitize = sanitize
        self.state = state
        self.writer = writer
        self.subscribers = list(subscribers)
        self._bad: set[int] = set()

    def publish(self, event: RunEvent) -> None:
        if type(event) in _REDACTED:
            event = redact_event(event, self.sanitize)
        self.state.apply(event)
        if self.writer is not None:
            self.writer.append(event)
        if self.subscribers:
            self._notify(event)

    def _notify(self, event: RunEvent) -> None:
        for i, subscriber in enumerate(self.subscribers):
            try:
                subscriber(event)
            except Exception as exc:  # a broken view must not break the run
                if i not in self._bad:
                    self._bad.add(i)
                    warnings.warn(
                        self.sanitize(f"event subscriber {subscriber!r} failed: {exc!r}"),
                        RuntimeWarning,
                        stacklevel=3,
                    )


__all__ = ["EventBus", "Subscriber", "redact_event"]

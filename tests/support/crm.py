"""The CRM example's sample users, payloads and a runner for generated mappers."""

from __future__ import annotations

from typing import Any

ADA = {"email": "dev@example.com", "first": "Ada", "last": "Lovelace", "plan": "pro"}
USERS = [
    ADA,
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "plan": "free"},
    {"email": "ken@example.com", "first": "Ken", "last": "Thompson", "plan": "enterprise"},
]
SEED_PAYLOAD = {"email": "dev@example.com", "full_name": "Ada Lovelace"}
"""What the seed's first mapper sends: no ``customer_tier``."""
GOOD_PAYLOAD = {**SEED_PAYLOAD, "customer_tier": "pro"}


def run_mapper(code: str, user: dict[str, Any]) -> Any:
    """Evaluate generated mapper code (our own deterministic generator, not model output)."""
    namespace: dict[str, Any] = {}
    exec(compile(code, "<mapper>", "exec"), namespace)
    return namespace["sync_to_crm"](user)

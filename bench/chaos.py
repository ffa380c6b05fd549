"""Chaos report: does the adaptive loop heal contract changes, and ignore infrastructure noise?

Runs the adaptive node against the mock CRM (loopback HTTP, real sandbox) through the seed's
scenario and then a series of seeded contract mutations, while the CRM injects 503s, resets and
slow answers at seeded rates plus a deterministic 503 storm every few rounds. The repair agent is
the deterministic test double ``nbworkflow.staging.repair_responder``.

    python bench/chaos.py [--seed 42] [--mutations 10] [--backend auto] [--json]

Figures: regressions detected and healed, attempts per mutation, infrastructure faults injected
vs. rewrites they triggered (must be 0). Exit status 1 if a mutation was not healed or an
infrastructure fault caused a rewrite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from nbworkflow.agents.scripted import ScriptedProvider
from nbworkflow.config import RunOptions
from nbworkflow.engine import arun_workflow
from nbworkflow.events import Decision, RunEvent
from nbworkflow.spec import load_workflow
from nbworkflow.staging import MockCRM, repair_responder

SEED_MAPPER = """def sync_to_crm(internal_user):
    return {
        "email": internal_user["email"],
        "full_name": f"{internal_user['first']} {internal_user['last']}",
    }
"""
SAMPLES = [
    {"email": "dev@example.com", "first": "Ada", "last": "Lovelace", "plan": "pro"},
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "plan": "free"},
    {"email": "ken@example.com", "first": "Ken", "last": "Thompson", "plan": "enterprise"},
]
TOKEN = "chaos-bench-token"

SPEC = """
name: chaos_bench
nodes:
  - id: generate_mapper
    action: Write sync_to_crm(user) returning the CRM payload.
    output: code
  - id: heal
    type: adaptive
    agent: Integration Engineer
    action: Execute sync_to_crm against staging. If it fails, adapt the code.
    code_from: generate_mapper
    entrypoint: sync_to_crm
    max_retries: 3
    samples: {samples}
    staging:
      url: {url}/users
      timeout: {timeout}
      infra_retries: 12
      headers:
        Authorization: "Bearer ${{STAGING_TOKEN}}"
"""


@dataclass
class Round:
    index: int
    mutation: str
    detected: bool
    """The code that fit the previous contract was rejected (attempt 1 answered 422)."""
    healed: bool
    attempts: int
    rewrites: int
    rewrites_not_from_422: int
    faults_injected: int
    infra_retries: int
    seconds: float


async def heal_once(
    code: str, url: str, backend: str, timeout: float
) -> tuple[bool, str, list[RunEvent]]:
    spec = load_workflow(
        text=SPEC.format(samples=json.dumps(SAMPLES), url=url, timeout=timeout),
        variables={"STAGING_TOKEN": TOKEN},
        use_env=False,
    )
    provider = ScriptedProvider(
        {"generate_mapper": {"rationale": "current mapper", "code": code}},
        responders={"heal": repair_responder},
    )
    events: list[RunEvent] = []
    result = await arun_workflow(
        spec,
        provider=provider,
        runs_dir=None,
        subscribers=[events.append],
        options=RunOptions(
            sandbox_backend=None if backend == "auto" else backend,
            infra_backoff_s=0.02,
            infra_backoff_max_s=0.2,
        ),
    )
    healed = result.ok
    return healed, result.outputs["heal"].content if healed else code, events


def summarize(
    index: int, mutation: str, healed: bool, events: list[RunEvent], faults: int, seconds: float
) -> Round:
    decisions = [e for e in events if isinstance(e, Decision) and e.node_id == "heal"]
    attempts = [d for d in decisions if d.verdict != "retry-infra"]
    adapts = [d for d in decisions if d.verdict in ("adapt", "surfaced")]
    return Round(
        index=index,
        mutation=mutation,
        detected=bool(attempts) and attempts[0].data.get("http_status") == 422,
        healed=healed,
        attempts=len(attempts),
        rewrites=len([d for d in decisions if d.verdict == "adapt"]),
        rewrites_not_from_422=len(
            [d for d in adapts if d.verdict == "adapt" and d.data.get("http_status") != 422]
        ),
        faults_injected=faults,
        infra_retries=len([d for d in decisions if d.verdict == "retry-infra"]),
        seconds=round(seconds, 3),
    )


async def main_async(args: argparse.Namespace) -> list[Round]:
    rates = {"503": args.rate_503, "reset": args.rate_reset, "slow": args.rate_slow}
    rounds: list[Round] = []
    with MockCRM(token=TOKEN, seed=args.seed, fault_rates=rates, slow_seconds=1.0) as crm:
        code = SEED_MAPPER
        for index in range(args.mutations + 1):
            if index == 0:
                mutation = "seed scenario: full_name sent, customer_tier missing (v1)"
            else:
                mutation = f"v{crm.mutate().version}: {crm.mutations[-1].description}"
            if index % 3 == 1:
                crm.fail_next(3, "503")  # a deterministic storm on top of the random faults
            before = sum(crm.faults.injected.values())
            t0 = time.perf_counter()
            healed, code, events = await heal_once(code, crm.url, args.backend, args.timeout)
            faults = sum(crm.faults.injected.values()) - before
            rounds.append(
                summarize(index, mutation, healed, events, faults, time.perf_counter() - t0)
            )
            if not healed:
                break
        rounds_faults = Counter(crm.faults.injected)
    args.fault_kinds = dict(rounds_faults)
    return rounds


def report(rounds: list[Round], args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    mutations = rounds[1:]
    return {
        "seed": args.seed,
        "seed_scenario_healed": bool(rounds) and rounds[0].healed,
        "seed_scenario_attempts": rounds[0].attempts if rounds else 0,
        "mutations": args.mutations,
        "regressions_detected": sum(r.detected for r in mutations),
        "mutations_healed": sum(r.healed for r in mutations),
        "attempts_per_mutation": [r.attempts for r in mutations],
        "mean_attempts": round(sum(r.attempts for r in mutations) / max(1, len(mutations)), 2),
        "rewrites": sum(r.rewrites for r in rounds),
        "infra_faults_injected": sum(r.faults_injected for r in rounds),
        "infra_faults_by_kind": args.fault_kinds,
        "infra_retries": sum(r.infra_retries for r in rounds),
        "rewrites_triggered_by_infra": sum(r.rewrites_not_from_422 for r in rounds),
        "seconds": round(seconds, 2),
        "rounds": [asdict(r) for r in rounds],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mutations", type=int, default=10)
    parser.add_argument("--backend", default="auto", help="sandbox backend (auto, bwrap, process)")
    parser.add_argument("--rate-503", type=float, default=0.15)
    parser.add_argument("--rate-reset", type=float, default=0.05)
    parser.add_argument("--rate-slow", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=0.5, help="staging timeout (s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rounds = asyncio.run(main_async(args))
    data = report(rounds, args, time.perf_counter() - t0)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(
            f"chaos report (seed {args.seed}, {args.mutations} mutations, backend {args.backend})"
        )
        print(
            f"{'#':>2}  {'attempts':>8}  {'rewrites':>8}  {'faults':>6}  {'retries':>7}  "
            f"{'healed':>6}  contract change"
        )
        for r in rounds:
            print(
                f"{r.index:>2}  {r.attempts:>8}  {r.rewrites:>8}  {r.faults_injected:>6}  "
                f"{r.infra_retries:>7}  {'yes' if r.healed else 'NO':>6}  {r.mutation}"
            )
        print(
            f"\nseed scenario healed: {data['seed_scenario_healed']} "
            f"in {data['seed_scenario_attempts']} attempts\n"
            f"regressions detected: {data['regressions_detected']}/{args.mutations}, "
            f"healed: {data['mutations_healed']}/{args.mutations}, "
            f"mean attempts per mutation: {data['mean_attempts']}\n"
            f"infra faults injected: {data['infra_faults_injected']} "
            f"{data['infra_faults_by_kind']}, retried: {data['infra_retries']}, "
            f"rewrites triggered by infra: {data['rewrites_triggered_by_infra']}\n"
            f"total time: {data['seconds']} s"
        )
    ok = (
        data["seed_scenario_healed"]
        and data["mutations_healed"] == args.mutations
        and data["rewrites_triggered_by_infra"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

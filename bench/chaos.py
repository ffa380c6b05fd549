"""Chaos report: does the adaptive loop heal contract changes of any document, and ignore noise?

Runs ``nbworkflow chaos`` (``nbworkflow.chaos.arun_chaos``) on the CRM document
(examples/crm) and the public Swagger Petstore document (examples/petstore): seeded mutations of
the staged operation's request schema, seeded 503/reset faults plus a 503 storm every round, the
real sandbox, and the deterministic repair agent as the model. Then measures the contract mock's
requests per second (openapi-core validation) next to the hand-written CRM mock's, in this run.

    python bench/chaos.py [--seed 42] [--mutations 10] [--backend auto] [--requests 400] [--json]

Exit status 1 if a regression was not healed or an infrastructure fault caused a rewrite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from nbworkflow.chaos.runner import arun_chaos
from nbworkflow.staging.mock import OpenAPIMock

ROOT = Path(__file__).resolve().parents[1]
# The hand-written CRM mock that OpenAPIMock replaced lives with the example, as the baseline.
sys.path.insert(0, str(ROOT / "examples" / "crm"))
from handwritten_mock import MockCRM  # noqa: E402

EXAMPLES = {
    "crm": (ROOT / "examples/crm/chaos.yaml", ROOT / "examples/crm/crm_openapi.yaml"),
    "petstore": (ROOT / "examples/petstore/workflow.yaml", ROOT / "examples/petstore/openapi.yaml"),
}
TOKEN = "chaos-bench-token"
CRM_BODY = {"email": "dev@example.com", "full_name": "Ada Lovelace", "customer_tier": "pro"}
PET_BODY = {"id": 7, "name": "Rex", "photoUrls": [], "status": "sold"}


async def run_example(name: str, args: argparse.Namespace) -> dict[str, Any]:
    workflow, document = EXAMPLES[name]
    t0 = time.perf_counter()
    report = await arun_chaos(
        workflow,
        document,
        mutations=args.mutations,
        seed=args.seed,
        fault_rates={"503": args.rate_503, "reset": args.rate_reset},
        storm=args.storm,
        script=workflow.parent / "script.yaml",
        sandbox_backend=None if args.backend == "auto" else args.backend,
    )
    out = report.to_json()
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def throughput(url: str, path: str, body: dict[str, Any], count: int) -> float:
    """Valid requests answered per second, one keep-alive client, sequential."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        for _ in range(20):  # warm up (connection, first openapi-core validator)
            client.post(path, json=body)
        t0 = time.perf_counter()
        for _ in range(count):
            r = client.post(path, json=body)
            if r.status_code >= 300:
                raise RuntimeError(f"{url}{path}: HTTP {r.status_code} {r.text[:200]}")
        return count / (time.perf_counter() - t0)


def mock_speed(count: int) -> dict[str, float]:
    with MockCRM(token=TOKEN) as old:
        hand = throughput(old.url, "/users", CRM_BODY, count)
    with OpenAPIMock(EXAMPLES["crm"][1], token=TOKEN) as new:
        crm = throughput(new.url, "/users", CRM_BODY, count)
    with OpenAPIMock(EXAMPLES["petstore"][1], token=TOKEN) as pet:
        petstore = throughput(pet.url, "/pet", PET_BODY, count)
    return {
        "hand_written_crm_rps": round(hand, 1),
        "contract_mock_crm_rps": round(crm, 1),
        "contract_mock_petstore_rps": round(petstore, 1),
        "contract_mock_vs_hand_written": round(crm / hand, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mutations", type=int, default=10)
    parser.add_argument("--backend", default="auto", help="sandbox backend (auto, bwrap, process)")
    parser.add_argument("--rate-503", type=float, default=0.15)
    parser.add_argument("--rate-reset", type=float, default=0.05)
    parser.add_argument("--storm", type=int, default=2, help="503s at the start of every round")
    parser.add_argument("--requests", type=int, default=400, help="requests per mock timed")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"seed": args.seed, "mutations": args.mutations}
    for name in EXAMPLES:
        data[name] = asyncio.run(run_example(name, args))
    data["mock_speed"] = mock_speed(args.requests)
    ok = all(data[name]["summary"]["ok"] for name in EXAMPLES)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0 if ok else 1
    print(f"chaos bench (seed {args.seed}, {args.mutations} mutations, backend {args.backend})")
    for name in EXAMPLES:
        s = data[name]["summary"]
        print(
            f"\n{name}: {data[name]['operation']}: regressions {s['regressions']}, "
            f"detected {s['detected']}, healed {s['healed']} in {data[name]['seconds']} s\n"
            f"  attempts per mutation {s['attempts']}\n  tokens per mutation   {s['tokens']}\n"
            f"  infra faults injected {s['faults_injected']}, retried {s['infra_retries']}, "
            f"rewrites caused by infra {s['infra_rewrites']}"
        )
        for r in data[name]["rounds"][1:]:
            print(
                f"    {r['index']:>2} {'healed' if r['healed'] else 'NOT HEALED'}: {r['description']}"
            )
    m = data["mock_speed"]
    print(
        f"\nmock requests/s (valid POSTs, {args.requests} each): hand-written CRM mock "
        f"{m['hand_written_crm_rps']}, contract mock of the CRM document "
        f"{m['contract_mock_crm_rps']} (ratio {m['contract_mock_vs_hand_written']}), "
        f"of the Petstore document {m['contract_mock_petstore_rps']}"
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

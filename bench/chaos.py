"""Chaos report: does the adaptive loop heal contract changes of any document, and ignore noise?

Runs ``nbworkflow chaos`` (``nbworkflow.chaos.arun_chaos``) on the CRM document
(examples/crm) and the public Swagger Petstore document (examples/petstore): seeded mutations of
the staged operation's request schema, seeded 503/reset faults plus a 503 storm every round, the
real sandbox, and the deterministic repair agent as the model. Then measures the contract mock's
requests per second (openapi-core validation) next to the hand-written CRM mock's, in this run.

    python bench/chaos.py [--seed 42] [--mutations 10] [--backend auto] [--requests 1000] [--rounds 20]
                          [--mock-only] [--json]

Exit status 1 if a regression was not healed or an infrastructure fault caused a rewrite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
# 422 bodies as a stale client sends them: a typo'd field, a bad format, a wrong type / an enum
CRM_BAD = {"email": "not-an-email", "full_name": 42, "customer_teir": "pro"}
PET_BAD = {"id": "seven", "name": "Rex", "photoUrls": [], "status": "gone"}


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


class _Timed:
    """One keep-alive client on one mock and body, timed in short turns (wall and server CPU)."""

    def __init__(self, url: str, path: str, body: dict[str, Any], status: int) -> None:
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"})
        self.path, self.body, self.status = path, body, status
        self.count, self.wall, self.server_cpu = 0, 0.0, 0.0
        self.turn(20)  # warm up (connection, the operation's validator); not counted
        self.count, self.wall, self.server_cpu = 0, 0.0, 0.0

    def turn(self, count: int) -> None:
        # The mocks' handler threads are the only other busy threads in this process, so the
        # process's CPU time minus this thread's is what the server spent answering.
        wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        for _ in range(count):
            r = self.client.post(self.path, json=self.body)
            if r.status_code != self.status:
                raise RuntimeError(f"{self.path}: HTTP {r.status_code} {r.text[:200]}")
        own = time.thread_time() - own
        self.server_cpu += time.process_time() - cpu - own
        self.wall += time.perf_counter() - wall
        self.count += count


def mock_speed(count: int, rounds: int = 5) -> dict[str, Any]:
    """Requests/s and server CPU per request of each mock, valid and 422 bodies, and ratios.

    The three mocks run side by side and every (mock, body) pair takes a turn of ``count /
    rounds`` requests in each round, so load from elsewhere on the shared machine falls on all
    of them alike (whole-run rounds gave ratios from 0.46x to 0.86x for the same code).
    """
    mocks: dict[str, tuple[Any, str, dict[str, Any], dict[str, Any], int]] = {
        "hand_written_crm": (MockCRM(token=TOKEN), "/users", CRM_BODY, CRM_BAD, 201),
        "contract_mock_crm": (
            OpenAPIMock(EXAMPLES["crm"][1], token=TOKEN),
            "/users",
            CRM_BODY,
            CRM_BAD,
            201,
        ),
        "contract_mock_petstore": (
            OpenAPIMock(EXAMPLES["petstore"][1], token=TOKEN),
            "/pet",
            PET_BODY,
            PET_BAD,
            200,
        ),
    }
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        timed: dict[tuple[str, str], _Timed] = {}
        for name, (mock, path, good, bad, ok) in mocks.items():
            stack.enter_context(mock)
            for kind, body, status in (("valid", good, ok), ("422", bad, 422)):
                timed[name, kind] = _Timed(mock.url, path, body, status)
                stack.callback(timed[name, kind].client.close)
        per_turn = max(1, count // rounds)
        for _ in range(rounds):
            for t in timed.values():
                t.turn(per_turn)
        for (name, kind), t in timed.items():
            out.setdefault(name, {})[kind] = {
                "rps": round(t.count / t.wall, 1),
                "server_cpu_us": round(t.server_cpu / t.count * 1e6, 1),
            }
    for kind in ("valid", "422"):
        new, hand = out["contract_mock_crm"][kind], out["hand_written_crm"][kind]
        out[f"ratio_{kind}"] = round(new["rps"] / hand["rps"], 3)
    out["requests"], out["rounds"] = per_turn * rounds, rounds
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mutations", type=int, default=10)
    parser.add_argument("--backend", default="auto", help="sandbox backend (auto, bwrap, process)")
    parser.add_argument("--rate-503", type=float, default=0.15)
    parser.add_argument("--rate-reset", type=float, default=0.05)
    parser.add_argument("--storm", type=int, default=2, help="503s at the start of every round")
    parser.add_argument("--requests", type=int, default=1000, help="requests per mock and body")
    parser.add_argument(
        "--rounds", type=int, default=20, help="interleaved turns per mock and body"
    )
    parser.add_argument("--mock-only", action="store_true", help="only the mocks' requests/s")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {"seed": args.seed, "mutations": args.mutations}
    examples = [] if args.mock_only else list(EXAMPLES)
    for name in examples:
        data[name] = asyncio.run(run_example(name, args))
    data["mock_speed"] = mock_speed(args.requests, args.rounds)
    ok = all(data[name]["summary"]["ok"] for name in examples)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0 if ok else 1
    print(f"chaos bench (seed {args.seed}, {args.mutations} mutations, backend {args.backend})")
    for name in examples:
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
        f"\nmocks, one keep-alive client each, {m['requests']} requests per mock and body in "
        f"{m['rounds']} interleaved turns: requests/s (server CPU us per request)"
    )
    print(f"  {'':<24}{'valid':>18}{'422':>18}")
    for name in ("hand_written_crm", "contract_mock_crm", "contract_mock_petstore"):
        cells = "".join(
            f"{m[name][k]['rps']:>10} ({m[name][k]['server_cpu_us']:>4})" for k in ("valid", "422")
        )
        print(f"  {name:<24}{cells}")
    print(
        f"  contract mock / hand-written (CRM document): valid {m['ratio_valid']}x, "
        f"422 {m['ratio_422']}x"
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""What the node cache saves: first run, fully cached re-run, one-node-changed re-run.

    python bench/cache.py [--latency 0.2] [--nodes 20]

A 20-node workflow (a chain of 4 layers x 5 nodes, each depending on the whole previous layer)
against the scripted provider with simulated model latency; the model's answer depends on the
prompt, as a real model's does. Ratios are against the first run measured in the same process.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from nbworkflow.agents import ModelRequest, ScriptedProvider
from nbworkflow.engine import RunResult, run_workflow
from nbworkflow.spec import load_workflow


def spec_text(n: int, width: int, changed: bool = False) -> str:
    lines = ["name: cache bench", "max_concurrency: 8", "nodes:"]
    for i in range(n):
        layer = i // width
        deps = [f"n{j}" for j in range((layer - 1) * width, layer * width)] if layer else []
        action = f"step {i}" + (" (edited)" if changed and i == n - width else "")
        lines += [f"  - id: n{i}", f"    action: {action}"]
        if deps:
            lines.append(f"    depends_on: [{', '.join(deps)}]")
    return "\n".join(lines) + "\n"


def answer(request: ModelRequest) -> dict[str, str]:
    prompt = "".join(m.content for m in request.messages)
    return {"content": f"{request.node_id}: {hashlib.sha256(prompt.encode()).hexdigest()[:12]}"}


def run(folder: Path, text: str, latency: float, n: int) -> tuple[float, RunResult, int]:
    provider = ScriptedProvider(responders={f"n{i}": answer for i in range(n)}, latency=latency)
    spec = load_workflow(text=text)
    t0 = time.perf_counter()
    result = run_workflow(spec, provider=provider, runs_dir=folder)
    return time.perf_counter() - t0, result, len(provider.requests)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per model call")
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    n, width = args.nodes, 5
    folder = Path(tempfile.mkdtemp(prefix="nbw-cache-bench-"))
    first, r1, calls1 = run(folder, spec_text(n, width), args.latency, n)
    cached, r2, calls2 = run(folder, spec_text(n, width), args.latency, n)
    edited, r3, calls3 = run(folder, spec_text(n, width, changed=True), args.latency, n)
    assert r1.ok and r2.ok and r3.ok
    print(f"{n}-node workflow, {args.latency:g} s simulated model latency per call")
    print(f"{'run':<28}{'seconds':>9}{'model calls':>13}{'tokens':>9}{'vs first':>10}")
    for label, secs, calls, res in (
        ("first run", first, calls1, r1),
        ("fully cached re-run", cached, calls2, r2),
        ("one node changed", edited, calls3, r3),
    ):
        tokens = res.state.input_tokens + res.state.output_tokens
        print(f"{label:<28}{secs:9.3f}{calls:13d}{tokens:9d}{secs / first:9.1%}")
    print(f"\ncached re-run costs {cached / first:.1%} of the first run (target: well under 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

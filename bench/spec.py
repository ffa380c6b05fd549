"""How long ``load_workflow`` takes on big and hostile specs, next to ``yaml.safe_load`` of the
same text (the baseline: reading the YAML and nothing else).

    python bench/spec.py [--nodes 10000]

Rows: a valid N-node spec (each node depends on up to 3 earlier ones, with an agent, an action
and an output format), the same spec with every node depending on a missing id and carrying a
typo'd key (the error path), and a 9x9 alias bomb (refused before it is expanded).
"""

from __future__ import annotations

import argparse
import contextlib
import time
import tracemalloc
from collections.abc import Callable

import yaml

from nbworkflow.exceptions import SpecError
from nbworkflow.spec import load_workflow


def valid(n: int) -> str:
    lines = ["name: bench", "nodes:"]
    for i in range(n):
        deps = [f"n{j}" for j in range(max(0, i - 3), i)]
        lines += [
            f"  - id: n{i}",
            "    agent: Analyst",
            f"    action: step {i}",
            "    output: text",
        ]
        if deps:
            lines.append(f"    depends_on: [{', '.join(deps)}]")
    return "\n".join(lines) + "\n"


def broken(n: int) -> str:
    return valid(n).replace("    output: text", "    depend_on: [x]\n    inputs: [{node: gone}]")


def bomb() -> str:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "name: x\n" + "\n".join(levels) + "\nnodes: *i\n"


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.suppress(SpecError):
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    with contextlib.suppress(SpecError):
        fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{'case':<34} {'load_workflow':>14} {'yaml.safe_load':>15} {'ratio':>7} {'peak MB':>8}")
    for name, text in [
        (f"valid, {args.nodes:,} nodes", valid(args.nodes)),
        (f"broken, {args.nodes:,} nodes", broken(args.nodes)),
        ("alias bomb 9x9", bomb()),
    ]:
        ours = timed(lambda t=text: load_workflow(text=t, use_env=False))
        base = timed(lambda t=text: yaml.safe_load(t)) if "bomb" not in name else float("nan")
        mem = peak_mb(lambda t=text: load_workflow(text=t, use_env=False))
        print(f"{name:<34} {ours:>13.3f}s {base:>14.3f}s {ours / base:>7.2f} {mem:>8.1f}")
    print("(alias bomb: yaml.safe_load never finishes; it is not run)")


if __name__ == "__main__":
    main()

"""Scheduler overhead per node, next to a bare-asyncio baseline measured in the same run.

    python bench/engine.py [--quick]

Graphs: a chain (each node waits for the previous one) and a fan-out/fan-in (one root, N-2
parallel nodes, one sink), N = 10, 100, 1000, 10000 no-op nodes. The baseline is one asyncio
task per node awaiting its dependencies' futures, with no bookkeeping at all. nbworkflow is
measured with events published (state, sanitizer) but no run folder, and with a run folder
(events.jsonl flushed per event, one artifact file per node; node cache off); the three are
timed interleaved. LangGraph runs the same graphs when installed (`bench` extra). Then the cost
of one more node: the slope from N = 100 to 1000, free of each run's fixed cost.
Also: 10 independent nodes that each await 0.2 s (should take ~0.2 s in all).
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from nbworkflow.agents import ScriptedProvider
from nbworkflow.engine import arun_workflow
from nbworkflow.nodes.base import NodeContext
from nbworkflow.outputs import NodeOutput
from nbworkflow.spec import NodeSpec, WorkflowSpec

_OUT = NodeOutput("text", "")


async def _noop(ctx: NodeContext) -> NodeOutput:
    return _OUT


def graph(shape: str, n: int) -> dict[str, list[str]]:
    """node id -> dependencies"""
    if shape == "chain":
        return {f"n{i}": ([f"n{i - 1}"] if i else []) for i in range(n)}
    mids = [f"m{i}" for i in range(n - 2)]
    deps: dict[str, list[str]] = {"root": []}
    deps.update({m: ["root"] for m in mids})
    deps["sink"] = mids
    return deps


def spec_of(deps: dict[str, list[str]]) -> WorkflowSpec:
    nodes = [NodeSpec(id=k, action="noop", depends_on=tuple(v)) for k, v in deps.items()]
    return WorkflowSpec(name="bench", nodes=tuple(nodes), max_concurrency=256)


async def bare(deps: dict[str, list[str]]) -> None:
    loop = asyncio.get_running_loop()
    futures = {k: loop.create_future() for k in deps}

    async def one(k: str) -> None:
        for d in deps[k]:
            await futures[d]
        futures[k].set_result(None)

    await asyncio.gather(*(one(k) for k in deps))


def time_it(fn: Callable[[], Any], repeat: int) -> float:
    return time_each({"fn": fn}, repeat)["fn"]


def time_each(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median seconds per call of each function, the calls interleaved (a, b, a, b...) so a
    slow moment of the machine hits all of them alike instead of one whole column."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(times) for name, times in samples.items()}


class _LGState(TypedDict):
    done: Annotated[list[str], operator.add]


def langgraph_runner(deps: dict[str, list[str]]) -> Callable[[], Any] | None:
    """The same graph in LangGraph (the ``bench`` extra), or None when it is not installed."""
    try:
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return None

    g: Any = StateGraph(_LGState)
    for k in deps:
        g.add_node(k, lambda s, k=k: {"done": [k]})
    for k, ds in deps.items():
        if not ds:
            g.add_edge(START, k)
        elif len(ds) == 1:
            g.add_edge(ds[0], k)
        else:
            g.add_edge(ds, k)
    leaves = set(deps) - {d for ds in deps.values() for d in ds}
    for leaf in leaves:
        g.add_edge(leaf, END)
    app = g.compile()
    return lambda: app.invoke({"done": []}, {"recursion_limit": len(deps) + 10})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    sizes = [10, 100, 1000] if args.quick else [10, 100, 1000, 10000]
    handlers = {"routine": _noop}
    provider = ScriptedProvider({})
    print(
        f"{'graph':<8}{'N':>7}  {'bare us/node':>12}  {'nbw us/node':>11}  {'ratio':>6}  "
        f"{'+log us/node':>12}  {'ratio':>6}  {'langgraph':>10}  {'lg/nbw':>7}"
    )
    tmp = tempfile.mkdtemp(prefix="nbw-bench-")
    worst = 0.0
    seen: dict[tuple[str, int], dict[str, float]] = {}  # (shape, N) -> seconds per run
    for shape in ("chain", "fanout"):
        for n in sizes:
            deps = graph(shape, n)
            spec = spec_of(deps)
            repeat = {10: 41, 100: 21, 1000: 7}.get(n, 3)
            if args.quick:
                repeat = max(3, repeat // 2)

            def nbw(log: bool, s: WorkflowSpec = spec) -> None:
                asyncio.run(
                    arun_workflow(
                        s,
                        provider=provider,
                        handlers=handlers,
                        runs_dir=tmp if log else None,
                        cache=False,
                    )
                )

            times = time_each(
                {
                    "bare": lambda d=deps: asyncio.run(bare(d)),
                    "nbw": lambda: nbw(False),
                    "log": lambda: nbw(True),
                },
                repeat,
            )
            t_bare, t_nbw, t_log = times["bare"], times["nbw"], times["log"]
            lg = langgraph_runner(deps) if n <= 1000 else None
            t_lg = time_it(lg, 3) if lg else None
            seen[shape, n] = {**times, **({"langgraph": t_lg} if t_lg else {})}
            per = 1e6 / n
            ratio = t_nbw / t_bare
            worst = max(worst, ratio)
            lg_text = f"{t_lg * per:10.1f}" if t_lg else f"{'n/a':>10}"
            lg_ratio = f"{t_lg / t_nbw:6.1f}x" if t_lg else f"{'':>7}"
            print(
                f"{shape:<8}{n:>7}  {t_bare * per:12.1f}  {t_nbw * per:11.1f}  {ratio:5.2f}x  "
                f"{t_log * per:12.1f}  {t_log / t_bare:5.2f}x  {lg_text}  {lg_ratio}"
            )
            sys.stdout.flush()

    # Each run = fixed cost + N x cost per node: the slope between two sizes is the cost of one
    # more node, free of the fixed part (event loop, run setup) that dominates at N = 10.
    if all((shape, n) in seen for shape in ("chain", "fanout") for n in (100, 1000)):
        print("\ncost of one more node (slope from N = 100 to 1000):")
        for shape in ("chain", "fanout"):
            small, large = seen[shape, 100], seen[shape, 1000]
            slope = {k: (large[k] - small[k]) / 900 * 1e6 for k in small if k in large}
            text = ", ".join(f"{k} {v:.1f} us" for k, v in slope.items())
            text += f"  (nbw/bare {slope['nbw'] / slope['bare']:.2f}x"
            if "langgraph" in slope:
                text += f", langgraph/nbw {slope['langgraph'] / slope['nbw']:.0f}x"
            print(f"  {shape:<7} {text})")

    async def sleepy(ctx: NodeContext) -> NodeOutput:
        await asyncio.sleep(0.2)
        return _OUT

    par = spec_of({f"p{i}": [] for i in range(10)})
    t0 = time.perf_counter()
    asyncio.run(arun_workflow(par, provider=provider, handlers={"routine": sleepy}, runs_dir=None))
    elapsed = time.perf_counter() - t0
    print(f"\n10 independent nodes awaiting 0.2 s each: {elapsed:.3f} s (target < 0.25 s)")
    print(f"worst nbworkflow/bare ratio: {worst:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

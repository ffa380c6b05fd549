"""Benchmark the run view: layout + SVG time, widget traffic of a 500-node run, %load_ext cost,
and the time to the first live view in a fresh kernel.

    .venv/bin/python bench/widget.py [--quick]

Figures are medians; each is printed next to a baseline measured in the same run
(``import IPython`` for the extension, the engine's own event count for the widget traffic, a
plain ipywidgets widget in a fresh kernel for the first live view).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from nbworkflow.events import NodeInfo, RunStarted
from nbworkflow.state import RunState
from nbworkflow.widgets.layout import layered_layout
from nbworkflow.widgets.svg import render_svg


def random_deps(n: int, seed: int = 0) -> dict[str, list[str]]:
    """A workflow-shaped DAG: each node waits for 0-3 of the ~10 nodes before it."""
    rng = random.Random(seed)
    deps: dict[str, list[str]] = {}
    for i in range(n):
        pool = list(range(max(0, i - 10), i))
        deps[f"node_{i:04d}"] = [
            f"node_{j:04d}" for j in rng.sample(pool, min(len(pool), rng.randint(0, 3)))
        ]
    return deps


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_layout(sizes: list[int], repeat: int) -> None:
    print("layout + SVG render (median)")
    print(
        f"  {'nodes':>6} {'layout ms':>10} {'svg ms':>8} {'svg KiB':>8} {'crossings':>9} {'size px':>12}"
    )
    for n in sizes:
        deps = random_deps(n)
        state = RunState.from_events(
            [
                RunStarted(
                    run_id="bench",
                    workflow="bench",
                    provider="scripted",
                    nodes=tuple(
                        NodeInfo(id=k, type="routine", depends_on=tuple(v)) for k, v in deps.items()
                    ),
                )
            ]
        )
        reps = repeat if n <= 200 else max(3, repeat // 4)
        t_layout = median_time(lambda d=deps: layered_layout(d), reps)
        layout = layered_layout(deps)
        t_svg = median_time(lambda s=state, lay=layout: render_svg(s, lay), reps)
        size = len(render_svg(state, layout).encode()) / 1024
        print(
            f"  {n:>6} {t_layout * 1e3:>10.2f} {t_svg * 1e3:>8.2f} {size:>8.0f} "
            f"{layout.crossings:>9} {layout.width:>5.0f}x{layout.height:<6.0f}"
        )


def bench_widget_traffic(n: int, latency: float) -> None:
    """Run a real n-node workflow with the live view subscribed; count comm messages sent."""
    from nbworkflow.agents import ScriptedProvider
    from nbworkflow.engine import arun_workflow
    from nbworkflow.widgets.view import RunView

    lines = ["name: traffic", "max_concurrency: 16", "nodes:"]
    for node, deps in random_deps(n, seed=1).items():
        lines.append(f"  - {{id: {node}, action: go, depends_on: [{', '.join(deps)}]}}")
    spec = "\n".join(lines)
    script = {node: {"content": "ok", "rationale": "ok"} for node in random_deps(n, seed=1)}

    view = RunView()
    sent = {"messages": 0}
    for widget in (view.summary, view.graph, view.selector, view.details, view.widget):
        original = widget.comm.publish_msg

        def counting(*args: Any, _orig: Any = original, **kwargs: Any) -> Any:
            sent["messages"] += 1
            return _orig(*args, **kwargs)

        widget.comm.publish_msg = counting
    events = {"count": 0}

    def count(_: Any) -> None:
        events["count"] += 1

    from nbworkflow.spec import load_workflow

    t0 = time.perf_counter()
    asyncio.run(
        arun_workflow(
            load_workflow(text=spec),
            provider=ScriptedProvider(script, latency=latency),
            runs_dir=None,
            subscribers=[count, view],
        )
    )
    elapsed = time.perf_counter() - t0
    print(
        f"widget traffic for a {n}-node run ({elapsed:.2f}s, scripted latency {latency * 1e3:.0f} ms)"
    )
    print(f"  engine events        {events['count']:>6}  (baseline: one redraw per event)")
    print(
        f"  view redraws         {view.redraws:>6}  ({view.redraws / elapsed:.1f}/s; "
        f"{events['count'] / max(view.redraws, 1):.0f}x fewer than events)"
    )
    print(f"  comm messages sent   {sent['messages']:>6}  ({sent['messages'] / elapsed:.1f}/s)")
    final = view.graph.value.count('data-status="succeeded"') - 1  # minus the legend entry
    print(f"  final graph shows {final} succeeded nodes")


def _time_in_fresh_interpreter(code: str, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        out.append(float(result.stdout.strip().splitlines()[-1]))
    return statistics.median(out)


def bench_load_ext(repeat: int) -> None:
    ipython = _time_in_fresh_interpreter(
        "import time; t = time.perf_counter(); import IPython; print(time.perf_counter() - t)",
        repeat,
    )
    load_ext = _time_in_fresh_interpreter(
        "import time; from IPython.core.interactiveshell import InteractiveShell; "
        "ip = InteractiveShell.instance(); t = time.perf_counter(); "
        "ip.run_line_magic('load_ext', 'nbworkflow.magics'); "
        "import sys; assert 'anthropic' not in sys.modules and 'ipywidgets' not in sys.modules; "
        "print(time.perf_counter() - t)",
        repeat,
    )
    print(f"import cost in a fresh interpreter (median of {repeat})")
    print(f"  import IPython       {ipython * 1e3:>7.1f} ms  (baseline)")
    print(
        f"  %load_ext nbworkflow {load_ext * 1e3:>7.1f} ms  ({load_ext / ipython:.2f}x import IPython;"
        " no anthropic, no ipywidgets)"
    )


FIRST_VIEW_SETUP = "%load_ext nbworkflow\nanswers = {'a': 'ok', 'b': 'ok'}"
FIRST_VIEW_CELL = """%%workflow --script answers --no-cache
name: first_view
nodes:
  - {id: a, action: Go}
  - {id: b, action: Go, depends_on: [a]}"""
PLAIN_SETUP = "pass"
PLAIN_CELL = "import ipywidgets as w\ndisplay(w.HTML('x'))"


def _time_to_first_widget(setup: str, cell: str, cwd: str) -> float:
    """Seconds from sending ``cell`` to a fresh kernel until a widget view reaches IOPub
    (``setup`` runs first, untimed: the extension is loaded as a notebook would)."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive(setup, timeout=60, output_hook=lambda msg: None)
        t0 = time.perf_counter()
        msg_id = kc.execute(cell)
        first = None
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            data = msg["content"].get("data", {})
            if first is None and "application/vnd.jupyter.widget-view+json" in data:
                first = time.perf_counter() - t0
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert first is not None, "no widget was shown"
        return first
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def bench_first_view(repeat: int) -> None:
    import tempfile

    plain, ours = [], []
    with tempfile.TemporaryDirectory(prefix="nbw-bench-") as cwd:
        for _ in range(repeat):  # interleaved, so machine load hits both alike
            plain.append(_time_to_first_widget(PLAIN_SETUP, PLAIN_CELL, cwd))
            ours.append(_time_to_first_widget(FIRST_VIEW_SETUP, FIRST_VIEW_CELL, cwd))
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"time to the first widget in a fresh kernel (median of {repeat})")
    print(f"  plain ipywidgets HTML  {p * 1e3:>7.1f} ms  (baseline)")
    print(f"  %%workflow live view   {o * 1e3:>7.1f} ms  ({o / p:.2f}x the plain widget)")


def main() -> None:
    parser = argparse.ArgumentParser(description="nbworkflow widget benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--first-view", action="store_true", help="only the first live view")
    args = parser.parse_args()
    repeat = 5 if args.quick else 20
    if args.first_view:
        bench_first_view(3 if args.quick else 7)
        return
    bench_layout([10, 50, 200, 1000], repeat)
    print()
    bench_widget_traffic(500, latency=0.01)
    print()
    bench_load_ext(3 if args.quick else 7)
    print()
    bench_first_view(3 if args.quick else 7)


if __name__ == "__main__":
    main()

"""Batches: one event loop vs a Dask LocalCluster (1 and 2 workers), next to one-after-another.

    python bench/batch.py [--quick] [--latency 0.2]

The workflow: two chained nodes answered by the scripted provider with a simulated model
latency (default 0.2 s per call, so 0.4 s of waiting per item). Measured in one run:

- baseline: the same workflow run one after another (``arun_workflow`` in a loop), per item;
- local: ``run_workflows(executor="local")``, 100 and 500 items, one event loop;
- dask: the same on a ``LocalCluster`` of 1 and 2 worker processes (cluster start timed apart);

For each: wall time, items/s, speed-up over one-after-another, per-item overhead (wall time
beyond the ideal ``ceil(N / slots) * 0.4 s``, per item), CPU per item (this process + the
workers), memory (this process's RSS growth; the workers' RSS). Then sandboxed executions per
second (``arun_code``, the default backend) in this process and on each worker.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from nbworkflow.agents import ScriptedProvider
from nbworkflow.batch import arun_workflows
from nbworkflow.engine import arun_workflow
from nbworkflow.spec import load_workflow

WORKFLOW = """\
name: bench
nodes:
  - id: hello
    action: "Greet ${item.name}"
  - id: bye
    action: Say bye
    depends_on: hello
"""
ANSWER = {"rationale": "r", "content": "ok"}
LOCAL_SLOTS = 128
WORKER_SLOTS = 64


def provider(latency: float) -> ScriptedProvider:
    return ScriptedProvider({"hello": ANSWER, "bye": ANSWER}, latency=latency)


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def items(n: int) -> list[dict[str, str]]:
    return [{"name": f"customer-{i:05d}"} for i in range(n)]


async def one_after_another(path: Path, n: int, latency: float, runs: Path) -> dict[str, float]:
    mem0, cpu, t0 = rss(), time.process_time(), time.perf_counter()
    for item in items(n):
        spec = load_workflow(text=WORKFLOW.replace("${item.name}", item["name"]))
        await arun_workflow(spec, provider=provider(latency), runs_dir=runs, cache=False)
    wall = time.perf_counter() - t0
    return {
        "wall_per_item": wall / n,
        "cpu_per_item": (time.process_time() - cpu) / n,
        "rss_mb": (rss() - mem0) / 2**20,
    }


def _worker_stats() -> tuple[float, int]:
    p = psutil.Process()
    t = p.cpu_times()
    return t.user + t.system, int(p.memory_info().rss)


async def batch(
    path: Path,
    n: int,
    latency: float,
    runs: Path,
    executor: str,
    address: str | None,
    slots: int,
    stream: bool = False,
) -> dict[str, float]:
    client = None
    before: dict[str, tuple[float, int]] = {}
    if address is not None:
        from distributed import Client

        client = await Client(address, asynchronous=True)
        before = await client.run(_worker_stats)
    seen: list[Any] = []
    mem0, cpu, t0 = rss(), time.process_time(), time.perf_counter()
    result = await arun_workflows(
        path,
        items(n),
        executor=executor,  # type: ignore[arg-type]
        address=address,
        max_concurrency=slots,
        provider=provider(latency),
        runs_dir=runs,
        cache=False,  # every item makes its model calls (no answer reused across items)
        subscribers=[seen.append] if stream else (),
    )
    wall = time.perf_counter() - t0
    cpu_here = time.process_time() - cpu
    assert result.ok, result.failures[:1]
    worker_cpu, worker_rss = 0.0, 0
    if client is not None:
        after = await client.run(_worker_stats)
        worker_cpu = sum(after[w][0] - before[w][0] for w in after)
        worker_rss = sum(a[1] for a in after.values())
        await client.close()
    ideal = math.ceil(n / slots) * 2 * latency
    if stream:
        print(f"  ({len(seen)} events streamed back, {len(seen) / n:.0f} per item)")
    return {
        "wall": wall,
        "rate": n / wall,
        "overhead_ms": 1000 * max(0.0, wall - ideal) / n,
        "cpu_ms": 1000 * (cpu_here + worker_cpu) / n,
        "rss_mb": (rss() - mem0) / 2**20,
        "worker_rss_mb": worker_rss / 2**20,
    }


SANDBOX_CODE = "def f(x):\n    return x * 2\n"


async def sandbox_rate(n: int = 40, concurrency: int = 4) -> float:
    from nbworkflow.sandbox import arun_code

    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            r = await arun_code(SANDBOX_CODE, "f", args=[i], timeout=10)
            assert r.ok, r.summary()

    await one(-1)  # the backend's launcher starts on first use: not counted
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


async def sandbox_on_workers(address: str, n: int) -> float:
    from distributed import Client

    async with Client(address, asynchronous=True) as client:
        workers = list(await client.run(os.getpid))
        await client.run(_warm_sandbox)  # each worker's own launcher, started once
        t0 = time.perf_counter()
        futures = [
            client.submit(sandbox_rate, n, 4, workers=[w], pure=False, key=f"sbx-{w}")
            for w in workers
        ]
        await client.gather(futures)
        return len(workers) * n / (time.perf_counter() - t0)


def _warm_sandbox() -> None:
    from nbworkflow.sandbox import run_code

    run_code(SANDBOX_CODE, "f", args=[1], timeout=10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 items only, fewer samples")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per model call")
    args = parser.parse_args()
    sizes = [100] if args.quick else [100, 500]
    latency = args.latency
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "bench.yaml"
        path.write_text(WORKFLOW)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, latency {latency}s/call")
        seq_n = 5 if args.quick else 10
        seq = await one_after_another(path, seq_n, latency, root / "seq")
        print(
            f"one after another ({seq_n} items): {seq['wall_per_item'] * 1000:.0f} ms/item wall, "
            f"{seq['cpu_per_item'] * 1000:.1f} ms/item CPU, RSS +{seq['rss_mb']:.1f} MB "
            f"-> {1 / seq['wall_per_item']:.2f} items/s"
        )
        header = (
            f"{'executor':<22}{'items':>6}{'wall s':>8}{'items/s':>9}{'x seq':>7}"
            f"{'ovh ms/item':>12}{'CPU ms/item':>12}{'RSS+ MB':>9}{'workers MB':>11}"
        )
        print(header)

        def row(name: str, n: int, m: dict[str, float]) -> None:
            print(
                f"{name:<22}{n:>6}{m['wall']:>8.2f}{m['rate']:>9.1f}"
                f"{m['rate'] * seq['wall_per_item']:>7.1f}{m['overhead_ms']:>12.2f}"
                f"{m['cpu_ms']:>12.2f}{m['rss_mb']:>9.1f}{m['worker_rss_mb']:>11.0f}"
            )

        for n in sizes:
            m = await batch(path, n, latency, root / f"local{n}", "local", None, LOCAL_SLOTS)
            row("local (1 loop)", n, m)
        rates: dict[str, float] = {"local": await sandbox_rate()}
        for workers in (1, 2):
            t0 = time.perf_counter()
            async with LocalCluster(
                n_workers=workers,
                threads_per_worker=WORKER_SLOTS,
                processes=True,
                asynchronous=True,
                dashboard_address=":0",
                silence_logs=50,
            ) as cluster:
                started = time.perf_counter() - t0
                print(f"LocalCluster with {workers} worker(s) started in {started:.2f}s")
                for n in sizes:
                    m = await batch(
                        path,
                        n,
                        latency,
                        root / f"dask{workers}-{n}",
                        "dask",
                        cluster.scheduler_address,
                        WORKER_SLOTS * workers,
                    )
                    row(f"dask, {workers} worker(s)", n, m)
                if workers == 2:
                    n = sizes[-1]
                    m = await batch(
                        path,
                        n,
                        latency,
                        root / f"dask-stream-{n}",
                        "dask",
                        cluster.scheduler_address,
                        WORKER_SLOTS * workers,
                        stream=True,
                    )
                    row("dask, 2, events back", n, m)
                rates[f"{workers} worker(s)"] = await sandbox_on_workers(
                    cluster.scheduler_address, 20 if args.quick else 40
                )
        print(
            "sandbox executions/s (4 at a time per process): "
            + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
        )


if __name__ == "__main__":
    asyncio.run(main())

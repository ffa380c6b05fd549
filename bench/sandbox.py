"""Sandbox round-trip latency per backend, next to a bare interpreter spawn measured in the same run.

    python bench/sandbox.py [--n 60] [--no-docker]

Prints p50/p95 of ``run_code`` for a tiny function on every available backend (starting and
stopping a private dockerd when it can, see tests/support/dockerd.py), the bare baseline
``subprocess.run([sys.executable, "-I", "-c", ...])``, ratios, and executions/second at
concurrency 2 and 8. A benchmark, not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbworkflow.sandbox import _instance, run_code

CODE = "def f(x):\n    return x + 1\n"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def throughput(fn: Callable[[], object], workers: int, seconds: float = 2.0) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        n = 0
        while time.perf_counter() < deadline:
            fn()
            n += 1
        return n

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        done = sum(pool.map(lambda _: loop(), range(workers)))
    return done / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    daemon = None
    if not args.no_docker:
        try:
            from tests.support.dockerd import DockerUnavailable, start_private_dockerd

            try:
                daemon = start_private_dockerd()
                from nbworkflow.sandbox.docker_backend import configure_docker

                configure_docker(base_url=daemon.base_url, image=daemon.image)
            except DockerUnavailable as exc:
                print(f"(docker skipped: {exc})")
        except ImportError:
            pass

    try:
        bare = ["-I", "-c", "import json; print(json.dumps(1 + 1))"]
        fns: dict[str, Callable[[], object]] = {
            "bare spawn": lambda: subprocess.run(
                [sys.executable, *bare], capture_output=True, check=True
            )
        }
        for name in ("zygote", "bwrap", "docker", "process"):
            ok, why = _instance(name).available()
            if not ok:
                print(f"({name} unavailable: {why})")
                continue

            def call(name: str = name) -> None:
                r = run_code(CODE, "f", [1], backend=name)
                assert r.ok and r.value == 2, r

            fns[name] = call
        # Interleaved rounds: every backend sees the same machine load (other work may be running).
        samples: dict[str, list[float]] = {name: [] for name in fns}
        for fn in fns.values():
            for _ in range(3):
                fn()
        for i in range(args.n):
            for name, fn in fns.items():
                if name == "docker" and i % 3:
                    continue  # ~0.2 s each: a third of the rounds is plenty
                t = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t)
        rows = list(samples.items())
        del fns["bare spawn"]
        base = statistics.median(rows[0][1])
        docker = next((statistics.median(s) for k, s in rows if k == "docker"), None)
        print(f"\n{'backend':<12}{'p50 ms':>9}{'p95 ms':>9}{'vs bare':>10}{'vs docker':>11}")
        for name, samples in rows:
            p50 = statistics.median(samples)
            vs_bare = base / p50
            vs_docker = f"{docker / p50:10.1f}x" if docker else f"{'-':>11}"
            print(
                f"{name:<12}{p50 * 1e3:9.2f}{pct(samples, 0.95) * 1e3:9.2f}"
                f"{vs_bare:9.2f}x{vs_docker}"
            )
        print("\n(vs bare / vs docker: how many times faster than that baseline)")
        print(f"\n{'backend':<12}{'exec/s c=2':>12}{'exec/s c=8':>12}")
        for name, fn in fns.items():
            secs = 3.0 if name == "docker" else 2.0
            print(f"{name:<12}{throughput(fn, 2, secs):12.1f}{throughput(fn, 8, secs):12.1f}")
    finally:
        if daemon is not None:
            daemon.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

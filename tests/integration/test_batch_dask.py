"""Batches on a real Dask ``LocalCluster`` with worker processes (2 workers, small batches).

A failing item, events streamed back in order, a worker killed mid-batch, secrets that never
travel in a task (resolved from the workers' own environment), a resumed batch, and the
embedded cluster started when no address is given.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nbworkflow.batch import BatchUpdate, ItemDone, ItemEvent, run_workflows
from nbworkflow.batch.run import check_payload
from nbworkflow.exceptions import WorkflowError
from nbworkflow.runlog import read_events

from .batch_model import SECRET_NAME, WORKFLOW, ItemModel

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.integration

SECRET = "tok-live-5f3a9c0e7d1b"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    # The secret is in the environment the workers start with (the documented channel).
    os.environ[SECRET_NAME] = SECRET
    try:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=8, processes=True, dashboard_address=":0"
        ) as c:
            yield c
    finally:
        os.environ.pop(SECRET_NAME, None)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every task payload exactly as it leaves for the workers (pickled, checked)."""
    import nbworkflow.batch.run as batch_run

    blobs: list[bytes] = []

    def spy(task: Any, secrets: Any) -> bytes:
        blobs.append(check_payload(task, secrets))
        return blobs[-1]

    monkeypatch.setattr(batch_run, "check_payload", spy)
    return blobs


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "greet.yaml"
    path.write_text(WORKFLOW)
    return path


def names(n: int, bob: bool = True) -> list[dict[str, str]]:
    items = [{"name": f"n{i:02d}"} for i in range(n)]
    if bob:
        items[3] = {"name": "Bob"}
    return items


def test_failing_item_and_events_in_order(cluster: Any, spec_file: Path, tmp_path: Path) -> None:
    from nbworkflow.widgets.batch import BatchView

    updates: list[BatchUpdate] = []
    view = BatchView(interval=0.0)
    result = run_workflows(
        spec_file,
        names(10),
        executor="dask",
        address=cluster.scheduler_address,
        provider=ItemModel(latency=0.05),
        runs_dir=tmp_path / "runs",
        watchers=[updates.append, view],
    )
    assert result.executor == "dask"
    assert result.counts() == {"succeeded": 9, "failed": 1}
    assert result[3].status == "failed" and "Bob is not welcome" in result[3].message
    assert result[0].output("hello").content.startswith("Greet n00 secret=True")
    assert {r.worker for r in result} <= set(cluster.scheduler_info["workers"])
    streamed: dict[int, list[Any]] = {}
    for u in updates:
        if isinstance(u, ItemEvent):
            streamed.setdefault(u.index, []).append(u.event)
    for r in result:
        recorded = read_events(r.run_dir)  # the record of truth, on the shared disk
        assert [type(e).__name__ for e in streamed[r.index]] == [type(e).__name__ for e in recorded]
        assert [e.ts for e in streamed[r.index]] == [e.ts for e in recorded]
        # The widget folded the same stream: its run state is the recorded one.
        assert view.state.runs[r.index].events_seen == len(recorded)
        assert view.state.runs[r.index].status.value == r.status
    assert "1 failed" in view.summary.value and "Bob is not welcome" in view.failures.value
    # The secret went to no event and no output.
    for r in result:
        assert SECRET not in (Path(r.run_dir) / "events.jsonl").read_text()


def test_secret_never_in_a_task_payload(
    cluster: Any, spec_file: Path, tmp_path: Path, sent: list[bytes]
) -> None:
    result = run_workflows(
        spec_file,
        names(4, bob=False),
        executor="dask",
        address=cluster.scheduler_address,
        provider=ItemModel(),
        runs_dir=tmp_path / "runs",
    )
    assert result.ok
    assert len(sent) == 4
    for blob in sent:
        assert SECRET.encode() not in blob
        task = pickle.loads(blob)
        assert SECRET_NAME in task.secret_names and SECRET_NAME not in task.variables
    # ... and yet each worker had it: resolved there, from the environment it started with.
    assert all("secret=True" in r.output("hello").content for r in result)

    # A variable holding a secret value is refused before anything is sent.
    leaky = replace(pickle.loads(sent[0]), variables={"X": SECRET})
    with pytest.raises(WorkflowError, match="API_TOKEN would travel"):
        check_payload(leaky, {"API_TOKEN": SECRET})
    # An API key among the provider options is taken out (the workers use their own).
    sent.clear()
    with pytest.warns(UserWarning, match="api_key not sent"):
        keyed = run_workflows(
            spec_file,
            names(1, bob=False),
            executor="dask",
            address=cluster.scheduler_address,
            provider=ItemModel(),
            provider_options={"api_key": "sk-not-on-the-wire-123"},
            runs_dir=tmp_path / "runs",
        )
    assert keyed.ok and len(sent) == 1 and b"sk-not-on-the-wire-123" not in sent[0]


def test_secret_set_after_the_cluster_started_is_named(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "late.yaml"
    spec.write_text(
        "name: late\nsecrets: [NBW_LATE_TOKEN]\nnodes:\n  - id: hello\n"
        "    action: 'Greet ${item.name} ${NBW_LATE_TOKEN}'\n"
    )
    monkeypatch.setenv("NBW_LATE_TOKEN", "late-value-123456")
    result = run_workflows(
        spec,
        [{"name": "a"}],
        executor="dask",
        address=cluster.scheduler_address,
        provider=ItemModel(),
        runs_dir=tmp_path / "runs",
    )
    assert result[0].status == "error"
    assert "NBW_LATE_TOKEN not set on tcp://" in result[0].message


def test_worker_killed_mid_batch_costs_only_its_unfinished_items(
    spec_file: Path, tmp_path: Path
) -> None:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=4, processes=True, dashboard_address=":0"
    ) as c:
        with distributed.Client(c) as client:
            pids = client.run(os.getpid)
        victim, victim_pid = sorted(pids.items())[0]
        done_before_kill: set[int] = set()
        started: dict[int, int] = {}
        first_on: dict[int, str] = {}
        killed = False

        def watch(update: BatchUpdate) -> None:
            nonlocal killed
            if isinstance(update, ItemEvent) and type(update.event).__name__ == "RunStarted":
                started[update.index] = started.get(update.index, 0) + 1
                first_on.setdefault(update.index, update.worker)
            if isinstance(update, ItemDone) and not killed:
                done_before_kill.add(update.result.index)
                if update.result.worker == victim or len(done_before_kill) >= 2:
                    killed = True
                    os.kill(victim_pid, signal.SIGKILL)

        result = run_workflows(
            spec_file,
            names(16, bob=False),
            executor="dask",
            address=c.scheduler_address,
            provider=ItemModel(latency=0.3),
            runs_dir=tmp_path / "runs",
            watchers=[watch],
        )
    assert killed
    assert result.ok, result.failures
    assert len(result) == 16
    # What finished before the kill ran once; only the victim's unfinished items ran again.
    assert all(started[i] == 1 for i in done_before_kill)
    again = [i for i, n in started.items() if n > 1]
    assert again and all(first_on[i] == victim for i in again)
    assert all(n <= 2 for n in started.values())
    assert sum(started.values()) == 16 + len(again)
    # Each attempt has its own run folder; the item's result names the one that finished.
    for i in again:
        assert read_events(result[i].run_dir)[-1].kind == "run_finished"


def test_resumed_batch_on_the_embedded_cluster(spec_file: Path, tmp_path: Path) -> None:
    """No address: a LocalCluster is started for the batch (and its dashboard shown)."""
    runs = tmp_path / "runs"
    first = run_workflows(
        spec_file,
        names(6),
        executor="dask",
        workers=1,
        provider=ItemModel(),
        runs_dir=runs,
    )
    assert first.dashboard and first.dashboard.startswith("http")
    assert first.counts() == {"succeeded": 5, "failed": 1}
    again = run_workflows(
        spec_file,
        names(6),
        executor="local",
        provider=ItemModel(),
        runs_dir=runs,
        batch_id=first.batch_id,
    )
    assert [r.resumed for r in again] == [True, True, True, False, True, True]
    assert again[3].status == "failed"  # Bob is still not welcome: it ran again


def test_no_shared_disk_file_inputs_travel_and_runs_come_back(
    cluster: Any, tmp_path: Path, sent: list[bytes]
) -> None:
    """Workers that cannot see the notebook's disk: the file input is sent as content, the
    run folder comes back compressed and is unpacked under the notebook's runs_dir."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "brief.md").write_text("the brief text")
    spec = project / "wf.yaml"
    spec.write_text(
        "name: files\nnodes:\n  - id: hello\n    action: 'Greet ${item.name}'\n"
        "    inputs:\n      - file: brief.md\n"
    )

    runs = tmp_path / "runs"
    result = run_workflows(
        spec,
        [{"name": "a"}, {"name": "b"}],
        executor="dask",
        address=cluster.scheduler_address,
        shared_disk=False,
        provider=ItemModel(),
        runs_dir=runs,
    )
    assert result.ok, result.failures
    assert pickle.loads(sent[0]).files == {"brief.md": "the brief text"}
    assert all("brief=True" in r.output("hello").content for r in result)
    for r in result:
        run_dir = Path(r.run_dir)
        assert run_dir.parent == runs.resolve()
        events = read_events(run_dir)
        assert events[-1].kind == "run_finished"
        assert (run_dir / "workflow.yaml").is_file()


async def _sandboxed_on_worker() -> tuple[int, str, Any]:
    from nbworkflow.sandbox import arun_code

    result = await arun_code("def f(x):\n    return x * 2\n", "f", args=[21], timeout=20)
    return os.getpid(), result.backend, result.value


def test_each_worker_runs_its_own_sandbox(cluster: Any) -> None:
    """Generated code runs sandboxed inside worker processes, each with its own launcher."""
    with distributed.Client(cluster.scheduler_address) as client:
        workers = list(client.scheduler_info()["workers"])
        futures = [
            client.submit(_sandboxed_on_worker, workers=[w], pure=False, key=f"sbx-{w}")
            for w in workers
        ]
        answers = client.gather(futures)
    assert [value for _, _, value in answers] == [42] * len(workers)
    pids = {pid for pid, _, _ in answers}
    assert len(pids) == len(workers) and os.getpid() not in pids

"""Damaged run folders (issue 15): every reader validates what it reads, one damaged run never
hides the others, resume restores only what it can verify, run ids never share a folder."""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbworkflow import events as ev
from nbworkflow import runlog
from nbworkflow.agents import ScriptedProvider
from nbworkflow.cli import main as cli
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import WorkflowError
from nbworkflow.resume import RestoreWarning, restorable, resume_workflow
from nbworkflow.runlog import RunWriter, find_run, list_runs, read_events
from nbworkflow.spec import load_workflow

SPEC = (
    "name: Hostile\nnodes:\n  - id: a\n    action: x\n  - id: j\n    action: y\n"
    "    output: json\n  - id: b\n    action: z\n    depends_on: [a, j]\n"
)
GOOD = {"a": {"content": "hello"}, "j": {"data": {"k": 1}}, "b": {"content": "B"}}
FAILING_B = {"a": {"content": "hello"}, "j": {"data": {"k": 1}}}


def make_run(root: Path, script: dict[str, object] = GOOD) -> Path:
    result = run_workflow(
        load_workflow(text=SPEC), provider=ScriptedProvider(script), runs_dir=root, cache=False
    )
    return result.run_dir


def finished(run_dir: Path, node: str) -> ev.NodeFinished:
    (event,) = [
        e for e in read_events(run_dir) if isinstance(e, ev.NodeFinished) and e.node_id == node
    ]
    return event


# -- item 2: readers ---------------------------------------------------------------------------


@pytest.mark.parametrize("summary", ["[]", "null", '{"nodes": 5}', "{", '"x"', "[" * 5000, "\xff"])
def test_one_damaged_summary_hides_no_run(tmp_path: Path, summary: str) -> None:
    good, bad = make_run(tmp_path), make_run(tmp_path)
    (bad / "run.json").write_bytes(summary.encode("latin-1"))
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == sorted([good, bad])
    info = {r.path: r for r in runs}
    assert info[good].status == "succeeded" and info[good].problem is None
    # the damaged one is told from its events, and says what is damaged
    assert info[bad].status == "succeeded" and "run.json" in (info[bad].problem or "")
    assert find_run(bad.name, tmp_path) == bad


def test_a_run_json_that_is_a_directory_hides_no_run(tmp_path: Path) -> None:
    bad = make_run(tmp_path)
    (bad / "run.json").unlink()
    (bad / "run.json").mkdir()
    (run,) = list_runs(tmp_path)
    assert run.status == "succeeded" and "cannot read" in (run.problem or "")


def test_corrupt_events_are_listed_as_corrupt(tmp_path: Path) -> None:
    good, bad = make_run(tmp_path), make_run(tmp_path)
    (bad / "run.json").unlink()
    (bad / "events.jsonl").write_bytes(b"\xff\xfe garbage\n" + b"[" * 100_000 + b"\nlast\n")
    info = {r.path: r for r in list_runs(tmp_path)}
    assert info[good].status == "succeeded" and info[bad].status == "corrupt"


def test_cli_runs_log_resume_name_the_damaged_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_run(tmp_path)
    bad = make_run(tmp_path, FAILING_B)
    (bad / "run.json").write_text("[]")
    (bad / "workflow.yaml").unlink()
    assert cli(["runs", "--runs-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 4 and "run.json is damaged" in listed[3]  # under a header line
    assert cli(["log", bad.name, "--runs-dir", str(tmp_path)]) == 0
    code = cli(["resume", bad.name, "--runs-dir", str(tmp_path), "--provider", "scripted"])
    err = capsys.readouterr().err
    assert code != 0 and "workflow.yaml is missing" in err and "Traceback" not in err


@pytest.mark.parametrize("damage", ["missing", "directory", "not utf-8"])
def test_resume_with_a_damaged_workflow_yaml_says_which_file(tmp_path: Path, damage: str) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    spec = run_dir / "workflow.yaml"
    spec.unlink()
    if damage == "directory":
        spec.mkdir()
    elif damage == "not utf-8":
        spec.write_bytes(b"name: \xff\n")
    with pytest.raises(WorkflowError, match=r"workflow\.yaml"):
        resume_workflow(run_dir.name, runs_dir=tmp_path, provider=ScriptedProvider(GOOD))


def test_events_file_that_is_a_directory_is_a_workflow_error(tmp_path: Path) -> None:
    (tmp_path / "r" / "events.jsonl").mkdir(parents=True)
    with pytest.raises(WorkflowError, match="cannot read the run log"):
        read_events(tmp_path / "r")


# -- item 3: resume verifies -------------------------------------------------------------------


def test_artifact_hashes_are_recorded_when_written(tmp_path: Path) -> None:
    import hashlib

    run_dir = make_run(tmp_path)
    for node in "ajb":
        event = finished(run_dir, node)
        blob = (run_dir / (event.artifact or "")).read_bytes()
        assert event.artifact_sha256 == hashlib.sha256(blob).hexdigest()


def _rewrite_events(run_dir: Path, node: str, **changes: object) -> None:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    out = []
    for line in lines:
        data = json.loads(line)
        if data.get("kind") == "node_finished" and data.get("node_id") == node:
            data.update(changes)
        out.append(json.dumps(data))
    (run_dir / "events.jsonl").write_text("\n".join(out) + "\n")


def resume_and_calls(tmp_path: Path, run_dir: Path) -> tuple[set[str], list[str]]:
    provider = ScriptedProvider(GOOD)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = resume_workflow(run_dir.name, runs_dir=tmp_path, provider=provider, cache=False)
    assert result.ok
    said = [str(w.message) for w in caught if issubclass(w.category, RestoreWarning)]
    return {r.node_id for r in provider.requests}, said


def test_resume_refuses_an_artifact_outside_the_run_folder(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not send me to a model")
    _rewrite_events(run_dir, "a", artifact="../../secret.txt")
    calls, said = resume_and_calls(tmp_path, run_dir)
    assert calls == {"a", "b"}
    assert any("outside the run folder" in s and "'a'" in s for s in said)


def test_resume_refuses_a_symlink_out_of_the_run_folder(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    artifact = run_dir / "artifacts" / "a.md"
    artifact.unlink()
    artifact.symlink_to("/etc/hostname")
    calls, said = resume_and_calls(tmp_path, run_dir)
    assert "a" in calls and any("outside the run folder" in s for s in said)


@pytest.mark.parametrize(
    "content", [b"hellO", b"hel", b"\xff\xfe", b""], ids=["garbled", "truncated", "binary", "empty"]
)
def test_resume_reruns_a_node_whose_artifact_changed(tmp_path: Path, content: bytes) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    (run_dir / "artifacts" / "a.md").write_bytes(content)
    calls, said = resume_and_calls(tmp_path, run_dir)
    assert calls == {"a", "b"}
    assert any("changed since it was written" in s for s in said)


def test_resume_reruns_a_json_artifact_that_fails_verification(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    (run_dir / "artifacts" / "j.json").write_text('{"k": 2}')
    calls, _ = resume_and_calls(tmp_path, run_dir)
    assert calls == {"j", "b"}


def test_old_runs_without_hashes_run_again(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    _rewrite_events(run_dir, "a", artifact_sha256=None)
    calls, said = resume_and_calls(tmp_path, run_dir)
    assert calls == {"a", "b"} and any("no hash was recorded" in s for s in said)


def test_good_artifacts_are_restored_without_a_warning(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, FAILING_B)
    calls, said = resume_and_calls(tmp_path, run_dir)
    assert calls == {"b"} and said == []


# -- item 5: run ids ---------------------------------------------------------------------------


def test_a_forced_id_collision_draws_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["same", "same", "other"])
    monkeypatch.setattr(runlog, "new_run_id", lambda workflow: next(ids))
    first = RunWriter.create(tmp_path, "w")
    second = RunWriter.create(tmp_path, "w")
    assert (first.run_id, second.run_id) == ("same", "other")
    first.close()
    second.close()


def test_two_runs_with_a_colliding_clock_and_random_stay_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runlog.time, "time", lambda: 1_700_000_000.0)
    bits = iter(["0000", "0000", "0001", "0002"])
    monkeypatch.setattr(runlog.secrets, "token_hex", lambda n: next(bits))
    monkeypatch.setattr(runlog, "_issued", set())
    one, two = make_run(tmp_path), make_run(tmp_path)
    assert one != two
    for run_dir in (one, two):
        starts = [e for e in read_events(run_dir) if isinstance(e, ev.RunStarted)]
        assert len(starts) == 1 and starts[0].run_id == run_dir.name


def test_a_given_run_id_whose_folder_exists_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(WorkflowError, match="already exists"):
        RunWriter.create(tmp_path, "w", "taken")


def test_a_concurrent_burst_of_runs_gets_distinct_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every thread draws from the same tiny id space: only exclusive creation keeps them apart
    monkeypatch.setattr(runlog.time, "time", lambda: 1_700_000_000.0)
    monkeypatch.setattr(runlog, "_issued", set())
    counter = iter(range(10**6))
    lock = threading.Lock()

    def tiny(n: int) -> str:
        with lock:
            return f"{next(counter) * 7 % 24:04x}" if n else "0"

    monkeypatch.setattr(runlog.secrets, "token_hex", tiny)
    monkeypatch.setattr(runlog, "new_run_id", lambda w: f"r-{tiny(2)}")
    made: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            writer = RunWriter.create(tmp_path, "w")
            made.append(writer.run_id)
            writer.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(made)) == 20
    assert len(list(tmp_path.iterdir())) == 20


def test_new_run_id_never_repeats_in_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runlog.time, "time", lambda: 1_700_000_000.0)
    ids = [runlog.new_run_id("w") for _ in range(2000)]
    assert len(set(ids)) == 2000


# -- property tests: any damage, every reader --------------------------------------------------

_junk = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"[]", b"null", b'{"nodes": 5}', b"[" * 3000, b'{"workflow": 5}']),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    )),
)  # fmt: skip
_files = st.sampled_from(["run.json", "events.jsonl", "workflow.yaml", "artifacts/a.md"])


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(damage=st.lists(st.tuples(_files, _junk, st.booleans()), min_size=1, max_size=3))
def test_any_damage_to_a_run_folder_is_reported_never_raised_raw(
    tmp_path_factory: pytest.TempPathFactory, damage: list[tuple[str, bytes, bool]]
) -> None:
    root = tmp_path_factory.mktemp("runs")
    good, bad = make_run(root), make_run(root, FAILING_B)
    for name, blob, append in damage:
        path = bad / name
        with path.open("ab" if append else "wb") as fh:
            fh.write(blob)
    info = {r.path: r for r in list_runs(root)}
    assert info[good].status == "succeeded"  # never hidden by its neighbour
    assert bad in info
    for reader in (
        lambda: read_events(bad),
        lambda: restorable(bad),
        lambda: resume_workflow(bad.name, runs_dir=root, provider=ScriptedProvider(GOOD)),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RestoreWarning)
                reader()
        except WorkflowError:
            pass


def test_a_waiting_nodes_attempt_artifacts_get_their_hashes(tmp_path: Path) -> None:
    import hashlib

    writer = RunWriter(tmp_path / "r")
    rel = writer.write_artifact("n", "code", "x = 1\n", suffix=".attempt1")
    writer.append(ev.NodeWaiting(run_id="r", node_id="n", data={"artifact": rel, "kind": "k"}))
    writer.close()
    (event,) = read_events(tmp_path / "r")
    assert isinstance(event, ev.NodeWaiting)
    assert event.data["artifact_sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()


def test_the_hash_lands_in_its_field_whatever_the_preview_says(tmp_path: Path) -> None:
    import hashlib

    writer = RunWriter(tmp_path / "r")
    rel = writer.write_artifact("n", "text", "body")
    tricky = '"artifact_sha256":null, "artifact_sha256":"0"'
    writer.append(ev.NodeFinished(run_id="r", node_id="n", artifact=rel, preview=tricky))
    writer.close()
    (event,) = read_events(tmp_path / "r")
    assert isinstance(event, ev.NodeFinished) and event.preview == tricky
    assert event.artifact_sha256 == hashlib.sha256(b"body").hexdigest()


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "..", "x\x1b"])
def test_a_given_run_id_must_be_a_plain_folder_name(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(WorkflowError, match="not a plain folder name"):
        RunWriter.create(tmp_path / "runs", "w", run_id)
    assert not (tmp_path / "escape").exists()


def _waiting_run(tmp_path: Path, damage: str) -> tuple[Path, ev.NodeWaiting]:
    """A run folder whose adaptive node 'b' waits on attempt 2 (attempt 1 is its previous
    code), with one kind of damage done to what the wait point names."""
    run_dir = tmp_path / "r"
    writer = RunWriter(run_dir)
    prev = writer.write_artifact("b", "code", "x = 0\n", suffix=".attempt1")
    rel = writer.write_artifact("b", "code", "x = 1\n", suffix=".attempt2")
    data: dict[str, object] = {"kind": "approve", "attempt": 2, "artifact": rel}
    data["prev_artifact"] = prev
    if damage == "outside":
        data["artifact"] = "../../../../etc/hostname"
    writer.append(ev.NodeWaiting(run_id="r", node_id="b", data=data))
    writer.close()
    if damage == "non-utf8":
        (run_dir / rel).write_bytes(b"\xff\xfe")
    elif damage == "tampered":
        (run_dir / rel).write_text("import os; os.system('id')\n")
    elif damage == "prev-tampered":
        (run_dir / prev).write_text("x = 666\n")
    elif damage == "no-hash":
        event = json.loads((run_dir / "events.jsonl").read_text())
        del event["data"]["artifact_sha256"]
        (run_dir / "events.jsonl").write_text(json.dumps(event) + "\n")
    (event,) = read_events(run_dir)
    assert isinstance(event, ev.NodeWaiting)
    return run_dir, event


def test_a_waiting_nodes_verified_attempts_resume(tmp_path: Path) -> None:
    from nbworkflow.resume import resume_point

    run_dir, event = _waiting_run(tmp_path, "none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RestoreWarning)
        point = resume_point(run_dir, event)
    assert point is not None and (point.code, point.prev_code) == ("x = 1\n", "x = 0\n")


@pytest.mark.parametrize("damage", ["non-utf8", "tampered", "prev-tampered", "outside", "no-hash"])
def test_a_waiting_nodes_damaged_attempt_is_not_trusted(tmp_path: Path, damage: str) -> None:
    """The waiting code goes to a person and then to staging: it is restored only when it
    verifies; otherwise the node starts over, and a warning says why."""
    from nbworkflow.resume import resume_point

    run_dir, event = _waiting_run(tmp_path, damage)
    with pytest.warns(RestoreWarning, match="node 'b' is not restored"):
        assert resume_point(run_dir, event) is None

"""Batches on one event loop: items, ${item.field}, failures, resume, watchers, payload checks."""

from __future__ import annotations

import asyncio
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nbworkflow.agents import ScriptedProvider
from nbworkflow.agents.base import ModelRequest
from nbworkflow.batch import (
    BatchFinished,
    BatchStarted,
    BatchUpdate,
    ItemDone,
    ItemEvent,
    arun_workflows,
    load_items,
    read_manifest,
    run_workflows,
)
from nbworkflow.batch.items import item_refs, item_text, item_variables
from nbworkflow.batch.run import check_payload
from nbworkflow.batch.task import RunTask
from nbworkflow.events import RunFinished, RunStarted
from nbworkflow.exceptions import SpecError, WorkflowError
from nbworkflow.spec import load_workflow

WORKFLOW = """\
name: greet
nodes:
  - id: hello
    action: "Greet ${item.name} from ${item.address.city:-nowhere}"
  - id: bye
    action: Say bye
    depends_on: hello
"""


def answer(text: str) -> dict[str, str]:
    return {"rationale": "r", "content": text}


class Greeter:
    """A scripted model that fails for one name and counts what it is asked, per name."""

    def __init__(self, fail: str = "Bob", latency: float = 0.0) -> None:
        self.fail = fail
        self.latency = latency
        self.asked: list[str] = []
        self.active = 0
        self.peak = 0

    def provider(self) -> ScriptedProvider:
        return ScriptedProvider({"bye": answer("bye")}, responders={"hello": self.hello})

    def hello(self, request: ModelRequest) -> dict[str, str]:
        text = request.messages[-1].content
        line = next(x for x in text.splitlines() if x.startswith("Greet "))
        self.asked.append(line)
        if f"Greet {self.fail} " in line:
            raise WorkflowError(f"{self.fail} is not welcome")
        return answer(line.replace("Greet", "Hello"))


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "greet.yaml"
    path.write_text(WORKFLOW)
    return path


ITEMS = [
    {"name": "Ann", "address": {"city": "Oslo"}},
    {"name": "Bob"},
    {"name": "Cid", "address": {"city": "Rome"}},
]


def test_items_from_list_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text('{"name": "Ann"}\n\n{"name": "Bob", "n": 2}\n')
    csv = tmp_path / "items.csv"
    csv.write_text("name,city\nAnn,Oslo\nBob,Rome\n")
    assert load_items(jsonl) == [{"name": "Ann"}, {"name": "Bob", "n": 2}]
    assert load_items(str(csv)) == [
        {"name": "Ann", "city": "Oslo"},
        {"name": "Bob", "city": "Rome"},
    ]
    assert load_items(["a", {"x": 1}]) == [{"value": "a"}, {"x": 1}]


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.jsonl", '{"a": 1}\n[1, 2]\n', "bad.jsonl:2"),
        ("bad.jsonl", '{"a": 1}\n{oops\n', "bad.jsonl:2"),
        ("deep.jsonl", '{"a": 1}\n{"b": ' + "[" * 5000 + "]" * 5000 + "}\n", "deep.jsonl:2"),
        ("items.txt", "a\n", "items.txt"),
        ("empty.csv", "name,city\n", "no rows"),
    ],
)
def test_bad_item_files_say_where(tmp_path: Path, name: str, text: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(WorkflowError, match=where):
        load_items(path)


def test_item_fields_become_variables() -> None:
    text = "a: ${item.name} ${item.address.city:-x} $${item.literal} ${OTHER}"
    refs = item_refs(text)
    assert refs == {"name": True, "address.city": False}
    assert item_text(text) == "a: ${item__name} ${item__address__city:-x} $${item.literal} ${OTHER}"
    assert item_variables({"name": "Ann", "address": {"city": "Oslo"}}, refs) == {
        "item__name": "Ann",
        "item__address__city": "Oslo",
    }
    assert item_variables({"name": "Ann"}, refs) == {"item__name": "Ann"}
    with pytest.raises(WorkflowError, match=r"no field 'name' \(its fields: nam\)"):
        item_variables({"nam": "Ann"}, refs)


def test_batch_runs_every_item_with_its_fields(spec_file: Path, tmp_path: Path) -> None:
    model = Greeter()
    items = [*ITEMS, {"nam": "typo"}]
    result = run_workflows(spec_file, items, provider=model.provider(), runs_dir=tmp_path / "runs")

    assert [r.status for r in result] == ["succeeded", "failed", "succeeded", "error"]
    assert result.counts() == {"succeeded": 2, "failed": 1, "error": 1}
    assert result[0].output("hello").content == "Hello Ann from Oslo"
    assert result[2].output("hello").content == "Hello Cid from Rome"
    assert "Bob is not welcome" in result[1].message
    assert "no field 'name'" in result[3].message
    assert sorted(model.asked) == [
        "Greet Ann from Oslo",
        "Greet Bob from nowhere",
        "Greet Cid from Rome",
    ]
    for r in result[:3]:  # each item has its own run folder with its own record
        assert (Path(r.run_dir) / "events.jsonl").is_file()
        assert r.tokens > 0 or not r.ok
    assert len({r.run_id for r in result[:3]}) == 3
    assert [r.index for r in result.failures] == [1, 3]


def test_a_damaged_manifest_line_nested_too_deeply_is_skipped(
    spec_file: Path, tmp_path: Path
) -> None:
    """A manifest line is read back on resume: a deep one raised RecursionError (not the
    ValueError of a line cut short) and stopped the resume with a traceback."""
    runs = tmp_path / "runs"
    first = run_workflows(spec_file, ITEMS, provider=Greeter().provider(), runs_dir=runs)
    folder = runs / ".batches" / first.batch_id
    with (folder / "manifest.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"key": ' + "[" * 5000 + "]" * 5000 + "}\n")
    assert sorted(r.status for r in read_manifest(folder).values()) == [
        "failed",
        "succeeded",
        "succeeded",
    ]


def test_resumed_batch_runs_only_what_did_not_succeed(spec_file: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    model = Greeter()
    first = run_workflows(spec_file, ITEMS, provider=model.provider(), runs_dir=runs)
    assert first.counts() == {"succeeded": 2, "failed": 1}
    manifest = read_manifest(runs / ".batches" / first.batch_id)
    assert sorted(r.status for r in manifest.values()) == ["failed", "succeeded", "succeeded"]

    model.asked.clear()
    model.fail = "nobody"
    # Another order, same items: keyed by content, not by position.
    again = run_workflows(
        spec_file,
        list(reversed(ITEMS)),
        provider=model.provider(),
        runs_dir=runs,
        batch_id=first.batch_id,
    )
    assert again.ok
    assert model.asked == ["Greet Bob from nowhere"]
    assert [r.resumed for r in again] == [True, False, True]
    assert again[0].output("hello").content == "Hello Cid from Rome"


def test_concurrency_bound_and_updates_in_order(spec_file: Path, tmp_path: Path) -> None:
    active = 0
    peak = 0

    async def slow_hello(request: ModelRequest) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1

    class Slow(ScriptedProvider):
        async def complete(self, request: ModelRequest) -> Any:
            if request.node_id == "hello":
                await slow_hello(request)
            return await super().complete(request)

    provider = Slow({"hello": answer("hi"), "bye": answer("bye")})
    updates: list[BatchUpdate] = []
    items = [{"name": f"n{i}"} for i in range(12)]
    result = asyncio.run(
        arun_workflows(
            spec_file,
            items,
            provider=provider,
            runs_dir=tmp_path / "runs",
            max_concurrency=3,
            watchers=[updates.append],
        )
    )
    assert result.ok and len(result) == 12
    assert peak == 3
    assert isinstance(updates[0], BatchStarted) and updates[0].total == 12
    assert isinstance(updates[-1], BatchFinished)
    per_item: dict[int, list[str]] = {}
    for u in updates:
        if isinstance(u, ItemEvent):
            per_item.setdefault(u.index, []).append(type(u.event).__name__)
        elif isinstance(u, ItemDone):
            per_item.setdefault(u.result.index, []).append("done")
    for kinds in per_item.values():
        assert kinds[0] == "RunStarted" and kinds[-2:] == ["RunFinished", "done"]


def test_many_workflows_at_once(spec_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("name: other\nnodes:\n  - id: bye\n    action: Bye ${item.name}\n")
    model = Greeter()
    seen: list[Any] = []
    result = run_workflows(
        [spec_file, other],
        ITEMS[:2],
        provider=model.provider(),
        runs_dir=tmp_path / "runs",
        subscribers=[seen.append],
    )
    assert [(r.workflow, r.status) for r in result] == [
        ("greet", "succeeded"),
        ("greet", "failed"),
        ("other", "succeeded"),
        ("other", "succeeded"),
    ]
    assert sum(isinstance(e, RunStarted) for e in seen) == 4
    assert sum(isinstance(e, RunFinished) for e in seen) == 4


def test_spec_error_stops_the_batch_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nnodes:\n  - id: a\n    action: x ${item.name}\n    depends_on: zz\n")
    model = Greeter()
    with pytest.raises(SpecError, match="zz"):
        run_workflows(bad, ITEMS, provider=model.provider(), runs_dir=tmp_path / "runs")
    assert model.asked == []


def test_unknown_argument_is_named(spec_file: Path) -> None:
    with pytest.raises(WorkflowError, match="run_id"):
        run_workflows(spec_file, ITEMS, run_id="x")


def _task(**fields: Any) -> RunTask:
    base: dict[str, Any] = dict(
        index=0,
        key="k",
        workflow="w",
        item={},
        source_text="name: w",
        filename="w.yaml",
        base_dir="/",
        variables={},
        run_id="r",
        runs_dir=None,
    )
    return RunTask(**(base | fields))


def test_payload_check_finds_a_secret_value() -> None:
    secrets = {"API_TOKEN": "tok-0123456789"}
    assert pickle.loads(check_payload(_task(variables={"x": "fine"}), secrets)).variables == {
        "x": "fine"
    }
    with pytest.raises(WorkflowError, match="API_TOKEN would travel") as info:
        check_payload(_task(provider_options={"header": "Bearer tok-0123456789"}), secrets)
    assert "tok-0123456789" not in str(info.value)


def test_file_inputs_are_sent_as_content_and_staged(tmp_path: Path) -> None:
    from nbworkflow.batch.task import _staged_spec, local_files

    (tmp_path / "doc.md").write_text("the doc")
    text = "name: f\nnodes:\n  - id: a\n    action: read\n    inputs:\n      - file: doc.md\n"
    spec = load_workflow(text=text, base_dir=tmp_path)
    files = local_files(spec)
    assert files == {"doc.md": "the doc"}
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = _staged_spec(_task(source_text=text, files=files, base_dir="/nonexistent"), stage)
    path = staged.base_dir / staged.node("a").inputs[0].file
    assert path.read_text() == "the doc" and path.parent == stage

    missing = load_workflow(text=text.replace("doc.md", "gone.md"), base_dir=tmp_path)
    with pytest.raises(WorkflowError, match=r"gone\.md cannot be read here"):
        local_files(missing)


def test_manifest_lines_are_json(spec_file: Path, tmp_path: Path) -> None:
    result = run_workflows(
        spec_file, ITEMS[:1], provider=Greeter().provider(), runs_dir=tmp_path / "r"
    )
    assert result.batch_dir is not None
    lines = (result.batch_dir / "manifest.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["outputs"]["hello"]["content"] == "Hello Ann from Oslo"


def test_batch_view_state_static_rendering_and_item_graphs(spec_file: Path, tmp_path: Path) -> None:
    from nbworkflow.widgets.batch import BatchView, batch_state_from, render_batch_html

    view = BatchView(interval=0.0)
    result = run_workflows(
        spec_file, ITEMS, provider=Greeter().provider(), runs_dir=tmp_path / "runs", watchers=[view]
    )
    state = view.state
    assert state.counts() == {"succeeded": 2, "failed": 1}
    assert state.rate() > 0
    assert [r.index for r in state.failures()] == [1]
    # The live view: headline, failures, a dropdown of every item; picking one opens its graph.
    assert "2 succeeded" in view.summary.value and "Bob is not welcome" in view.failures.value
    assert [v for _, v in view.selector.options] == [0, 1, 2]
    view.selector.value = 1
    assert 'data-run-status="failed"' in view.item.value and "nbw-graph-img" in view.item.value
    view.selector.value = 2
    assert "Hello Cid from Rome" in view.item.value
    # Each item's run was folded from its own events, in order.
    for r in result:
        assert state.runs[r.index].run_id == r.run_id
        assert state.runs[r.index].status.value == r.status

    # The static rendering: no script, the failure's graph embedded, every item listed.
    html = view.static_bundle()["text/html"]
    assert "<script" not in html
    assert html.count('class="nbw-batch-item"') == 1 and "nbw-graph-img" in html
    assert html.count("<tr data-item=") == 3
    # ... and the same from the BatchResult alone (graphs read back from the run folders).
    again = render_batch_html(batch_state_from(result))
    assert "nbw-graph-img" in again and "Bob is not welcome" in again


def test_batch_view_redraws_are_bounded(spec_file: Path, tmp_path: Path) -> None:
    from nbworkflow.widgets.batch import BatchView

    ticks = iter(range(10_000))
    view = BatchView(interval=1_000.0, clock=lambda: float(next(ticks)))
    run_workflows(
        spec_file, ITEMS, provider=Greeter().provider(), runs_dir=tmp_path / "runs", watchers=[view]
    )
    assert view.state.events > 10
    assert view.redraws == 2  # the first update and the final one
    assert "finished" in view.summary.value


def test_static_rendering_replaces_the_live_view_at_the_end(
    spec_file: Path, tmp_path: Path
) -> None:
    from nbworkflow.widgets.batch import BatchView

    class Handle:
        def __init__(self) -> None:
            self.updates: list[dict[str, str]] = []

        def update(self, bundle: dict[str, str], raw: bool) -> None:
            self.updates.append(bundle)

    view = BatchView()
    assert view.live_bundle()["application/vnd.jupyter.widget-view+json"]["model_id"]
    handle = Handle()
    view.attach(handle)
    run_workflows(
        spec_file, ITEMS, provider=Greeter().provider(), runs_dir=tmp_path / "r", watchers=[view]
    )
    assert len(handle.updates) == 1
    assert (
        handle.updates[0]["text/plain"].startswith("batch ")
        and "finished" in handle.updates[0]["text/plain"]
    )
    assert "nbw-batch-bar" in handle.updates[0]["text/html"]


def test_map_and_cluster_options(spec_file: Path, tmp_path: Path) -> None:
    from nbworkflow.batch.options import (
        batch_lines,
        executor_options,
        exit_code,
        map_inputs,
        run_mapped,
    )

    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text("\n".join(json.dumps(i) for i in ITEMS))
    assert map_inputs(str(jsonl)) == str(jsonl)
    assert map_inputs("customers", {"customers": ITEMS}) == ITEMS

    class Frame:  # what pandas offers
        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return ITEMS

    assert map_inputs("df", {"df": Frame()}) == ITEMS
    with pytest.raises(WorkflowError, match="did you mean the variable 'customers'"):
        map_inputs("customer", {"customers": ITEMS})
    with pytest.raises(WorkflowError, match="holds a str"):
        map_inputs("name", {"name": "Ann"})
    with pytest.raises(WorkflowError, match=r"\.jsonl"):
        map_inputs("nope.jsonl")
    assert executor_options(None) == {"executor": "local"}
    assert executor_options("local") == {"executor": "dask"}
    assert executor_options("10.0.0.5:8786") == {
        "executor": "dask",
        "address": "tcp://10.0.0.5:8786",
    }
    with pytest.raises(WorkflowError, match="scheduler address"):
        executor_options("somewhere")

    result = run_mapped(
        spec_file, str(jsonl), provider=Greeter().provider(), runs_dir=tmp_path / "r"
    )
    lines = batch_lines(result)
    assert lines[0].startswith(f"batch {result.batch_id}: 3 items (1 failed, 2 succeeded)")
    assert any("item 1 failed: hello: Bob is not welcome" in line for line in lines)
    assert exit_code(result) == 1


def _plan(spec: Any, items: list[dict[str, Any]], tmp_path: Path, **kw: Any) -> Any:
    from nbworkflow.batch.plan import build_plan, read_source

    sources = [read_source(spec, {}, items[0], True)]
    options = {
        "remote": True,
        "done_before": {},
        "provider": "scripted",
        "provider_options": {},
        "run_options": {},
        "runs_root": tmp_path / "runs",
        "batch_id": "b",
    } | kw
    return sources, build_plan(sources, items, **options)


def test_remote_tasks_carry_each_items_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("doc A")
    (tmp_path / "b.md").write_text("doc B")
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "name: f\nnodes:\n  - id: n\n    action: read\n    inputs:\n      - file: ${item.doc}\n"
        "      - file: a.md\n"
    )
    sources, plan = _plan(spec, [{"doc": "a.md"}, {"doc": "b.md"}, {"doc": "gone.md"}], tmp_path)
    assert sources[0].files_per_item
    assert [t.files for t in plan.tasks] == [{"a.md": "doc A"}, {"b.md": "doc B", "a.md": "doc A"}]
    assert [e.index for e in plan.errors] == [2] and "gone.md cannot be read here" in plan.errors[
        0
    ].message

    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        "name: g\nnodes:\n  - id: n\n    action: ${item.doc}\n    inputs:\n      - file: a.md\n"
    )
    sources, plan = _plan(fixed, [{"doc": "x"}, {"doc": "y"}], tmp_path)
    assert not sources[0].files_per_item and plan.tasks[1].files == {"a.md": "doc A"}


def test_secrets_stay_names_in_remote_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbworkflow.batch.plan import secret_values

    monkeypatch.setenv("NBW_UNIT_TOKEN", "unit-secret-value-42")
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "name: s\nsecrets: [NBW_UNIT_TOKEN]\nnodes:\n  - id: n\n"
        "    action: 'use ${NBW_UNIT_TOKEN} for ${item.name} at ${HOST}'\n"
    )
    with pytest.warns(UserWarning, match="api_key not sent"):
        sources, plan = _plan(
            load_workflow(spec, variables={"HOST": "h.example"}),
            [{"name": "Ann"}],
            tmp_path,
            provider_options={"api_key": "sk-unit-0123456789", "model": "m"},
        )
    task = plan.tasks[0]
    assert task.secret_names == ("NBW_UNIT_TOKEN",)
    assert task.variables == {"HOST": "h.example", "item__name": "Ann"}
    assert task.provider_options == {"model": "m"}
    secrets = secret_values(sources, {}, {"api_key": "sk-unit-0123456789"}, plan.dropped)
    blob = check_payload(task, secrets)
    assert b"unit-secret-value-42" not in blob and b"sk-unit-0123456789" not in blob

    # A closure is pickled by value (cloudpickle, as Dask does): what it holds is found too.
    token = "unit-secret-value-42"
    leaky = ScriptedProvider(responders={"n": lambda r: {"content": token}})
    with pytest.raises(WorkflowError, match="NBW_UNIT_TOKEN would travel"):
        check_payload(replace(task, provider=leaky), secrets)


def test_a_local_batch_never_imports_dask(spec_file: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from nbworkflow.agents import ScriptedProvider\n"
        "from nbworkflow.batch import run_workflows\n"
        "a = {'rationale': 'r', 'content': 'x'}\n"
        f"r = run_workflows({str(spec_file)!r}, [{{'name': 'Ann'}}], runs_dir={str(tmp_path)!r},\n"
        "    provider=ScriptedProvider({'hello': a, 'bye': a}))\n"
        "assert r.ok, r.failures\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_runs_dir_writes_nothing(
    spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run_workflows(spec_file, ITEMS, provider=Greeter().provider(), runs_dir=None)
    assert result.counts() == {"succeeded": 2, "failed": 1}
    assert result.batch_dir is None and all(r.run_dir == "" for r in result)
    assert result[0].output("hello").content == "Hello Ann from Oslo"
    assert list(work.iterdir()) == []


def test_items_share_one_loaded_spec_unless_they_fill_it(tmp_path: Path) -> None:
    from nbworkflow.nodes.base import NodeContext, NodeOutput

    seen: list[Any] = []

    async def handler(ctx: NodeContext) -> NodeOutput:
        seen.append(ctx.spec)
        return NodeOutput("text", ctx.node.action)

    plain = tmp_path / "plain.yaml"
    plain.write_text("name: p\nnodes:\n  - id: a\n    action: same for all\n")
    filled = tmp_path / "filled.yaml"
    filled.write_text("name: f\nnodes:\n  - id: a\n    action: for ${item.name}\n")
    items = [{"name": "x"}, {"name": "y"}, {"name": "z"}]
    result = run_workflows(
        plain,
        items,
        handlers={"routine": handler},
        runs_dir=tmp_path / "r",
        provider=ScriptedProvider(),
        cache=False,  # every item reaches the handler
    )
    assert result.ok and len(seen) == 3 and len({id(s) for s in seen}) == 1
    seen.clear()
    result = run_workflows(
        filled,
        items,
        handlers={"routine": handler},
        runs_dir=tmp_path / "r",
        provider=ScriptedProvider(),
    )
    assert len({id(s) for s in seen}) == 3
    assert [r.output("a").content for r in result] == ["for x", "for y", "for z"]


def test_the_cli_runs_a_workflow_over_a_jsonl_file_and_resumes_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nbworkflow run FILE --map items.jsonl`: one run per item; `--batch-id` runs only what
    did not succeed (here: nothing); the batch options need --map."""
    import re

    from nbworkflow.cli import main as cli_main

    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    (tmp_path / "items.jsonl").write_text(
        "".join(json.dumps({"name": n}) + "\n" for n in ("Ada", "Bob", "Cy"))
    )
    script = {
        "hello": {"rationale": "r", "content": "hi"},
        "bye": "bye",
    }
    (tmp_path / "script.yaml").write_text(json.dumps(script))
    base = ["run", str(tmp_path / "wf.yaml"), "--map", str(tmp_path / "items.jsonl")]
    base += ["--provider", "scripted", "--script", str(tmp_path / "script.yaml")]
    base += ["--runs-dir", str(tmp_path / "runs")]
    assert cli_main(base) == 0
    out = capsys.readouterr().out
    assert "3 succeeded" in out, out
    batch_id = re.search(r"same batch id (\S+?)\)", out)
    assert batch_id, out
    manifest = read_manifest(tmp_path / "runs" / ".batches" / batch_id.group(1))
    assert len(manifest) == 3
    # resuming the finished batch runs nothing again
    assert cli_main([*base, "--batch-id", batch_id.group(1)]) == 0
    runs = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 3
    assert cli_main(["run", str(tmp_path / "wf.yaml"), "--cluster", "local"]) == 2
    assert "--cluster goes with --map ITEMS" in capsys.readouterr().err


def test_the_cli_refuses_a_cost_budget_for_a_whole_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not silently ignored: the CLI says what caps each item instead, like the magic."""
    from nbworkflow.cli import main as cli_main

    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    (tmp_path / "items.jsonl").write_text('{"name": "Ada"}\n')
    args = ["run", str(tmp_path / "wf.yaml"), "--map", str(tmp_path / "items.jsonl")]
    assert cli_main([*args, "--cost-budget", "1", "--runs-dir", str(tmp_path / "r")]) == 2
    assert "`cost_budget:` in the workflow caps each item" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

"""The ready-queue engine: ordering, concurrency, skip-downstream, fail_fast, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbworkflow import events as ev
from nbworkflow.agents import ScriptedProvider
from nbworkflow.engine import arun_workflow, run_workflow
from nbworkflow.events import NodeStatus, RunStatus, event_to_json
from nbworkflow.exceptions import ProviderError
from nbworkflow.nodes.base import NodeContext
from nbworkflow.outputs import NodeOutput
from nbworkflow.runlog import read_events
from nbworkflow.spec import load_workflow
from nbworkflow.state import RunState


def wf(nodes: str, extra: str = "") -> Any:
    return load_workflow(text=f"name: t\n{extra}nodes:\n{nodes}")


def node(nid: str, deps: list[str] | None = None, **fields: Any) -> str:
    out = f"  - id: {nid}\n    action: do {nid}\n"
    if deps:
        out += f"    depends_on: [{', '.join(deps)}]\n"
    for key, value in fields.items():
        out += f"    {key}: {value}\n"
    return out


class Recorder:
    """A handler double that records start/end order and can block on gates or fail."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.log: list[str] = []
        self.active = 0
        self.peak = 0
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, ctx: NodeContext) -> NodeOutput:
        nid = ctx.node.id
        self.log.append(f"start:{nid}")
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if nid in self.gates:
                await self.gates[nid].wait()
            else:
                await asyncio.sleep(0.01)
            if nid in self.fail:
                raise ProviderError(f"{nid} exploded")
            seen = sorted(ctx.upstream)
            return NodeOutput("text", f"{nid}<-{','.join(seen)}")
        finally:
            self.active -= 1
            self.log.append(f"end:{nid}")


def arun(spec: Any, handler: Any, *, runs_dir: Path | None = None, **kwargs: Any) -> Any:
    """The engine's coroutine with the test provider and ``handler`` for every routine node."""
    return arun_workflow(
        spec,
        provider=ScriptedProvider({}),
        handlers={"routine": handler},
        runs_dir=runs_dir,
        **kwargs,
    )


def run(spec: Any, handler: Recorder, tmp_path: Path, **kwargs: Any) -> Any:
    return run_workflow(
        spec,
        provider=ScriptedProvider({}),
        handlers={"routine": handler},
        runs_dir=tmp_path,
        **kwargs,
    )


def test_dependencies_run_first_and_outputs_flow(tmp_path: Path) -> None:
    spec = wf(node("a") + node("b", ["a"]) + node("c", ["a"]) + node("d", ["b", "c"]))
    handler = Recorder()
    result = run(spec, handler, tmp_path)
    assert result.ok
    log = handler.log
    assert log.index("end:a") < log.index("start:b")
    assert log.index("end:b") < log.index("start:d") and log.index("end:c") < log.index("start:d")
    assert result.output("d").content == "d<-b,c"


def test_ready_queue_not_lockstep_layers(tmp_path: Path) -> None:
    # slow -> after_slow and fast -> after_fast: after_fast must not wait for slow.
    spec = wf(
        node("slow") + node("fast") + node("after_slow", ["slow"]) + node("after_fast", ["fast"])
    )
    handler = Recorder()

    async def main() -> list[str]:
        handler.gates["slow"] = asyncio.Event()
        task = asyncio.create_task(arun(spec, handler, runs_dir=tmp_path))
        while "end:after_fast" not in handler.log:
            await asyncio.sleep(0.005)
        snapshot = list(handler.log)
        handler.gates["slow"].set()
        await task
        return snapshot

    snapshot = asyncio.run(main())
    assert "end:after_fast" in snapshot and "end:slow" not in snapshot


def test_max_concurrency_bounds_running_nodes(tmp_path: Path) -> None:
    spec = wf("".join(node(f"n{i}") for i in range(8)), extra="max_concurrency: 3\n")
    handler = Recorder()
    assert run(spec, handler, tmp_path).ok
    assert handler.peak == 3
    handler2 = Recorder()
    assert run(spec, handler2, tmp_path, max_concurrency=1, cache=False).ok
    assert handler2.peak == 1


def test_independent_nodes_overlap(tmp_path: Path) -> None:
    spec = wf("".join(node(f"n{i}") for i in range(5)), extra="max_concurrency: 10\n")
    handler = Recorder()
    run(spec, handler, tmp_path)
    assert handler.peak == 5  # all five were in flight at once


def test_failure_skips_downstream_but_not_unrelated(tmp_path: Path) -> None:
    spec = wf(node("a") + node("b", ["a"]) + node("c", ["b"]) + node("x") + node("y", ["x"]))
    result = run(spec, Recorder(fail={"a"}), tmp_path)
    st = {k: v.status for k, v in result.state.nodes.items()}
    assert st == {
        "a": NodeStatus.FAILED,
        "b": NodeStatus.SKIPPED,
        "c": NodeStatus.SKIPPED,
        "x": NodeStatus.SUCCEEDED,
        "y": NodeStatus.SUCCEEDED,
    }
    assert result.status is RunStatus.FAILED
    assert result.state.nodes["c"].message == "upstream node 'a' failed"
    assert "a exploded" in result.state.nodes["a"].message
    skipped = [e for e in read_events(result.run_dir) if isinstance(e, ev.NodeSkipped)]
    assert {e.node_id: e.blocked_by for e in skipped} == {"b": "a", "c": "a"}


def test_fail_fast_cancels_running_and_skips_the_rest(tmp_path: Path) -> None:
    spec = wf(node("bad") + node("long") + node("later", ["long"]), extra="fail_fast: true\n")
    handler = Recorder(fail={"bad"})

    async def main() -> Any:
        handler.gates["long"] = asyncio.Event()  # never set: only cancellation ends it
        return await arun(spec, handler, runs_dir=tmp_path)

    result = asyncio.run(main())
    st = {k: v.status for k, v in result.state.nodes.items()}
    assert st == {
        "bad": NodeStatus.FAILED,
        "long": NodeStatus.CANCELLED,
        "later": NodeStatus.SKIPPED,
    }
    assert "fail_fast" in result.state.message
    assert result.status is RunStatus.FAILED


def test_cancellation_records_running_nodes_promptly(tmp_path: Path) -> None:
    spec = wf(node("a") + node("b") + node("c", ["a"]))
    handler = Recorder()

    async def main() -> None:
        handler.gates["a"] = asyncio.Event()
        handler.gates["b"] = asyncio.Event()
        task = asyncio.create_task(arun(spec, handler, runs_dir=tmp_path))
        while handler.active < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    assert handler.active == 0  # the node coroutines saw CancelledError and unwound
    run_dir = next(tmp_path.iterdir())
    events = read_events(run_dir)
    cancelled = {e.node_id for e in events if isinstance(e, ev.NodeCancelled)}
    assert cancelled == {"a", "b", "c"}
    finished = events[-1]
    assert isinstance(finished, ev.RunFinished) and finished.status is RunStatus.CANCELLED


def test_node_timeout_fails_with_the_fix(tmp_path: Path) -> None:
    spec = wf(node("slow", timeout=0.05))
    handler = Recorder()
    handler.gates["slow"] = asyncio.Event()  # created outside a loop: fine for Event in 3.10+
    result = run(spec, handler, tmp_path)
    msg = result.state.nodes["slow"].message
    assert "timed out after 0.05s" in msg and "raise the node's 'timeout'" in msg


def test_routine_node_with_scripted_provider_saves_artifacts(tmp_path: Path) -> None:
    spec = wf(node("doc") + node("code", ["doc"], output="code"))
    provider = ScriptedProvider(
        {
            "doc": {"rationale": "r", "content": "# Title"},
            "code": "```json\n"
            + '{"rationale": "x", "code": "def f():\\n    return 1\\n"}'
            + "\n```",
        },
        raw_strings=True,  # the model's raw text: fenced JSON
    )
    result = run_workflow(spec, provider=provider, runs_dir=tmp_path)
    assert result.ok
    assert (result.run_dir / "artifacts" / "doc.md").read_text() == "# Title"
    assert (result.run_dir / "artifacts" / "code.py").read_text().startswith("def f():")
    # The upstream output reached the downstream prompt.
    code_request = next(r for r in provider.requests if r.node_id == "code")
    assert "# Title" in code_request.messages[0].content
    assert result.state.input_tokens > 0 and result.state.output_tokens > 0


def test_invalid_answer_is_repaired_then_retried(tmp_path: Path) -> None:
    spec = wf(node("a", max_retries=1))
    provider = ScriptedProvider(
        {"a": ["not json", '{"oops": 1}', '{"content": "fixed"}']}, raw_strings=True
    )
    result = run_workflow(spec, provider=provider, runs_dir=tmp_path)
    assert result.ok and result.output("a").content == "fixed"
    decisions = [e for e in read_events(result.run_dir) if isinstance(e, ev.Decision)]
    assert [d.verdict for d in decisions] == ["repair", "repair", "success"]
    # The validation problem was fed back to the model.
    assert "not valid JSON" in provider.requests[1].messages[-1].content


def test_repairs_exhausted_fails_node(tmp_path: Path) -> None:
    spec = wf(node("a", max_retries=0))
    result = run_workflow(
        spec, provider=ScriptedProvider({"a": "never json"}, raw_strings=True), runs_dir=tmp_path
    )
    assert result.state.nodes["a"].status is NodeStatus.FAILED
    assert (
        "did not match the expected text structure after 3 attempt(s)"
        in result.state.nodes["a"].message
    )


def test_token_budget_stops_the_run(tmp_path: Path) -> None:
    spec = wf(node("a") + node("b", ["a"]), extra="token_budget: 5\n")
    provider = ScriptedProvider({"a": {"content": "x" * 400}, "b": {"content": "y"}})
    result = run_workflow(spec, provider=provider, runs_dir=tmp_path)
    assert result.state.nodes["a"].status is NodeStatus.FAILED
    assert "token budget is spent" in result.state.nodes["a"].message
    assert result.state.nodes["b"].status is NodeStatus.SKIPPED


def test_events_never_carry_registered_secrets(tmp_path: Path) -> None:
    secret = "sk-very-secret-value-123456"
    spec = wf(node("a"))

    class Leaky(Recorder):
        async def __call__(self, ctx: NodeContext) -> NodeOutput:
            ctx.decide(1, "adapt", f"server said token={secret}", body=f"x {secret} y")
            raise ProviderError(f"auth failed for {secret}")

    seen: list[ev.RunEvent] = []
    result = run_workflow(
        spec,
        provider=ScriptedProvider({}),
        handlers={"routine": Leaky()},
        runs_dir=tmp_path,
        known_secrets=[secret],
        subscribers=[seen.append],
    )
    assert seen, "subscriber got events"
    assert secret not in "".join(event_to_json(e) for e in seen)
    assert secret not in (result.run_dir / "events.jsonl").read_text()
    assert secret not in (result.run_dir / "run.json").read_text()


def test_a_secret_interpolated_into_the_spec_reaches_neither_model_nor_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "plumharbor-4417-otterviolet"
    monkeypatch.setenv("ACME_SERVICE_TOKEN", secret)
    monkeypatch.setenv("PLAIN_SETTING", "the blue one")
    spec = wf(
        "  - id: a\n    agent: Bot for ${ACME_SERVICE_TOKEN}\n"
        "    action: call it with ${ACME_SERVICE_TOKEN}\n"
        "  - id: b\n    depends_on: [a]\n    action: use ${PLAIN_SETTING}\n"
    )
    provider = ScriptedProvider({"a": {"content": "done"}, "b": {"content": "done"}})
    seen: list[ev.RunEvent] = []
    result = run_workflow(
        spec, provider=provider, runs_dir=tmp_path, cache=False, subscribers=[seen.append]
    )
    assert result.ok and spec.node("a").action == f"call it with {secret}"  # the spec keeps it
    sent = [r.system for r in provider.requests] + [
        m.content for r in provider.requests for m in r.messages
    ]
    assert not any(secret in text for text in sent)
    assert any("call it with [REDACTED:" in text for text in sent)
    assert any("use the blue one" in text for text in sent)  # other values are left alone
    started = seen[0]
    assert isinstance(started, ev.RunStarted)
    assert "[REDACTED:" in started.nodes[0].agent and "[REDACTED:" in started.nodes[0].action
    assert secret not in "".join(event_to_json(e) for e in seen)
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(), path


def test_a_crashing_handler_warns_without_the_secret(tmp_path: Path) -> None:
    secret = "sk-very-secret-value-987654"

    async def crash(ctx: NodeContext) -> NodeOutput:
        raise RuntimeError(f"unexpected reply from {secret}")

    with pytest.warns(RuntimeWarning, match="crashed") as caught:
        result = run_workflow(
            wf(node("a")),
            provider=ScriptedProvider({}),
            handlers={"routine": crash},
            runs_dir=tmp_path,
            known_secrets=[secret],
        )
    assert result.status is RunStatus.FAILED
    text = " ".join(str(w.message) for w in caught)
    assert secret not in text and "[REDACTED:" in text


def test_broken_subscriber_does_not_break_the_run(tmp_path: Path) -> None:
    def broken(event: ev.RunEvent) -> None:
        raise RuntimeError("view bug")

    with pytest.warns(RuntimeWarning, match="view bug"):
        result = run(wf(node("a")), Recorder(), tmp_path, subscribers=[broken])
    assert result.ok


def test_run_workflow_works_inside_a_running_loop(tmp_path: Path) -> None:
    async def main() -> Any:
        return run_workflow(
            wf(node("a")), provider=ScriptedProvider({"a": {"content": "ok"}}), runs_dir=tmp_path
        )

    assert asyncio.run(main()).ok


class Instant:
    """A handler that never suspends: the engine's own cost is all there is."""

    def __init__(self) -> None:
        self.order: list[str] = []

    async def __call__(self, ctx: NodeContext) -> NodeOutput:
        self.order.append(ctx.node.id)
        return NodeOutput("text", ctx.node.id)


def test_max_concurrency_holds_while_tasks_run_nodes_in_a_row(tmp_path: Path) -> None:
    # A task that finishes a node goes on with the next ready one; the bound must still hold
    # with many more nodes than slots, some instant and some that suspend.
    nodes = "".join(node(f"n{i}") for i in range(120))
    handler = Recorder()
    result = run(wf(nodes, extra="max_concurrency: 3\n"), handler, tmp_path, cache=False)
    assert result.ok and len(result.outputs) == 120
    assert handler.peak == 3


def test_a_long_chain_of_instant_nodes_does_not_starve_the_event_loop() -> None:
    from nbworkflow.engine import HOPS

    n = 20 * HOPS
    spec = wf("".join(node(f"n{i}", [f"n{i - 1}"] if i else None) for i in range(n)))
    handler = Instant()
    ticks = 0

    async def main() -> Any:
        nonlocal ticks
        task = asyncio.create_task(arun(spec, handler, cache=False))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0)
        return task.result()

    result = asyncio.run(main())
    assert result.ok
    assert handler.order == [f"n{i}" for i in range(n)]
    assert ticks >= n // HOPS  # the loop got a turn at least every HOPS nodes


def test_a_node_that_swallows_cancellation_does_not_start_its_downstream(
    tmp_path: Path,
) -> None:
    started: list[str] = []
    gate = asyncio.Event()

    async def stubborn(ctx: NodeContext) -> NodeOutput:
        started.append(ctx.node.id)
        if ctx.node.id == "a":
            # A badly behaved handler: swallows the cancellation and returns as if nothing happened.
            with contextlib.suppress(asyncio.CancelledError):
                await gate.wait()
        return NodeOutput("text", "")

    spec = wf(node("a") + node("b", ["a"]))

    async def main() -> None:
        task = asyncio.create_task(arun(spec, stubborn, runs_dir=tmp_path, cache=False))
        while not started:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    assert started == ["a"]
    events = read_events(next(tmp_path.iterdir()))
    b = [e for e in events if getattr(e, "node_id", None) == "b"]
    assert [type(e) for e in b] == [ev.NodeCancelled]
    assert events[-1].status is RunStatus.CANCELLED  # type: ignore[union-attr]


def test_a_node_type_without_handler_is_refused_before_the_run_starts(tmp_path: Path) -> None:
    from nbworkflow.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match=r"no handler for node type.*routine"):
        run_workflow(
            wf(node("a")),
            provider=ScriptedProvider({}),
            handlers={"adaptive": Instant()},
            runs_dir=tmp_path,
        )
    assert not any(tmp_path.rglob("events.jsonl"))


def test_fail_fast_while_new_tasks_have_not_begun_yet() -> None:
    """Regression (found by the property test below): 'a' finishing starts a task for b2 that
    has not run a step when 'f' fails; cancelling that task made it vanish without reporting,
    and the run waited for it forever."""

    async def handler(ctx: NodeContext) -> NodeOutput:
        if ctx.node.id == "f":
            raise ProviderError("f failed")
        return NodeOutput("text", "")

    spec = wf(node("a") + node("f") + node("b1", ["a"]) + node("b2", ["a"]), "fail_fast: true\n")
    run = arun(spec, handler, cache=False)
    result = asyncio.run(asyncio.wait_for(run, 10))
    statuses = {k: v.status for k, v in result.state.nodes.items()}
    assert statuses["f"] is NodeStatus.FAILED and statuses["b2"] is NodeStatus.SKIPPED
    assert result.status is RunStatus.FAILED and "fail_fast" in result.state.message


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, list[str]], set[str], set[str], set[str], int]:
    """A random DAG (node i may depend on any earlier node), the nodes that fail, the nodes
    that wait for a person, the nodes that suspend (await) instead of finishing at once, and
    a max_concurrency."""
    n = draw(st.integers(1, 40))
    deps: dict[str, list[str]] = {}
    for i in range(n):
        earlier = [f"n{j}" for j in range(i)]
        deps[f"n{i}"] = (
            draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        )
    names = st.sampled_from(list(deps))
    failing = draw(st.sets(names, max_size=3))
    waiting = draw(st.sets(names, max_size=2)) - failing
    suspending = draw(st.sets(names, max_size=n))
    return deps, failing, waiting, suspending, draw(st.integers(1, 6))


Case = tuple[dict[str, list[str]], set[str], set[str], set[str], int]


@settings(max_examples=60, deadline=None)
@given(dags(), st.booleans())
def test_scheduler_invariants_hold_on_random_graphs(case: Case, fail_fast: bool) -> None:
    from nbworkflow.approval import ApprovalRequest, WaitingForHuman

    deps, failing, waiting, suspending, limit = case
    log: list[tuple[str, str]] = []
    active = peak = 0

    async def handler(ctx: NodeContext) -> NodeOutput:
        nonlocal active, peak
        nid = ctx.node.id
        log.append(("start", nid))
        active += 1
        peak = max(peak, active)
        try:
            assert set(ctx.upstream) == set(deps[nid])  # every input is there
            if nid in suspending:
                await asyncio.sleep(0)
            if nid in failing:
                raise ProviderError(f"{nid} failed")
            if nid in waiting:
                ask = ApprovalRequest(ctx.run_id, nid, 1, "approval", "approve this?")
                raise WaitingForHuman(ask)
            return NodeOutput("text", nid)
        finally:
            active -= 1
            log.append(("end", nid))

    text = "".join(node(k, v or None) for k, v in deps.items())
    run = arun(
        wf(text, extra=f"max_concurrency: {limit}\nfail_fast: {str(fail_fast).lower()}\n"),
        handler,
        cache=False,
    )
    result = asyncio.run(asyncio.wait_for(run, 10))  # a scheduler bug shows as a hang
    states = result.state.nodes
    status = {nid: s.status for nid, s in states.items()}
    assert peak <= limit
    started = [nid for what, nid in log if what == "start"]
    assert len(set(started)) == len(started)  # at most once each
    assert sorted(started) == sorted(nid for what, nid in log if what == "end")
    for nid in started:  # a node starts only after every dependency succeeded
        for dep in deps[nid]:
            assert log.index(("end", dep)) < log.index(("start", nid))
            assert status[dep] is NodeStatus.SUCCEEDED
    for nid, st_ in status.items():
        assert st_ is not NodeStatus.PENDING and st_ is not NodeStatus.RUNNING
        if st_ is NodeStatus.SUCCEEDED:
            assert nid not in failing | waiting and result.output(nid).content == nid
        elif st_ is NodeStatus.FAILED:
            assert nid in failing
        elif st_ is NodeStatus.WAITING:
            assert nid in waiting
    failed = failing & set(started)
    if failed:
        assert result.status is RunStatus.FAILED
    elif waiting & set(started):
        assert result.status is RunStatus.WAITING
        assert set(result.waiting) == {n for n, s in status.items() if s is NodeStatus.WAITING}
    else:
        assert result.ok and set(status.values()) == {NodeStatus.SUCCEEDED}
    if not fail_fast or not failed:  # only what depends on an unfinished node is skipped
        for nid, st_ in status.items():
            ok_deps = all(status[d] is NodeStatus.SUCCEEDED for d in deps[nid])
            assert (st_ is NodeStatus.SKIPPED) == (not ok_deps)


@settings(max_examples=60, deadline=None)
@given(dags(), st.integers(0, 30), st.booleans())
def test_cancelling_at_any_moment_settles_every_node(
    case: Case, ticks: int, fail_fast: bool
) -> None:
    deps, failing, _, suspending, limit = case
    active = 0

    async def handler(ctx: NodeContext) -> NodeOutput:
        nonlocal active
        active += 1
        try:
            if ctx.node.id in suspending:
                for _ in range(3):
                    await asyncio.sleep(0)
            if ctx.node.id in failing:
                raise ProviderError("failed")
            return NodeOutput("text", "")
        finally:
            active -= 1

    seen: list[ev.RunEvent] = []
    text = "".join(node(k, v or None) for k, v in deps.items())

    async def main() -> bool:
        task = asyncio.create_task(
            arun(
                wf(text, extra=f"max_concurrency: {limit}\nfail_fast: {str(fail_fast).lower()}\n"),
                handler,
                cache=False,
                subscribers=[seen.append],
            )
        )
        for _ in range(ticks):
            await asyncio.sleep(0)
        cancelled = task.cancel()
        try:
            await asyncio.wait_for(task, 10)  # a hang fails the test instead of blocking it
        except asyncio.CancelledError:
            return True
        return not cancelled  # it had already ended when we asked

    asyncio.run(main())
    assert active == 0  # every handler that began has unwound
    if not seen:
        return  # cancelled before the run began: nothing ran, nothing to record
    state = RunState.from_events(seen)
    assert isinstance(seen[-1], ev.RunFinished)
    terminal = {NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED}
    assert {s.status for s in state.nodes.values()} <= terminal
    if seen[-1].status is RunStatus.CANCELLED:
        assert seen[-1].message == "run cancelled"


@settings(max_examples=30, deadline=None)
@given(dags())
def test_resuming_a_failed_run_finishes_it_without_running_anything_twice(case: Case) -> None:
    import tempfile

    from nbworkflow.resume import resume_workflow

    deps, failing, _, suspending, limit = case
    calls: list[str] = []
    broken = set(failing)

    async def handler(ctx: NodeContext) -> NodeOutput:
        nid = ctx.node.id
        calls.append(nid)
        if nid in suspending:
            await asyncio.sleep(0)
        if nid in broken:
            raise ProviderError(f"{nid} failed")
        # The output depends on the inputs, as a model's would.
        return NodeOutput(
            "text", nid + "(" + ",".join(ctx.upstream[d].content for d in deps[nid]) + ")"
        )

    text = "".join(node(k, v or None) for k, v in deps.items())
    spec = wf(text, extra=f"max_concurrency: {limit}\n")
    with tempfile.TemporaryDirectory() as runs:
        kwargs: dict[str, Any] = {
            "provider": ScriptedProvider({}),
            "handlers": {"routine": handler},
            "runs_dir": runs,
            "cache": False,
        }
        first = run_workflow(spec, **kwargs)
        done_first = {n for n, s in first.state.nodes.items() if s.status is NodeStatus.SUCCEEDED}
        if first.ok:
            return  # nothing failed: nothing to resume
        broken.clear()  # the cause is fixed
        calls.clear()
        second = resume_workflow(first.run_id, **kwargs)
        assert second.ok
        assert not set(calls) & done_first  # what succeeded before is restored, not re-run
        assert sorted(calls) == sorted(set(deps) - done_first)
        broken.clear()
        calls.clear()
        fresh = run_workflow(spec, **kwargs)
        for nid in deps:  # same outputs as a run that never failed
            assert second.output(nid).content == fresh.output(nid).content

"""The human in the loop: approve before staging, choices after max_retries, waiting runs.

The Python API flows run the real adaptive loop against the CRM's contract mock over loopback HTTP
(the sandbox is ``test_adaptive``'s subprocess double: generated code never runs in this
process). The CLI flows run ``nbworkflow`` in a child process, on a real pseudo-terminal when a
person must answer, with the ``process`` sandbox backend.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbworkflow import events as ev
from nbworkflow.agents.base import ModelRequest
from nbworkflow.agents.scripted import ScriptedProvider
from nbworkflow.approval import (
    ApprovalRequest,
    AutoApprover,
    DecisionsApprover,
    HumanDecision,
    PendingApprover,
)
from nbworkflow.cli import main as cli
from nbworkflow.config import RunOptions
from nbworkflow.engine import RunResult, arun_workflow
from nbworkflow.events import NodeStatus, RunEvent, RunStatus
from nbworkflow.exceptions import SpecError, WorkflowError
from nbworkflow.nodes.adaptive import decision_log
from nbworkflow.resume import aresume_workflow
from nbworkflow.runlog import read_events
from nbworkflow.spec import load_workflow
from nbworkflow.staging import OpenAPIMock, bundled_document
from nbworkflow.state import RunState
from tests.test_adaptive import BROKEN, GOOD, SAMPLES, FakeSandbox

TOKEN = "t0k-approval-test-9f8e7d"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def spec_text(url: str, *, approve: bool = True, max_retries: int = 2) -> str:
    """generate_mapper -> heal (adaptive) -> report; ``other`` is an unrelated branch."""
    return textwrap.dedent(
        f"""\
        name: approval_test
        nodes:
          - id: generate_mapper
            output: code
            action: Write sync_to_crm.
          - id: other
            action: Unrelated work.
          - id: heal
            type: adaptive
            action: Execute sync_to_crm against staging. If it fails, adapt the code.
            max_retries: {max_retries}
            approve: {"true" if approve else "false"}
            code_from: generate_mapper
            entrypoint: sync_to_crm
            samples: {json.dumps(SAMPLES)}
            staging:
              url: {url}/users
              timeout: 2
              infra_retries: 1
              headers:
                Authorization: "Bearer ${{STAGING_TOKEN}}"
          - id: report
            depends_on: [heal]
            action: Summarise.
        """
    )


@pytest.fixture
def crm() -> Iterator[OpenAPIMock]:
    with OpenAPIMock(bundled_document("crm"), token=TOKEN, seed=3) as server:
        yield server


class ScriptedApprover:
    """Answers from a list (``None`` = nobody answers: the node waits); records requests."""

    def __init__(self, *answers: HumanDecision | None) -> None:
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> HumanDecision | None:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else None


@dataclass
class Flow:
    result: RunResult
    events: list[RunEvent]
    provider: ScriptedProvider

    def verdicts(self, node: str = "heal") -> list[str]:
        return [e.verdict for e in self.events if isinstance(e, ev.Decision) and e.node_id == node]

    def human(self) -> list[ev.Decision]:
        return [
            e for e in self.events if isinstance(e, ev.Decision) and e.verdict.startswith("human-")
        ]

    def model_calls(self, node: str = "heal") -> list[ev.ModelCalled]:
        return [e for e in self.events if isinstance(e, ev.ModelCalled) and e.node_id == node]

    def adapt_prompts(self) -> list[str]:
        return [r.messages[-1].content for r in self.provider.requests if r.purpose == "adapt"]


def provider(code: str = BROKEN, rewrites: list[str] | None = None) -> ScriptedProvider:
    answers = iter(rewrites or [])

    def heal(request: ModelRequest) -> dict[str, str]:
        return {"rationale": "rewritten", "code": next(answers, BROKEN)}

    return ScriptedProvider(
        {
            "generate_mapper": {"rationale": "first draft", "code": code},
            "other": {"content": "other done"},
            "report": {"content": "report done"},
        },
        responders={"heal": heal, "heal2": heal},
    )


def options(approver: Any = None) -> RunOptions:
    return RunOptions(approver=approver, sandbox_port=FakeSandbox().port())


def run(
    crm: OpenAPIMock,
    tmp_path: Path,
    *,
    code: str = BROKEN,
    rewrites: list[str] | None = None,
    approver: Any = None,
    approve: bool = True,
    max_retries: int = 2,
) -> Flow:
    spec = load_workflow(
        text=spec_text(crm.url, approve=approve, max_retries=max_retries),
        variables={"STAGING_TOKEN": TOKEN},
        use_env=False,
    )
    prov = provider(code, rewrites)
    events: list[RunEvent] = []
    result = asyncio.run(
        arun_workflow(
            spec,
            provider=prov,
            runs_dir=tmp_path / "runs",
            subscribers=[events.append],
            options=options(approver),
        )
    )
    return Flow(result, events, prov)


def resume(
    run_id: str,
    tmp_path: Path,
    decisions: dict[str, HumanDecision],
    *,
    rewrites: list[str] | None = None,
    approver: Any = None,
) -> Flow:
    prov = provider(rewrites=rewrites)
    events: list[RunEvent] = []
    result = asyncio.run(
        aresume_workflow(
            run_id,
            runs_dir=tmp_path / "runs",
            variables={"STAGING_TOKEN": TOKEN},
            provider=prov,
            subscribers=[events.append],
            options=options(approver),
            decisions=decisions,
        )
    )
    return Flow(result, events, prov)


# ---------------------------------------------------------------------------------------------
# Spec
# ---------------------------------------------------------------------------------------------


def test_spec_accepts_approve_and_approval_nodes() -> None:
    spec = load_workflow(
        text=spec_text("http://x")
        + "  - id: sign_off\n    type: approval\n    depends_on: [heal]\n",
        use_env=False,
        variables={"STAGING_TOKEN": "t"},
    )
    assert spec.node("heal").approve is True
    sign_off = spec.node("sign_off")
    assert sign_off.type == "approval" and sign_off.action == "" and not sign_off.cacheable


def test_spec_errors_are_located() -> None:
    text = textwrap.dedent(
        """\
        name: bad
        nodes:
          - id: a
            action: write
            approve: true
          - id: b
            type: approval
          - id: c
            type: adaptive
            action: check
            approve: true
            entrypoint: f
            tests_from: a
          - id: d
            type: aproval
            action: x
        """
    )
    with pytest.raises(SpecError) as info:
        load_workflow(text=text, filename="bad.yaml")
    messages = [(i.line, i.message) for i in info.value.errors]
    assert (
        5,
        "'approve' only applies to adaptive nodes: set 'type: adaptive' or remove it "
        "(or add a node of type: approval)",
    ) in messages
    assert any(
        line == 6 and "approval nodes approve exactly one upstream output" in m
        for line, m in messages
    )
    assert any(line == 11 and "has no 'staging'" in m for line, m in messages)
    assert any(line == 15 and "did you mean 'approval'?" in m for line, m in messages)


def test_approve_in_defaults_applies_only_where_it_fits() -> None:
    text = "name: d\ndefaults:\n  approve: true\nnodes:\n  - id: a\n    action: write\n"
    spec = load_workflow(text=text)
    assert spec.node("a").approve is True  # harmless on a routine node: nothing to approve


# ---------------------------------------------------------------------------------------------
# Approve before staging (Python API, the CRM's contract mock)
# ---------------------------------------------------------------------------------------------


def test_headless_run_waits_cleanly_before_touching_staging(
    crm: OpenAPIMock, tmp_path: Path
) -> None:
    flow = run(crm, tmp_path, code=GOOD)
    result = flow.result
    assert result.status is RunStatus.WAITING and not result.ok
    assert crm.counts["staged_requests"] == 0  # nothing reached staging
    nodes = result.state.nodes
    assert nodes["heal"].status is NodeStatus.WAITING
    assert nodes["other"].status is NodeStatus.SUCCEEDED  # unrelated branch completed
    assert nodes["report"].status is NodeStatus.SKIPPED
    assert nodes["report"].message == "waiting for a human at 'heal'"
    assert not any(isinstance(e, ev.NodeFailed) for e in flow.events)
    request = result.waiting["heal"]
    assert request.kind == "approve" and request.choices == ("approve", "reject", "edit")
    assert request.code == GOOD and request.diff == "" and request.attempt == 1
    assert request.target == f"POST {crm.url}/users"
    assert json.loads(request.payloads)[0]["customer_tier"] == "pro"
    # The run folder says the same, and redraws the same state.
    summary = json.loads((result.run_dir / "run.json").read_text())
    assert summary["status"] == "waiting" and summary["nodes"]["heal"]["status"] == "waiting"
    redrawn = RunState.from_events(read_events(result.run_dir))
    assert redrawn.status is RunStatus.WAITING and set(redrawn.waiting()) == {"heal"}
    assert redrawn.message == "waiting for approval at: heal"


def test_resume_with_approve_runs_nothing_twice(crm: OpenAPIMock, tmp_path: Path) -> None:
    first = run(crm, tmp_path, code=GOOD)
    decision = HumanDecision("approve", "looks right", who="ada")
    second = resume(first.result.run_id, tmp_path, {"heal": decision})
    assert second.result.ok, second.events[-3:]
    # Only 'report' (which never ran) asks the model; nothing that ran before runs again.
    assert [r.node_id for r in second.provider.requests] == ["report"]
    assert [e.node_id for e in second.events if isinstance(e, ev.ModelCalled)] == ["report"]
    assert crm.counts["201"] == len(SAMPLES)
    assert second.verdicts() == ["resumed", "human-approve", "success"]
    assert second.verdicts("generate_mapper") == ["restored"]
    assert second.verdicts("other") == ["restored"]
    assert second.result.output("heal").content == GOOD
    assert second.result.output("report").content == "report done"
    # who/when in events.jsonl
    lines = [
        json.loads(x) for x in (second.result.run_dir / "events.jsonl").read_text().splitlines()
    ]
    [human] = [x for x in lines if x.get("verdict") == "human-approve"]
    assert human["data"]["who"] == "ada" and human["data"]["comment"] == "looks right"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", human["data"]["when"])
    assert human["data"]["code_sha256"] == first.result.waiting["heal"].code_sha256


def test_reject_sends_the_comment_to_the_model_and_asks_again(
    crm: OpenAPIMock, tmp_path: Path
) -> None:
    first = run(crm, tmp_path, code=BROKEN)
    reject = HumanDecision("reject", "customer_tier is missing: map it from plan", who="bob")
    second = resume(first.result.run_id, tmp_path, {"heal": reject}, rewrites=[GOOD])
    # The rewrite is asked for once, with the comment, and the new code waits for approval.
    assert second.result.status is RunStatus.WAITING
    [prompt] = second.adapt_prompts()
    assert "customer_tier is missing: map it from plan" in prompt
    assert "rejected this code before it ran against staging" in prompt
    assert crm.counts["staged_requests"] == 0
    request = second.result.waiting["heal"]
    assert request.attempt == 2 and request.code == GOOD
    assert '+        "customer_tier": internal_user["plan"],' in request.diff
    assert second.verdicts() == ["resumed", "human-reject", "rejected"]
    [rejected] = decision_log(second.events, "heal")
    assert rejected["gate"] == "rejected" and rejected["human"]["who"] == "bob"
    # Approve the rewrite: the model is not asked again, staging accepts it.
    third = resume(second.result.run_id, tmp_path, {"heal": HumanDecision("approve", who="bob")})
    assert third.result.ok and [r.node_id for r in third.provider.requests] == ["report"]
    assert crm.counts["201"] == len(SAMPLES)
    assert third.result.output("heal").content == GOOD


def test_live_approver_rejects_then_approves_in_one_run(crm: OpenAPIMock, tmp_path: Path) -> None:
    approver = ScriptedApprover(
        HumanDecision("reject", "add customer_tier", who="carol"),
        HumanDecision("approve", who="carol"),
    )
    flow = run(crm, tmp_path, code=BROKEN, rewrites=[GOOD], approver=approver)
    assert flow.result.ok
    assert [r.attempt for r in approver.requests] == [1, 2]
    assert len(flow.adapt_prompts()) == 1 and crm.counts["201"] == len(SAMPLES)
    assert [d.verdict for d in flow.human()] == ["human-reject", "human-approve"]
    assert all(d.data["who"] == "carol" and d.data["when"] for d in flow.human())


def test_edit_before_staging_is_checked_and_not_asked_again(
    crm: OpenAPIMock, tmp_path: Path
) -> None:
    approver = ScriptedApprover(HumanDecision("edit", "added the tier", who="dan", code=GOOD))
    flow = run(crm, tmp_path, code=BROKEN, approver=approver)
    assert flow.result.ok and flow.result.output("heal").content == GOOD
    assert len(approver.requests) == 1  # the person's own code is not re-approved
    assert flow.provider.requests and flow.adapt_prompts() == []
    log = decision_log(flow.events, "heal")
    assert [e["gate"] for e in log] == ["rejected", "success"]
    assert log[1]["rationale"] == "edited by hand by dan: added the tier"
    assert crm.counts["201"] == len(SAMPLES)
    artifacts = sorted(p.name for p in (flow.result.run_dir / "artifacts").glob("heal.attempt*"))
    assert artifacts == ["heal.attempt1.py", "heal.attempt2.py"]


def test_auto_approver_approves_without_asking(crm: OpenAPIMock, tmp_path: Path) -> None:
    flow = run(crm, tmp_path, code=GOOD, approver=AutoApprover())
    assert flow.result.ok
    [d] = flow.human()
    assert d.verdict == "human-approve" and d.data["who"] == "auto-approve"


def test_code_that_fails_in_the_sandbox_is_never_shown(crm: OpenAPIMock, tmp_path: Path) -> None:
    crashing = "def sync_to_crm(user):\n    return {'email': user['mail']}\n"
    approver = ScriptedApprover(HumanDecision("approve", who="eve"))
    flow = run(crm, tmp_path, code=crashing, rewrites=[GOOD], approver=approver)
    assert flow.result.ok
    assert [r.attempt for r in approver.requests] == [2]  # attempt 1 crashed: adapted silently


def test_pinned_decision_for_other_code_is_not_used(crm: OpenAPIMock, tmp_path: Path) -> None:
    first = run(crm, tmp_path, code=GOOD)
    stale = HumanDecision("approve", who="ada", code_sha256="0" * 64)
    second = resume(first.result.run_id, tmp_path, {"heal": stale})
    assert second.result.status is RunStatus.WAITING
    assert crm.counts["staged_requests"] == 0


def test_decisions_must_answer_a_waiting_node(crm: OpenAPIMock, tmp_path: Path) -> None:
    first = run(crm, tmp_path, code=GOOD)
    with pytest.raises(WorkflowError, match="node 'other' is not waiting"):
        resume(first.result.run_id, tmp_path, {"other": HumanDecision("approve")})
    with pytest.raises(WorkflowError, match="choose one of: approve, reject, edit"):
        resume(first.result.run_id, tmp_path, {"heal": HumanDecision("accept")})
    with pytest.raises(WorkflowError, match="needs the new code"):
        HumanDecision("edit")


def test_two_waiting_branches_are_answered_together(crm: OpenAPIMock, tmp_path: Path) -> None:
    text = spec_text(crm.url)
    heal = text[text.index("  - id: heal") : text.index("  - id: report")]
    text = text.replace("  - id: report", heal.replace("id: heal", "id: heal2") + "  - id: report")
    spec = load_workflow(text=text, variables={"STAGING_TOKEN": TOKEN}, use_env=False)
    first = asyncio.run(
        arun_workflow(spec, provider=provider(GOOD), runs_dir=tmp_path / "runs", options=options())
    )
    assert first.status is RunStatus.WAITING and set(first.waiting) == {"heal", "heal2"}
    decisions = {
        "heal": HumanDecision("approve", who="pat"),
        "heal2": HumanDecision("reject", "not this one", who="pat"),
    }
    second = resume(first.run_id, tmp_path, decisions, rewrites=[GOOD])
    assert second.result.state.nodes["heal"].status is NodeStatus.SUCCEEDED
    assert second.result.state.nodes["heal2"].status is NodeStatus.WAITING  # its rewrite
    assert second.result.state.nodes["report"].status is NodeStatus.SUCCEEDED
    assert second.result.status is RunStatus.WAITING


def test_notebook_path_headless_cell_then_click_resumes_in_a_thread(
    crm: OpenAPIMock, tmp_path: Path
) -> None:
    """What the widget does: the cell's run ends waiting and returns; a click resumes it on a
    worker thread while the caller's own event loop keeps running."""
    import threading

    from nbworkflow.engine import run_workflow
    from nbworkflow.resume import resume_workflow

    variables = {"STAGING_TOKEN": TOKEN}
    spec = load_workflow(text=spec_text(crm.url), variables=variables, use_env=False)
    cell = run_workflow(
        spec,
        provider=provider(GOOD),
        runs_dir=tmp_path / "runs",
        options=options(PendingApprover()),
    )
    assert cell.status is RunStatus.WAITING
    request = cell.waiting["heal"]  # what the widget shows next to Approve / Reject
    assert request.code == GOOD and request.choices == ("approve", "reject", "edit")
    results: list[RunResult] = []

    def on_click() -> None:
        decision = HumanDecision("approve", who="quinn", code_sha256=request.code_sha256)
        results.append(
            resume_workflow(
                cell.run_id,
                runs_dir=tmp_path / "runs",
                variables=variables,
                provider=provider(),
                options=options(),
                decisions={"heal": decision},
            )
        )

    async def kernel() -> None:  # a running loop on the caller's thread, like ipykernel's
        worker = threading.Thread(target=on_click)
        worker.start()
        while worker.is_alive():
            await asyncio.sleep(0.01)

    asyncio.run(kernel())
    [resumed] = results
    assert resumed.ok and resumed.output("heal").content == GOOD
    assert crm.counts["201"] == len(SAMPLES)


def test_decisions_approver_answers_once_then_falls_back() -> None:
    request = ApprovalRequest("r", "n", 1, "approve", "why", code_sha256="abc")
    approver = DecisionsApprover({"n": HumanDecision("approve", who="x")})
    first = asyncio.run(approver.decide(request))
    assert first is not None and first.who == "x"
    assert asyncio.run(approver.decide(request)) is None
    assert asyncio.run(PendingApprover().decide(request)) is None


# ---------------------------------------------------------------------------------------------
# max_retries exhausted: choices
# ---------------------------------------------------------------------------------------------


def test_without_an_approver_exhaustion_fails_as_before(crm: OpenAPIMock, tmp_path: Path) -> None:
    flow = run(crm, tmp_path, code=BROKEN, approve=False, max_retries=1)
    assert flow.result.status is RunStatus.FAILED
    assert flow.result.state.nodes["heal"].status is NodeStatus.FAILED
    assert "surfaced to a human after 2 attempts" in flow.result.state.nodes["heal"].message


def test_exhausted_headless_waits_with_the_decision_log(crm: OpenAPIMock, tmp_path: Path) -> None:
    flow = run(crm, tmp_path, code=BROKEN, approve=False, max_retries=1, approver=PendingApprover())
    assert flow.result.status is RunStatus.WAITING
    request = flow.result.waiting["heal"]
    assert request.kind == "exhausted"
    assert request.choices == ("retry", "edit", "accept", "reject")
    assert [e["gate"] for e in request.log] == ["adapt", "adapt"]
    assert flow.verdicts()[-1] == "surfaced"
    assert flow.result.state.message == "waiting for a human decision at: heal"


def test_exhausted_retry_asks_the_model_once_more(crm: OpenAPIMock, tmp_path: Path) -> None:
    first = run(
        crm, tmp_path, code=BROKEN, approve=False, max_retries=1, approver=PendingApprover()
    )
    staged = crm.counts["staged_requests"]
    retry = HumanDecision("retry", "the CRM wants customer_tier", who="fay", extra_attempts=1)
    second = resume(first.result.run_id, tmp_path, {"heal": retry}, rewrites=[GOOD])
    assert second.result.ok
    [prompt] = second.adapt_prompts()  # exactly one rewrite, from the recorded failure
    assert "Attempt 2 failed: HTTP 422" in prompt and "customer_tier" in prompt
    assert "fay: the CRM wants customer_tier" in prompt
    assert len(second.model_calls()) == 1
    # The failed attempt was not sent again: only the new code reached staging.
    assert crm.counts["staged_requests"] - staged == len(SAMPLES)
    assert [e["gate"] for e in decision_log(second.events, "heal")] == ["success"]
    retrying = [e for e in second.events if isinstance(e, ev.NodeRetrying)]
    assert [e.attempt for e in retrying] == [3]


def test_exhausted_edit_is_rechecked(crm: OpenAPIMock, tmp_path: Path) -> None:
    approver = ScriptedApprover(HumanDecision("edit", who="gil", code=GOOD))
    flow = run(crm, tmp_path, code=BROKEN, approve=False, max_retries=1, approver=approver)
    assert flow.result.ok and flow.result.output("heal").content == GOOD
    assert len(flow.adapt_prompts()) == 1  # only the one allowed rewrite
    assert [e["gate"] for e in decision_log(flow.events, "heal")] == ["adapt", "adapt", "success"]
    assert flow.verdicts() == ["adapt", "surfaced", "human-edit", "success"]


def test_exhausted_edit_that_still_fails_asks_again(crm: OpenAPIMock, tmp_path: Path) -> None:
    approver = ScriptedApprover(HumanDecision("edit", who="gil", code=BROKEN + "\n# tweak\n"))
    flow = run(crm, tmp_path, code=BROKEN, approve=False, max_retries=0, approver=approver)
    assert flow.result.status is RunStatus.WAITING
    assert [r.kind for r in approver.requests] == ["exhausted", "exhausted"]
    assert flow.adapt_prompts() == []


def test_exhausted_accept_as_is_is_clearly_marked(crm: OpenAPIMock, tmp_path: Path) -> None:
    approver = ScriptedApprover(HumanDecision("accept", "the CRM is wrong", who="hal"))
    flow = run(crm, tmp_path, code=BROKEN, approve=False, max_retries=0, approver=approver)
    assert flow.result.ok
    heal = flow.result.state.nodes["heal"]
    assert heal.status is NodeStatus.SUCCEEDED and heal.accepted_by == "hal"
    assert "accepted as is by hal" in heal.message
    assert flow.verdicts()[-2:] == ["human-accept", "accepted-by-human"]
    [finished] = [e for e in flow.events if isinstance(e, ev.NodeFinished) and e.node_id == "heal"]
    assert finished.accepted_by == "hal"
    assert flow.result.output("heal").meta["accepted_by"] == "hal"
    assert flow.result.state.nodes["report"].status is NodeStatus.SUCCEEDED


def test_exhausted_reject_gives_up(crm: OpenAPIMock, tmp_path: Path) -> None:
    approver = ScriptedApprover(HumanDecision("reject", "contract under review", who="ivy"))
    flow = run(crm, tmp_path, code=BROKEN, approve=False, max_retries=0, approver=approver)
    assert flow.result.status is RunStatus.FAILED
    message = flow.result.state.nodes["heal"].message
    assert "surfaced to a human after 1 attempts" in message
    assert "Given up by ivy (contract under review)" in message
    assert flow.result.state.nodes["report"].status is NodeStatus.SKIPPED


def test_exhausted_resume_accept(crm: OpenAPIMock, tmp_path: Path) -> None:
    first = run(
        crm, tmp_path, code=BROKEN, approve=False, max_retries=0, approver=PendingApprover()
    )
    staged = crm.counts["staged_requests"]
    second = resume(first.result.run_id, tmp_path, {"heal": HumanDecision("accept", who="jo")})
    assert second.result.ok and [r.node_id for r in second.provider.requests] == ["report"]
    assert crm.counts["staged_requests"] == staged
    assert second.result.output("heal").content == BROKEN
    assert second.result.state.nodes["heal"].accepted_by == "jo"


# ---------------------------------------------------------------------------------------------
# type: approval
# ---------------------------------------------------------------------------------------------

APPROVAL_SPEC = """\
name: sign_off
nodes:
  - id: draft
    action: Write the release notes.
  - id: sign_off
    type: approval
    action: Approve the release notes before they are published.
    depends_on: [draft]
  - id: publish
    depends_on: [sign_off]
    action: Publish.
"""


def approval_run(tmp_path: Path, decisions: dict[str, HumanDecision] | None = None) -> Flow:
    events: list[RunEvent] = []
    prov = ScriptedProvider({"draft": {"content": "notes v1"}, "publish": {"content": "done"}})
    if decisions is None:
        coro = arun_workflow(
            load_workflow(text=APPROVAL_SPEC),
            provider=prov,
            runs_dir=tmp_path / "runs",
            subscribers=[events.append],
        )
    else:
        coro = aresume_workflow(
            "last",
            runs_dir=tmp_path / "runs",
            provider=prov,
            subscribers=[events.append],
            decisions=decisions,
        )
    return Flow(asyncio.run(coro), events, prov)


def test_approval_node_waits_then_passes_its_input_through(tmp_path: Path) -> None:
    first = approval_run(tmp_path)
    assert first.result.status is RunStatus.WAITING
    request = first.result.waiting["sign_off"]
    assert request.kind == "approval" and request.code == "notes v1"
    assert request.reason == "Approve the release notes before they are published."
    assert {r.node_id for r in first.provider.requests} == {"draft"}
    second = approval_run(tmp_path, {"sign_off": HumanDecision("approve", who="kim")})
    assert second.result.ok
    assert second.result.output("sign_off").content == "notes v1"
    assert second.result.output("sign_off").meta["approved_by"] == "kim"
    assert {r.node_id for r in second.provider.requests} == {"publish"}  # draft restored
    assert "notes v1" in second.provider.requests[0].messages[-1].content


def test_approval_node_reject_fails_with_the_comment(tmp_path: Path) -> None:
    approval_run(tmp_path)
    second = approval_run(tmp_path, {"sign_off": HumanDecision("reject", "too long", who="lu")})
    assert second.result.status is RunStatus.FAILED
    assert "rejected by lu: too long" in second.result.state.nodes["sign_off"].message
    assert second.result.state.nodes["publish"].status is NodeStatus.SKIPPED


def test_approval_node_edit_replaces_the_output(tmp_path: Path) -> None:
    approval_run(tmp_path)
    edit = HumanDecision("edit", who="mo", code="notes v2")
    second = approval_run(tmp_path, {"sign_off": edit})
    assert second.result.ok and second.result.output("sign_off").content == "notes v2"


# ---------------------------------------------------------------------------------------------
# Secrets never reach what a person is shown
# ---------------------------------------------------------------------------------------------


def test_secrets_are_redacted_in_the_request(crm: OpenAPIMock, tmp_path: Path) -> None:
    leaky = GOOD.replace(
        '"customer_tier": internal_user["plan"],',
        f'"customer_tier": internal_user["plan"], "note": "{TOKEN}",',
    )
    flow = run(crm, tmp_path, code=leaky)
    request = flow.result.waiting["heal"]
    assert TOKEN not in request.code and TOKEN not in request.payloads
    assert "REDACTED" in request.code and "REDACTED" in request.payloads
    assert TOKEN not in (flow.result.run_dir / "events.jsonl").read_text()


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_files(tmp_path: Path, crm: OpenAPIMock, monkeypatch: pytest.MonkeyPatch) -> Path:
    # In-process CLI runs are headless even under `pytest -s` on a terminal.
    monkeypatch.setattr("nbworkflow.cli.commands._interactive", lambda: False)
    (tmp_path / "wf.yaml").write_text(spec_text(crm.url))
    script = {
        "generate_mapper": {"rationale": "first draft", "code": BROKEN},
        "other": {"content": "other done"},
        "report": {"content": "report done"},
        "heal": [{"rationale": "added customer_tier", "code": GOOD}],
    }
    (tmp_path / "script.yaml").write_text(yaml.safe_dump(script))
    return tmp_path


def cli_args(folder: Path, *extra: str) -> list[str]:
    return [
        "--provider",
        "scripted",
        "--script",
        str(folder / "script.yaml"),
        "--var",
        f"STAGING_TOKEN={TOKEN}",
        "--sandbox",
        "process",
        "--runs-dir",
        str(folder / "runs"),
        *extra,
    ]


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]


def test_cli_without_a_tty_waits_and_exits_4_then_resumes(
    cli_files: Path, crm: OpenAPIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(["run", str(cli_files / "wf.yaml"), *cli_args(cli_files)])
    assert code == 4
    err = capsys.readouterr().err
    # The same words as the log (report.waiting_text): why, and what a person may answer.
    assert "⏸ heal WAITING for a human (approve, attempt 1)" in err
    assert "choices: approve, reject, edit" in err
    assert "run waiting" in err and "--approve heal" in err
    assert crm.counts["staged_requests"] == 0
    # The code to approve is in the log.
    assert cli(["log", "last", "--node", "heal", "--runs-dir", str(cli_files / "runs")]) == 0
    out = capsys.readouterr().out
    assert "WAITING for a human (approve, attempt 1)" in out and "def sync_to_crm" in out
    # Usage errors: a reject needs a comment; only waiting nodes can be answered.
    assert cli(["resume", "last", "--reject", "heal", *cli_args(cli_files)]) == 2
    assert cli(["resume", "last", "--approve", "other", *cli_args(cli_files)]) == 2
    assert cli(["resume", "last", "--accept", "heal", *cli_args(cli_files)]) == 2
    capsys.readouterr()
    # Reject with a comment: the model rewrites; the rewrite waits again.
    code = cli(
        [
            "resume",
            "last",
            "--reject",
            "heal",
            "--comment",
            "map plan to customer_tier",
            "--who",
            "nora",
            *cli_args(cli_files),
        ]
    )
    assert code == 4
    fixed = cli_files / "fixed.py"
    fixed.write_text(GOOD)
    code = cli(["resume", "last", f"--edit=heal={fixed}", "--who", "nora", *cli_args(cli_files)])
    assert code == 0, capsys.readouterr().err
    assert crm.counts["201"] == len(SAMPLES)
    runs = sorted((cli_files / "runs").glob("2*"))
    human = [
        (x["verdict"], x["data"]["who"], bool(x["data"]["when"]))
        for r in runs
        for x in events_of(r)
        if x.get("verdict", "").startswith("human-")
    ]
    assert human == [("human-reject", "nora", True), ("human-edit", "nora", True)]


def test_cli_auto_approve(cli_files: Path, crm: OpenAPIMock) -> None:
    (cli_files / "wf.yaml").write_text(
        (cli_files / "wf.yaml").read_text().replace("max_retries: 2", "max_retries: 0")
    )
    # Auto-approve lets the code reach staging, but never accepts code that failed there.
    assert cli(["run", str(cli_files / "wf.yaml"), "--auto-approve", *cli_args(cli_files)]) == 1
    assert crm.counts["422"] == 1
    [run_dir] = list((cli_files / "runs").glob("2*"))
    verdicts = [(x.get("verdict"), x.get("data", {}).get("who")) for x in events_of(run_dir)]
    assert ("human-approve", "auto-approve") in verdicts
    assert ("human-reject", "auto-approve") in verdicts


def _pty_cli(
    args: list[str], answers: list[tuple[str, str]], timeout: float = 60
) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal; when ``prompt`` appears, type ``answer``."""
    controller, terminal = pty.openpty()
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="120")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbworkflow.cli", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    seen = b""
    pos = 0  # answered prompts are before this offset: each prompt is answered once
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and (at := seen.find(pending[0][0].encode(), pos)) >= 0:
                prompt, answer = pending.pop(0)
                pos = at + len(prompt.encode())
                if answer == "<SIGINT>":  # what Ctrl-C sends to the foreground process
                    proc.send_signal(signal.SIGINT)
                else:
                    os.write(controller, answer.encode() + b"\n")
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    return code, seen.decode(errors="replace")


@pytest.mark.integration
def test_cli_asks_on_a_terminal_reject_then_approve(cli_files: Path, crm: OpenAPIMock) -> None:
    code, screen = _pty_cli(
        ["run", str(cli_files / "wf.yaml"), "--who", "olga", *cli_args(cli_files)],
        [
            ("approve [a], reject [r], edit [e]? ", "r"),
            ("why (sent to the model): ", "customer_tier is required"),
            ("approve [a], reject [r], edit [e]? ", "a"),
        ],
    )
    assert code == 0, screen[-3000:]
    assert "heal: a human decision is needed (attempt 1)" in screen
    assert "heal: a human decision is needed (attempt 2)" in screen
    assert '+        "customer_tier": internal_user["plan"],' in screen  # the diff is shown
    assert "--- payloads for POST" in screen
    assert TOKEN not in screen
    assert crm.counts["201"] == len(SAMPLES) and crm.counts["422"] == 0
    [run_dir] = list((cli_files / "runs").glob("2*"))
    human = [x for x in events_of(run_dir) if x.get("verdict", "").startswith("human-")]
    assert [(x["verdict"], x["data"]["who"]) for x in human] == [
        ("human-reject", "olga"),
        ("human-approve", "olga"),
    ]
    assert human[0]["data"]["comment"] == "customer_tier is required"


@pytest.mark.integration
def test_cli_end_of_input_on_a_terminal_leaves_the_node_waiting(
    cli_files: Path, crm: OpenAPIMock
) -> None:
    code, screen = _pty_cli(
        ["run", str(cli_files / "wf.yaml"), *cli_args(cli_files)],
        [("approve [a], reject [r], edit [e]? ", "\x04")],
    )
    assert code == 4, screen[-3000:]
    assert "no answer (end of input)" in screen and "--approve heal" in screen
    assert crm.counts["staged_requests"] == 0


@pytest.mark.integration
def test_cli_ctrl_c_at_the_prompt_cancels_cleanly(cli_files: Path, crm: OpenAPIMock) -> None:
    t0 = time.monotonic()
    code, screen = _pty_cli(
        ["run", str(cli_files / "wf.yaml"), *cli_args(cli_files)],
        [("approve [a], reject [r], edit [e]? ", "<SIGINT>")],
    )
    assert code == 130, screen[-3000:]
    assert time.monotonic() - t0 < 30
    assert "the run was cancelled and recorded" in screen
    [run_dir] = list((cli_files / "runs").glob("2*"))
    last = events_of(run_dir)[-1]
    assert last["kind"] == "run_finished" and last["status"] == "cancelled"
    assert crm.counts["staged_requests"] == 0

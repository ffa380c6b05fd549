"""Dollar costs wired end to end: per call in the events, per node and run in the run state,
``run.json``, the CLI summary and the log; the run's dollar budget refusing and stopping calls.

Live calls go through the real ``openai`` SDK to the loopback Chat Completions server; prices
are checked against the ``genai-prices`` table itself, not against numbers of our own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from IPython.core.error import UsageError

from nbworkflow import events as ev
from nbworkflow.agents import PROVIDERS
from nbworkflow.agents.base import Message, ModelRequest, ModelResponse
from nbworkflow.agents.prices import CostBudgetProvider, CostMeter, format_usd
from nbworkflow.agents.scripted import ScriptedProvider
from nbworkflow.cli import main as cli_main
from nbworkflow.cli.parser import build_parser
from nbworkflow.config import RunOptions, build_settings
from nbworkflow.engine import run_workflow
from nbworkflow.exceptions import BudgetExceeded, SpecError, WorkflowError
from nbworkflow.magics import workflow as wf
from nbworkflow.report import log_lines
from nbworkflow.runlog import read_events
from nbworkflow.spec import load_workflow
from nbworkflow.state import RunState
from nbworkflow.testing.messages import ReceivedRequest, Reply
from nbworkflow.testing.openai_server import ChatCompletionsServer, chat_reply

IN, OUT = 1000, 100
"""Tokens the loopback server reports for every answer."""


def price(model: str, calls: int = 1, inp: int = IN, out: int = OUT) -> float:
    usage = Usage(input_tokens=inp, output_tokens=out)
    return calls * float(calc_price(usage, model_ref=model, provider_id="openai").total_price)


def answering(text: str = "done", inp: int = IN, out: int = OUT) -> Any:
    """A responder answering every request as the model it names, with fixed usage."""

    def respond(request: ReceivedRequest) -> Reply:
        answer = json.dumps({"rationale": "", "content": text})
        return chat_reply(
            answer, prompt_tokens=inp, completion_tokens=out, model=str(request.json["model"])
        )

    return respond


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    with ChatCompletionsServer(responder=answering()) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


COSTS = """\
name: costs
model: openai:gpt-4.1-mini
nodes:
  - {id: known, agent: Analyst, action: Read it., output: text}
  - {id: mystery, agent: Analyst, action: Guess., output: text, model: "openai:no-such-model-xyz"}
  - {id: twice, agent: Writer, action: Write it., output: text, depends_on: [known]}
"""


def test_cost_per_call_node_and_run_in_events_state_run_json_summary_and_log(
    tmp_path: Path,
    openai_env: ChatCompletionsServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ``twice`` gets an unusable answer first: a repair call, priced like any other.
    replies = iter(["not json at all"])

    def respond(request: ReceivedRequest) -> Reply:
        if "Write it." in json.dumps(request.json["messages"]):
            bad = next(replies, None)
            if bad is not None:
                return chat_reply(bad, prompt_tokens=IN, completion_tokens=OUT)
        return answering()(request)

    openai_env.responder = respond
    spec_file = tmp_path / "wf.yaml"
    spec_file.write_text(COSTS)
    runs = tmp_path / "runs"
    code = cli_main(["run", str(spec_file), "--runs-dir", str(runs), "--quiet"])
    summary = capsys.readouterr().err
    assert code == 0, summary
    one = price("gpt-4.1-mini")
    [run_dir] = [p for p in runs.iterdir() if not p.name.startswith(".")]
    events = read_events(run_dir)

    calls = {(e.node_id, e.purpose): e.cost_usd for e in events if isinstance(e, ev.ModelCalled)}
    assert calls[("known", "answer")] == pytest.approx(one)
    assert calls[("twice", "answer")] == pytest.approx(one)
    assert calls[("twice", "repair")] == pytest.approx(one)
    assert calls[("mystery", "answer")] is None  # unknown to the price table: no crash

    state = RunState.from_events(events)
    assert state.nodes["twice"].cost_usd == pytest.approx(2 * one)
    assert (state.nodes["mystery"].cost_usd, state.nodes["mystery"].unknown_cost_calls) == (0, 1)
    assert (state.cost_usd, state.unknown_cost_calls) == (pytest.approx(3 * one), 1)
    [finished] = [e for e in events if isinstance(e, ev.RunFinished)]
    assert (finished.cost_usd, finished.unknown_cost_calls) == (pytest.approx(3 * one), 1)

    record = json.loads((run_dir / "run.json").read_text())
    assert record["cost_usd"] == pytest.approx(3 * one)
    assert record["unknown_cost_calls"] == 1 and record["cost_budget"] is None
    assert record["nodes"]["twice"]["cost_usd"] == pytest.approx(2 * one)
    assert record["nodes"]["mystery"]["unknown_cost_calls"] == 1

    # The CLI's end-of-run table: a cost column and the run's total.
    rows = {line.split()[0]: line for line in summary.splitlines() if line.strip()}
    assert "cost" in rows["node"].split()
    assert rows["known"].rstrip().endswith(format_usd(one))
    assert rows["twice"].rstrip().endswith(format_usd(2 * one))
    assert rows["mystery"].rstrip().endswith("unknown")
    assert f"cost {format_usd(3 * one)} + 1 call of unknown cost" in summary

    # The log, as `nbworkflow log` prints it.
    lines = log_lines(events)
    assert any("mystery: model" in line and line.endswith("cost unknown") for line in lines)
    assert any(
        "known: model" in line and line.endswith(f"cost {format_usd(one)}") for line in lines
    )
    assert f"cost {format_usd(3 * one)} + 1 call of unknown cost" in lines[-1]
    assert cli_main(["log", str(run_dir)]) == 0
    assert "cost unknown" in capsys.readouterr().out


SCRIPT = {"a": {"rationale": "", "content": "x"}}
ONE = "name: one\nmodel: openai:gpt-4.1-mini\nnodes:\n  - {id: a, action: Say it., output: text}\n"


def test_canned_answers_cost_nothing_and_a_replay_costs_what_was_recorded(
    tmp_path: Path, openai_env: ChatCompletionsServer
) -> None:
    seen: list[ev.RunEvent] = []
    run_workflow(
        load_workflow(text=ONE), provider=ScriptedProvider(SCRIPT), runs_dir=None,
        subscribers=[seen.append],
    )  # fmt: skip
    [scripted] = [e for e in seen if isinstance(e, ev.ModelCalled)]
    assert scripted.cost_usd == 0.0

    cassette = tmp_path / "wf.cassette.jsonl"
    live = run_workflow(
        load_workflow(text=ONE), provider="auto", provider_options={"record": str(cassette)},
        runs_dir=tmp_path / "live",
    )  # fmt: skip
    assert live.ok and len(openai_env.requests) == 1
    seen.clear()
    replayed = run_workflow(
        load_workflow(text=ONE), provider="replay", provider_options={"cassette": str(cassette)},
        runs_dir=None, subscribers=[seen.append],
    )  # fmt: skip
    assert len(openai_env.requests) == 1  # nothing sent: served from the cassette
    [call] = [e for e in seen if isinstance(e, ev.ModelCalled)]
    assert call.cached and call.cost_usd == pytest.approx(price("gpt-4.1-mini"))
    assert replayed.state.cost_usd == pytest.approx(live.state.cost_usd)


TWO = """\
name: budget
model: openai:gpt-4.1-mini
cost_budget: 0.10
nodes:
  - {id: first, agent: Analyst, action: Read everything., output: text}
  - {id: second, agent: Writer, depends_on: [first], action: Summarize., output: text}
"""


def test_the_call_that_crosses_the_budget_stops_the_run(
    tmp_path: Path, openai_env: ChatCompletionsServer
) -> None:
    # One million input tokens of gpt-4.1-mini cost more than the $0.10 budget; a prompt
    # this short was not expected to: the call is sent, paid for, counted, and the run stops.
    openai_env.responder = answering(inp=1_000_000, out=10)
    seen: list[ev.RunEvent] = []
    result = run_workflow(
        load_workflow(text=TWO), provider="auto", runs_dir=tmp_path, subscribers=[seen.append]
    )
    assert not result.ok
    assert len(openai_env.requests) == 1  # the second node never asked
    spent = price("gpt-4.1-mini", inp=1_000_000, out=10)
    [called] = [e for e in seen if isinstance(e, ev.ModelCalled)]
    assert called.cost_usd == pytest.approx(spent)  # published before the run stopped
    first, second = result.state.nodes["first"], result.state.nodes["second"]
    assert first.status.value == "failed" and second.status.value == "skipped"
    assert f"cost budget is spent ({format_usd(spent)} > $0.10)" in first.message
    assert "raise cost_budget in the workflow or --cost-budget" in first.message
    assert result.state.message.startswith("cost budget spent: run stopped after 'first'")
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["cost_budget"] == 0.10 and record["cost_usd"] == pytest.approx(spent)


def test_a_call_whose_prompt_alone_would_cross_the_budget_is_never_sent(
    tmp_path: Path, openai_env: ChatCompletionsServer
) -> None:
    # 50,000 characters are at least 10,000 tokens: $0.004 of gpt-4.1-mini input.
    text = ONE.replace("Say it.", "x" * 50_000)
    result = run_workflow(
        load_workflow(text=text), provider="auto", runs_dir=None, cost_budget=0.001
    )
    assert not result.ok and openai_env.requests == []
    message = result.state.nodes["a"].message
    assert "the next call to openai:gpt-4.1-mini would cost at least $0.0040" in message
    assert "of its cost budget $0.001; the call was not sent" in message
    assert "raise cost_budget in the workflow or --cost-budget" in message


def test_unknown_prices_never_break_a_budgeted_run(
    openai_env: ChatCompletionsServer,
) -> None:
    text = ONE.replace("openai:gpt-4.1-mini", "openai-compatible:my-finetune")
    spec = load_workflow(text=text)
    result = run_workflow(
        spec,
        provider="auto",
        provider_options={"openai-compatible": {"base_url": openai_env.url}},
        runs_dir=None,
        cost_budget=0.000_001,
    )
    assert result.ok
    assert (result.state.cost_usd, result.state.unknown_cost_calls) == (0.0, 1)


class _Held:
    """A provider whose answer to node ``a`` waits until the test lets it go."""

    name = "openai"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[str] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.sent.append(request.node_id)
        if request.node_id == "a":
            await self.release.wait()
        return ModelResponse("{}", IN, OUT, model="gpt-4.1-mini")

    async def aclose(self) -> None:
        return None


def test_concurrent_nodes_share_one_meter_and_calls_in_flight_count() -> None:
    prompt = "y" * 5_000  # at least 1,000 tokens
    request = ModelRequest("a", "openai:gpt-4.1-mini", "", (Message("user", prompt),))
    meter = CostMeter(budget=price("gpt-4.1-mini", inp=1_500, out=0))

    async def scenario() -> tuple[Any, Any]:
        inner = _Held()
        provider = CostBudgetProvider(inner, meter)
        first = asyncio.ensure_future(provider.complete(request))
        await asyncio.sleep(0)  # the first call is in flight, its estimate held
        with pytest.raises(BudgetExceeded, match=r"in flight of its cost budget"):
            await provider.complete(ModelRequest("b", request.model, "", request.messages))
        inner.release.set()
        answered = await first
        return inner.sent, answered

    sent, answered = asyncio.run(scenario())
    assert sent == ["a"]  # "b" was refused before it was sent
    assert answered.meta["cost_usd"] == pytest.approx(price("gpt-4.1-mini"))
    assert meter.reserved == 0.0 and meter.calls == 1


# -- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "0", "abc", ".nan", ".inf", "true", "'2.50'"])
def test_a_bad_cost_budget_is_a_located_spec_error(value: str) -> None:
    text = f"name: b\ncost_budget: {value}\nnodes:\n  - {{id: a, action: x}}\n"
    with pytest.raises(SpecError) as info:
        load_workflow(text=text)
    [issue] = info.value.errors
    assert issue.line == 2 and "US dollars above 0, e.g. cost_budget: 2.50" in issue.message


def test_the_option_beats_the_workflow_and_is_checked() -> None:
    spec = load_workflow(text=TWO)
    assert build_settings(spec).cost_budget == 0.10
    assert build_settings(spec, RunOptions(cost_budget=5)).cost_budget == 5.0
    for bad in (0.0, -2.0, float("nan"), float("inf")):
        with pytest.raises(WorkflowError, match=r"US dollars above 0 \(e\.g\. --cost-budget"):
            build_settings(spec, RunOptions(cost_budget=bad))


def test_provider_options_cost_budget_still_lands_in_the_setting(
    tmp_path: Path, openai_env: ChatCompletionsServer
) -> None:
    """The earlier, documented spelling: the same field, the same enforcement."""
    text = ONE.replace("Say it.", "x" * 50_000)
    result = run_workflow(
        load_workflow(text=text),
        provider="auto",
        provider_options={"cost_budget": 0.001},
        runs_dir=tmp_path,
    )
    assert not result.ok and openai_env.requests == []
    assert json.loads((result.run_dir / "run.json").read_text())["cost_budget"] == 0.001


def test_cli_provider_takes_every_registered_name(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for name in PROVIDERS:
        assert parser.parse_args(["run", "wf.yaml", "--provider", name]).provider == name
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "wf.yaml", "--provider", "nope"])
    assert "openai-compatible" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "two"])
def test_a_bad_cost_budget_option_is_a_usage_error_naming_the_fix(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "wf.yaml"
    spec_file.write_text(ONE)
    with pytest.raises(SystemExit) as info:
        cli_main(["run", str(spec_file), f"--cost-budget={value}"])
    assert info.value.code == 2
    assert "US dollars above 0 (e.g. --cost-budget 2.50)" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"US dollars above 0"):
        wf.parse_argstring(wf.WorkflowMagics.workflow, f"--cost-budget={value}")


def test_the_magic_parses_its_cost_budget() -> None:
    args = wf.parse_argstring(wf.WorkflowMagics.workflow, "--cost-budget 2.50")
    assert args.cost_budget == 2.5


def test_a_price_that_is_no_price_in_a_run_log_counts_as_unknown() -> None:
    started = ev.RunStarted(
        run_id="r", workflow="w", nodes=(ev.NodeInfo(id="a", type="routine"),), provider="p"
    )
    costs = [0.5, float("nan"), -3.0, float("inf"), None]
    calls = [ev.ModelCalled(run_id="r", node_id="a", model="m", cost_usd=c) for c in costs]
    state = RunState.from_events([started, *calls])
    assert (state.cost_usd, state.unknown_cost_calls) == (0.5, 4)
    assert (state.nodes["a"].cost_usd, state.nodes["a"].unknown_cost_calls) == (0.5, 4)


def test_cheap_calls_are_not_shown_as_free() -> None:
    assert format_usd(0.000042) == "$0.000042"
    assert (format_usd(0.0), format_usd(0.0123), format_usd(2.5)) == ("$0.0000", "$0.0123", "$2.50")


# -- budgets across a resume ----------------------------------------------------------------

PAUSED = """\
name: paused
model: openai:gpt-4.1-mini
nodes:
  - {id: draft, agent: Writer, action: Write it., output: text}
  - {id: sign_off, type: approval, action: Approve the draft., depends_on: [draft]}
  - {id: publish, agent: Writer, action: Publish it., output: text, depends_on: [sign_off]}
"""


@pytest.mark.parametrize("budget", ["token", "cost"])
def test_a_resumed_run_counts_what_its_earlier_segments_spent(
    tmp_path: Path, openai_env: ChatCompletionsServer, budget: str
) -> None:
    """A budget that one call fits and two calls do not: the call before the approval and
    the one after it are in different segments, and approving must not reset the budget."""
    from nbworkflow.approval import HumanDecision
    from nbworkflow.resume import resume_workflow

    one_call = price("gpt-4.1-mini")
    limit: dict[str, Any] = (
        {"token_budget": IN + OUT + 10} if budget == "token" else {"cost_budget": one_call * 1.5}
    )
    runs = tmp_path / "runs"
    first = run_workflow(load_workflow(text=PAUSED), provider="auto", runs_dir=runs, **limit)
    assert first.status.value == "waiting" and len(openai_env.requests) == 1
    second = resume_workflow(
        "last",
        runs_dir=runs,
        provider="auto",
        decisions={"sign_off": HumanDecision("approve", who="kim")},
        **limit,
    )
    assert not second.ok
    message = second.state.nodes["publish"].message
    assert f"{budget} budget is spent" in message or "would cost at least" in message
    assert "before the last resume" in message
    # the segment's own summary reports its own calls, and what the earlier ones used
    record = json.loads((second.run_dir / "run.json").read_text())
    assert record["input_tokens"] <= IN
    assert record["spent_before"]["input_tokens"] == IN
    assert record["spent_before"]["cost_usd"] == pytest.approx(one_call)

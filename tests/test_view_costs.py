"""What a run cost, in the notebook: the live view's headline and node details, the static
rendering's summary and node table, in the words ``report`` uses on the CLI."""

from __future__ import annotations

import re
from html import unescape

from nbworkflow import events as ev
from nbworkflow.events import NodeInfo, RunStatus
from nbworkflow.state import RunState
from nbworkflow.widgets.static import node_details_html, render_static_html, summary_text
from nbworkflow.widgets.svg import run_headline

RUN = "20261129-000000-priced-abcd"


def run_events(*calls: tuple[str, float | None], finished: bool = True) -> list[ev.RunEvent]:
    """A two-node run (``plan`` then ``code``) whose model calls cost what ``calls`` say."""
    evs: list[ev.RunEvent] = [
        ev.RunStarted(
            run_id=RUN,
            workflow="priced",
            provider="openai",
            nodes=(
                NodeInfo(id="plan", type="routine", agent="Planner"),
                NodeInfo(id="code", type="routine", agent="Coder", depends_on=("plan",)),
            ),
            ts=1.0,
        ),
        ev.NodeStarted(run_id=RUN, node_id="plan", ts=1.0),
        ev.NodeStarted(run_id=RUN, node_id="code", ts=1.0),
    ]
    evs += [
        ev.ModelCalled(
            run_id=RUN, node_id=node, model="m", input_tokens=10, output_tokens=5, cost_usd=usd
        )
        for node, usd in calls
    ]
    if finished:
        evs += [
            ev.NodeFinished(run_id=RUN, node_id="plan", duration_s=0.5),
            ev.NodeFinished(run_id=RUN, node_id="code", duration_s=0.5),
            ev.RunFinished(run_id=RUN, status=RunStatus.SUCCEEDED, duration_s=1.0, counts={}),
        ]
    return evs


def table_cells(html: str) -> dict[str, list[str]]:
    """The static node table: each node's cells as text, and the header under ``""``."""
    table = html[html.index('<table class="nbw-nodes"') : html.index("</table>")]
    header = [unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    rows = {
        m.group(1): [
            unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", m[2])
        ]
        for m in re.finditer(r'<tr data-node-id="([^"]+)">(.*?)</tr>', table)
    }
    return {"": header, **rows}


def test_headline_and_summary_show_the_run_cost() -> None:
    state = RunState.from_events(run_events(("plan", 0.0123), ("code", 0.01)))
    assert run_headline(state).endswith(" · cost $0.0223")
    assert "cost $0.0223" in summary_text(state, "runs/x")
    assert "cost $0.0223" in render_static_html(state)


def test_a_call_of_unknown_price_says_unknown_and_counts_apart() -> None:
    some = RunState.from_events(run_events(("plan", 0.0123), ("code", None)))
    assert "cost $0.0123 + 1 call of unknown cost" in run_headline(some)
    every = RunState.from_events(run_events(("plan", None), ("code", None)))
    assert run_headline(every).endswith(" · cost unknown")


def test_free_calls_cost_nothing_but_are_shown() -> None:
    state = RunState.from_events(run_events(("plan", 0.0)))
    assert run_headline(state).endswith(" · cost $0.0000")


def test_a_run_without_model_calls_shows_no_cost() -> None:
    state = RunState.from_events(run_events())
    assert "cost" not in run_headline(state)
    assert "cost" not in summary_text(state)
    html = render_static_html(state)
    assert table_cells(html)["plan"][table_cells(html)[""].index("cost")] == ""
    assert ">cost<" not in node_details_html(state.nodes["plan"], None)


def test_static_node_table_has_a_cost_column() -> None:
    state = RunState.from_events(
        run_events(("plan", 0.0123), ("plan", 0.0001), ("code", 0.5), ("code", None))
    )
    cells = table_cells(render_static_html(state))
    col = cells[""].index("cost")
    assert cells["plan"][col] == "$0.0124"
    assert cells["code"][col] == "$0.5000 +1 unknown"


def test_node_details_show_the_node_cost() -> None:
    state = RunState.from_events(run_events(("plan", 0.0123), ("code", None)))
    plan = node_details_html(state.nodes["plan"], None)
    assert re.search(r">cost</th><td[^>]*>\$0\.0123</td>", plan)
    code = node_details_html(state.nodes["code"], None)
    assert re.search(r">cost</th><td[^>]*>unknown</td>", code)


def test_live_view_headline_and_details_show_cost_while_running_and_after() -> None:
    from nbworkflow.widgets.view import RunView

    view = RunView(interval=0.0)
    events = run_events(("plan", 0.0123), ("code", 0.002), finished=False)
    for event in events:
        view(event)
    assert "cost $0.0143" in view.summary.value  # the headline while the run goes on
    view.selector.value = "plan"
    assert re.search(r">cost</th><td[^>]*>\$0\.0123</td>", view.details.value)
    view(ev.NodeFinished(run_id=RUN, node_id="plan", duration_s=0.5))
    view(ev.NodeFinished(run_id=RUN, node_id="code", duration_s=0.5))
    view(ev.RunFinished(run_id=RUN, status=RunStatus.SUCCEEDED, duration_s=1.0, counts={}))
    assert "cost $0.0143" in view.summary.value  # the final summary line
    view.selector.value = "code"
    assert re.search(r">cost</th><td[^>]*>\$0\.0020</td>", view.details.value)


def test_cli_summary_counts_a_free_call_apart_from_an_unknown_one() -> None:
    from nbworkflow.report import summary_table

    # One call of an ollama model (free) and one of unknown price: not all unknown.
    table = summary_table(RunState.from_events(run_events(("plan", 0.0), ("plan", None))))
    assert "$0.0000 +1 unknown" in table
    assert "cost $0.0000 + 1 call of unknown cost" in table


def test_a_nodes_hover_text_says_its_cost() -> None:
    from nbworkflow.widgets.svg import node_title

    state = RunState.from_events(run_events(("plan", 0.0123), ("code", None)))
    assert "cost $0.0123" in node_title(state.nodes["plan"])
    assert "cost unknown" in node_title(state.nodes["code"])
    assert "cost" not in node_title(RunState.from_events(run_events()).nodes["plan"])

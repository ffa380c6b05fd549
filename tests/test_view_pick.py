"""A person's pick in the live view's drop-down is never undone by a redraw, even one that
runs on the loop thread at the moment the pick lands (before its observer has run)."""

from __future__ import annotations

from typing import Any

from nbworkflow import events as ev
from nbworkflow.events import NodeInfo

RUN = "r1"


def started_view() -> object:
    from nbworkflow.widgets.view import RunView

    view = RunView(interval=0.0)
    nodes = [
        NodeInfo(id="plan", type="routine"),
        NodeInfo(id="ship", type="routine", depends_on=("plan",)),
    ]
    view(ev.RunStarted(run_id=RUN, workflow="w", nodes=nodes, provider="scripted"))
    view(ev.NodeStarted(run_id=RUN, node_id="plan"))
    view(ev.NodeFinished(run_id=RUN, node_id="plan", duration_s=0.1))
    view(ev.NodeStarted(run_id=RUN, node_id="ship"))
    return view


def test_a_redraw_follows_the_running_node_until_someone_picks() -> None:
    view: Any = started_view()
    assert view.selector.value == "ship"


def test_a_pick_that_landed_before_its_observer_ran_survives_a_redraw() -> None:
    view: Any = started_view()
    # The browser's change is applied to the widget, but its observer (which records the
    # pick) has not run yet: here it is kept from running, as when it waits for the lock.
    view._ours.active = True
    view.selector.value = "plan"
    view._ours.active = False
    view(ev.ModelCalled(run_id=RUN, node_id="ship", model="m"))  # a redraw on the loop thread
    assert view.selector.value == "plan"
    assert "plan" in view.details.value


def test_a_pick_whose_observer_finds_it_overwritten_puts_it_back() -> None:
    view: Any = started_view()
    view._on_select({"new": "plan"})  # the observer runs after a redraw wrote 'ship' back
    assert view.selector.value == "plan"
    view(ev.ModelCalled(run_id=RUN, node_id="ship", model="m"))
    assert view.selector.value == "plan"

"""The live view's controls in a real kernel while the ``%%workflow`` cell still runs.

A frontend is played by jupyter_client: it sends the same ``comm_msg`` a browser sends when a
person picks a node in the drop-down, and reads the widget updates the kernel publishes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

pytestmark = pytest.mark.integration

SETUP = """\
%load_ext nbworkflow
answers = {n: {"content": f"# {n}", "rationale": "ok"} for n in ["plan", "api", "ui", "build", "ship"]}
"""
CELL = """\
%%workflow --script answers --latency 0.8 --max-concurrency 1 --no-cache
name: live_demo
nodes:
  - {id: plan, agent: Planner, action: Plan the feature}
  - {id: api, agent: Backend Engineer, action: Design the API, depends_on: [plan]}
  - {id: ui, agent: Frontend Engineer, action: Design the UI, depends_on: [plan]}
  - {id: build, agent: Engineer, action: Build it, depends_on: [api, ui]}
  - {id: ship, agent: Release Manager, action: Ship it, depends_on: [build]}"""
DETAILS = re.compile(r'nbw-node-details" data-node-id="([a-z]+)"')


@pytest.fixture
def kc(tmp_path: Path) -> Iterator[Any]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        client.km = km
        done = execute(client, SETUP)
        assert done["error"] is None, done
        yield client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc: Any, code: str, on_msg: Any = None, timeout: float = 90) -> dict[str, Any]:
    """Run ``code``; ``on_msg(msg)`` sees every IOPub message of the cell while it runs."""
    msg_id = kc.execute(code)
    out: dict[str, Any] = {"error": None, "text": ""}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except Exception:  # queue.Empty: nothing new; let on_msg act on time alone
            msg = None
        if on_msg is not None:
            on_msg(msg)
        if msg is None or msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out["text"] += msg["content"]["text"]
        elif kind == "error":
            out["error"] = msg["content"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return out
    raise AssertionError(f"the cell did not finish in {timeout}s")


def test_picking_a_node_mid_run_shows_its_details_and_sticks(kc: Any) -> None:
    seen: dict[str, Any] = {
        "dropdown": None,
        "picked": False,
        "after_pick": [],
        "statuses": [],
        "index_after": [],
        "redraws_after": 0,
    }

    def frontend(msg: Any) -> None:
        if msg is not None and msg["msg_type"] == "comm_open":
            state = msg["content"]["data"]["state"]
            if state.get("_model_name") == "DropdownModel":
                seen["dropdown"] = msg["content"]["comm_id"]
        if msg is not None and msg["msg_type"] == "comm_msg":
            value = str(msg["content"]["data"].get("state", {}).get("value", ""))
            state = msg["content"]["data"].get("state", {})
            if seen["picked"] and "index" in state:
                seen["index_after"].append(state["index"])
            if 'class="nbw-graph"' in value:
                seen["redraws_after"] += seen["picked"]
                seen["statuses"] = re.findall(r'data-node-id="(\w+)" data-status="(\w+)"', value)
            shown = DETAILS.search(value)
            if shown and seen["picked"]:
                seen["after_pick"].append((shown.group(1), list(seen["statuses"])))
        status = dict(seen["statuses"])
        # Pick 'plan' once it is done and the run has moved on to other nodes.
        if (
            not seen["picked"]
            and seen["dropdown"]
            and status.get("plan") == "succeeded"
            and status.get("ship") == "pending"
        ):
            update = {"method": "update", "state": {"index": 0}, "buffer_paths": []}
            kc.shell_channel.send(
                kc.session.msg("comm_msg", {"comm_id": seen["dropdown"], "data": update})
            )
            seen["picked"] = True

    done = execute(kc, CELL, frontend)
    assert done["error"] is None, done
    assert seen["picked"], "the run never reached the point where the test picks a node"
    shown = seen["after_pick"]
    # A redraw already on its way when the pick was sent may still show the running node;
    # from the first 'plan' on, the pick holds.
    nodes = [node for node, _ in shown]
    assert "plan" in nodes, shown
    first = nodes.index("plan")
    # The pick was handled while the cell still ran ('ship' not done yet) ...
    assert dict(shown[first][1]).get("ship") in ("pending", "running"), shown[first]
    # ... and later redraws kept it instead of snapping back to the running node.
    assert set(nodes[first:]) == {"plan"}, shown
    assert seen["redraws_after"] > 2, "no redraw after the pick"
    # The drop-down ends on the pick. (An automatic selection already crossing the pick on
    # the wire can still echo once; the view puts the pick back at once, and every details
    # pane drawn from the pick on shows it, as asserted above.)
    index = seen["index_after"]
    assert index and index[-1] == 0, index


def test_interrupt_cancels_an_awaited_cell_and_keeps_the_kernel(kc: Any) -> None:
    started: dict[str, float] = {}

    def interrupt(msg: Any) -> None:
        if msg is not None and msg["msg_type"] == "comm_msg" and "t" not in started:
            value = str(msg["content"]["data"].get("state", {}).get("value", ""))
            if 'data-status="running"' in value:
                started["t"] = time.monotonic()
                kc.km.interrupt_kernel()

    done = execute(kc, CELL, interrupt)
    assert "t" in started
    # IPython shows a UsageError as one line on stderr (no traceback).
    assert "UsageError: run " in done["text"], done
    assert "cancelled by a kernel interrupt" in done["text"]
    assert "Traceback" not in done["text"] and done["error"] is None
    # The interrupt stopped the run: the nodes not finished yet were cancelled, not run.
    counts = re.search(r"kernel interrupt: (.*?); log", done["text"])
    assert counts and "cancelled" in counts.group(1), done["text"]
    assert "5 succeeded" not in counts.group(1)
    # The kernel and its loop survived: the next cell runs.
    after = execute(kc, "print(1 + 1)")
    assert after["error"] is None and after["text"].strip() == "2"

"""The layered layout: pure, deterministic, no overlaps, every edge routed downwards."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbworkflow.widgets.layout import Layout, layered_layout, longest_path_layers


def random_dag(n: int, seed: int, window: int = 8, max_deps: int = 3) -> dict[str, list[str]]:
    rng = random.Random(seed)
    deps: dict[str, list[str]] = {}
    for i in range(n):
        pool = list(range(max(0, i - window), i))
        k = min(len(pool), rng.randint(0, max_deps))
        deps[f"n{i}"] = [f"n{j}" for j in rng.sample(pool, k)]
    return deps


def assert_no_overlap(layout: Layout) -> None:
    boxes = sorted(layout.nodes.values(), key=lambda b: (b.y, b.x))
    for a, b in itertools.combinations(boxes, 2):
        apart = (
            a.x + a.width <= b.x
            or b.x + b.width <= a.x
            or a.y + a.height <= b.y
            or b.y + b.height <= a.y
        )
        assert apart, f"{a.id} overlaps {b.id}"


def assert_inside(layout: Layout) -> None:
    for b in layout.nodes.values():
        assert b.x >= 0 and b.x + b.width <= layout.width
        assert b.y >= 0 and b.y + b.height <= layout.height


def test_longest_path_layers_put_each_node_below_its_deepest_dependency() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"], "e": []}
    assert longest_path_layers(deps) == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}


def test_unknown_dependencies_and_cycles_do_not_break_the_layout() -> None:
    deps = {"a": ["ghost"], "b": ["a", "c"], "c": ["b"]}
    layout = layered_layout(deps)
    assert set(layout.nodes) == {"a", "b", "c"}
    assert_no_overlap(layout)


def test_single_node_and_empty_graph() -> None:
    one = layered_layout({"only": []})
    assert list(one.nodes) == ["only"] and one.edges == ()
    empty = layered_layout({})
    assert empty.nodes == {} and empty.width > 0 and empty.height > 0


def test_diamond_has_no_crossings_and_edges_point_down() -> None:
    layout = layered_layout({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})
    assert layout.crossings == 0
    assert layout.layers == (("a",), ("b", "c"), ("d",))
    for edge in layout.edges:
        ys = [y for _, y in edge.points]
        assert ys == sorted(ys), f"edge {edge.source}->{edge.target} goes up"
        src, dst = layout.nodes[edge.source], layout.nodes[edge.target]
        assert edge.points[0] == (src.cx, src.y + src.height)
        assert edge.points[-1] == (dst.cx, dst.y)


def test_barycenter_sweeps_remove_avoidable_crossings() -> None:
    # Two independent chains declared in an interleaved order that crosses if left as is.
    deps = {"a1": [], "b1": [], "b2": ["b1"], "a2": ["a1"], "a3": ["a2"], "b3": ["b2"]}
    assert layered_layout(deps, sweeps=0).crossings > 0
    assert layered_layout(deps).crossings == 0


def test_long_edges_bend_through_one_point_per_skipped_layer() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["c", "a"]}
    layout = layered_layout(deps)
    long_edge = next(e for e in layout.edges if (e.source, e.target) == ("a", "d"))
    assert len(long_edge.points) == 2 + 2  # bends in layers 1 and 2
    for x, y in long_edge.points[1:-1]:
        for box in layout.nodes.values():  # the bend points avoid every box
            assert not (box.x <= x <= box.x + box.width and box.y <= y <= box.y + box.height)


def test_wide_layers_wrap_onto_rows() -> None:
    deps: dict[str, list[str]] = {"root": []}
    deps.update({f"leaf{i:03d}": ["root"] for i in range(200)})
    layout = layered_layout(deps, max_per_row=12)
    assert_no_overlap(layout)
    assert layout.width < 12 * 200  # not one 35,000 px line
    rows = {b.y for b in layout.nodes.values() if b.id != "root"}
    assert len(rows) == 17  # ceil(200 / 12)


@pytest.mark.parametrize("n", [1, 10, 50, 200])
def test_random_dags_no_overlap_every_edge_routed(n: int) -> None:
    deps = random_dag(n, seed=n)
    layout = layered_layout(deps)
    assert set(layout.nodes) == set(deps)
    assert_no_overlap(layout)
    assert_inside(layout)
    expected = {(d, t) for t, ds in deps.items() for d in ds}
    assert {(e.source, e.target) for e in layout.edges} == expected


def test_layout_is_deterministic() -> None:
    deps = random_dag(80, seed=7)
    assert layered_layout(deps) == layered_layout(dict(deps))


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=10_000))
def test_property_no_overlap_and_all_edges(n: int, seed: int) -> None:
    deps = random_dag(n, seed, window=5)
    layout = layered_layout(deps)
    assert_no_overlap(layout)
    assert len(layout.edges) == sum(len(v) for v in deps.values())
    for edge in layout.edges:
        assert layout.nodes[edge.source].layer < layout.nodes[edge.target].layer


def test_sources_sit_right_above_their_first_child() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "late_input": [], "d": ["c", "late_input"]}
    layout = layered_layout(deps)
    assert layout.nodes["late_input"].layer == layout.nodes["d"].layer - 1
    assert layout.nodes["a"].layer == 0

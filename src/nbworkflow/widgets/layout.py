"""A layered (Sugiyama-style) layout of a workflow DAG, computed in pure Python.

1. Layers by longest path: a node sits one layer below its deepest dependency, so every edge
   points down; a node without dependencies sits right above its first child.
2. Edges that span several layers get a dummy point per crossed layer, so they are routed
   between nodes instead of through them.
3. Crossing reduction: barycenter sweeps (down, then up), keeping the ordering with the fewest
   crossings seen; ties keep the previous order, so the result is deterministic.
4. Coordinates: each layer is a row (a layer of more than ``max_per_row`` nodes wraps onto
   several rows, so a 200-node fan-out stays a block instead of a 30,000 px line); x comes
   from alternating sweeps that pull each node towards the mean x of its neighbours, solved
   exactly per row under the order and spacing constraints (pool-adjacent-violators).

No I/O, no ipywidgets: unit-tested with plain values and timed by ``bench/widget.py``.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

NODE_WIDTH = 156.0
NODE_HEIGHT = 44.0
H_GAP = 22.0
"""Horizontal space between two boxes of one row."""
DUMMY_WIDTH = 12.0
"""Width reserved for an edge passing through a layer."""
V_GAP = 54.0
"""Vertical space between two rows."""
MARGIN = 16.0
MAX_PER_ROW = 6
"""Boxes per row before a layer wraps: six (about 1,070 px) fit a notebook's output area, so
the parent of a wide fan-out, centred above its children, is in view without scrolling."""


@dataclass(frozen=True)
class NodeBox:
    """Where one node is drawn: its top-left corner and size."""

    id: str
    x: float
    y: float
    width: float
    height: float
    layer: int
    order: int
    """Position inside its layer after crossing reduction (0 = leftmost)."""

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class EdgeRoute:
    """One dependency edge: from ``source`` (upstream) to ``target``, through ``points``."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]
    """Start (bottom of source), any bend points, end (top of target)."""


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, NodeBox]
    edges: tuple[EdgeRoute, ...]
    layers: tuple[tuple[str, ...], ...]
    """Real node ids per layer, left to right."""
    width: float
    height: float
    crossings: int
    """Edge crossings between adjacent layers in the chosen ordering."""


_Slot = str | tuple[str, str, int]
"""A real node id, or a dummy ``(source, target, layer)`` for an edge passing a layer."""


def longest_path_layers(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Layer of every node: 0 without dependencies, else one more than its deepest dependency.

    Unknown dependency ids are ignored; a cycle (never produced by the spec loader) is broken
    at the edge that closes it, so the function always terminates.
    """
    layer: dict[str, int] = {}
    visiting: set[str] = set()
    for root in deps:
        if root in layer:
            continue
        # Iterative DFS: a 1000-node chain must not hit the recursion limit.
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            parents = [p for p in deps.get(node, ()) if p in deps]
            if i == 0:
                visiting.add(node)
            if i < len(parents):
                stack.append((node, i + 1))
                parent = parents[i]
                if parent not in layer and parent not in visiting:
                    stack.append((parent, 0))
                continue
            visiting.discard(node)
            layer[node] = 1 + max((layer[p] for p in parents if p in layer), default=-1)
    return layer


def _count_crossings(
    upper: Sequence[_Slot], lower: Sequence[_Slot], down: Mapping[_Slot, Sequence[_Slot]]
) -> int:
    """Crossings between two adjacent rows (inversions of lower positions, O(E log E))."""
    pos = {s: i for i, s in enumerate(lower)}
    pairs = sorted((i, pos[t]) for i, s in enumerate(upper) for t in down.get(s, ()) if t in pos)
    seen: list[int] = []
    crossings = 0
    for _, p in pairs:
        # Earlier edges (smaller or equal upper position) that end strictly to the right.
        crossings += len(seen) - bisect.bisect_right(seen, p)
        bisect.insort(seen, p)
    return crossings


def _total_crossings(rows: Sequence[Sequence[_Slot]], down: Mapping[_Slot, Sequence[_Slot]]) -> int:
    return sum(_count_crossings(rows[i], rows[i + 1], down) for i in range(len(rows) - 1))


def _sweep(
    rows: list[list[_Slot]],
    neighbours: Mapping[_Slot, Sequence[_Slot]],
    fixed_index: int,
    moving_index: int,
) -> None:
    fixed = {s: i for i, s in enumerate(rows[fixed_index])}
    moving = rows[moving_index]

    def key(item: tuple[int, _Slot]) -> float:
        i, slot = item
        ps = [fixed[n] for n in neighbours.get(slot, ()) if n in fixed]
        # Without neighbours in the fixed row a node keeps its place.
        return sum(ps) / len(ps) if ps else float(i)

    rows[moving_index] = [s for _, s in sorted(enumerate(moving), key=key)]


def _place(
    chunk: list[_Slot],
    neighbours: Mapping[_Slot, Sequence[_Slot]],
    centre: dict[_Slot, float],
    width_of: Callable[[_Slot], float],
) -> None:
    """Move a row's slots as close as possible to the mean x of their neighbours, keeping
    their order and at least ``H_GAP`` between boxes: least squares under order constraints,
    solved exactly by pool-adjacent-violators (O(n))."""
    offsets = [0.0]
    for a, b in itertools.pairwise(chunk):
        offsets.append(offsets[-1] + (width_of(a) + width_of(b)) / 2 + H_GAP)
    targets = []
    for slot, off in zip(chunk, offsets, strict=True):
        xs = [centre[n] for n in neighbours.get(slot, ()) if n in centre]
        wanted = sum(xs) / len(xs) if xs else centre[slot]
        targets.append(wanted - off)
    # Blocks of (sum, count): merge while a block's mean is below the previous one's.
    blocks: list[list[float]] = []
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    i = 0
    for total, count in blocks:
        for _ in range(int(count)):
            centre[chunk[i]] = total / count + offsets[i]
            i += 1


def layered_layout(
    deps: Mapping[str, Sequence[str]],
    *,
    node_width: float = NODE_WIDTH,
    node_height: float = NODE_HEIGHT,
    max_per_row: int = MAX_PER_ROW,
    sweeps: int | None = None,
) -> Layout:
    """Positions for a DAG given as ``{node_id: [dependency ids]}`` (insertion order matters:
    it is the initial left-to-right order, e.g. the spec's topological order)."""
    ids = list(deps)
    layer = longest_path_layers(deps)
    # A node without dependencies sits right above its first child instead of in the top row:
    # same ordering of the work, far fewer long edges.
    first_child: dict[str, int] = {}
    for target in ids:
        for source in deps[target]:
            if source in layer and layer[source] < layer[target]:
                first_child[source] = min(first_child.get(source, layer[target]), layer[target])
    for node_id in ids:
        if node_id in first_child and not any(p in layer for p in deps[node_id]):
            layer[node_id] = first_child[node_id] - 1
    n_layers = 1 + max(layer.values(), default=-1)
    down: dict[_Slot, list[_Slot]] = {}
    up: dict[_Slot, list[_Slot]] = {}
    rows: list[list[_Slot]] = [[] for _ in range(n_layers)]
    for node_id in ids:
        rows[layer[node_id]].append(node_id)
    edges: list[tuple[str, str]] = []
    for target in ids:
        for source in dict.fromkeys(deps[target]):
            if source not in layer or layer[source] >= layer[target]:
                continue  # unknown id, or the edge that closes a cycle
            edges.append((source, target))
            prev: _Slot = source
            for k in range(layer[source] + 1, layer[target]):
                dummy: _Slot = (source, target, k)
                rows[k].append(dummy)
                down.setdefault(prev, []).append(dummy)
                up.setdefault(dummy, []).append(prev)
                prev = dummy
            down.setdefault(prev, []).append(target)
            up.setdefault(target, []).append(prev)

    # Barycenter sweeps; fewer for big graphs (each sweep is O(E log E)).
    slots = sum(len(r) for r in rows)
    if sweeps is None:
        sweeps = 8 if slots <= 300 else 4 if slots <= 3000 else 2
    best = [list(r) for r in rows]
    best_crossings = _total_crossings(best, down)
    for _ in range(sweeps):
        if best_crossings == 0:
            break
        for i in range(1, n_layers):
            _sweep(rows, up, i - 1, i)
        for i in range(n_layers - 2, -1, -1):
            _sweep(rows, down, i + 1, i)
        crossings = _total_crossings(rows, down)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in rows], crossings
    rows = best

    # Rows top to bottom; a layer wraps onto several rows when it has too many nodes.
    bands: list[list[list[_Slot]]] = []
    for row in rows:
        chunks: list[list[_Slot]] = [[]]
        real = 0
        for slot in row:
            if isinstance(slot, str):
                if real and real % max_per_row == 0:
                    chunks.append([])
                real += 1
            chunks[-1].append(slot)
        bands.append(chunks)
    flat = [chunk for chunks in bands for chunk in chunks if chunk]

    def width_of(slot: _Slot) -> float:
        return node_width if isinstance(slot, str) else DUMMY_WIDTH

    # x: start packed, then pull every slot towards the mean x of its neighbours in the row
    # above (down pass) or below (up pass), keeping the order and the gaps (isotonic fit).
    centre: dict[_Slot, float] = {}
    for chunk in flat:
        x = 0.0
        for slot in chunk:
            centre[slot] = x + width_of(slot) / 2
            x += width_of(slot) + H_GAP
    passes = 4 if slots <= 3000 else 2
    for _ in range(passes):
        for chunk in flat[1:]:
            _place(chunk, up, centre, width_of)
        for chunk in reversed(flat[:-1]):
            _place(chunk, down, centre, width_of)
        for chunk in flat[1:]:
            _place(chunk, up, centre, width_of)
    left = min((centre[s] - width_of(s) / 2 for s in centre), default=0.0)
    right = max((centre[s] + width_of(s) / 2 for s in centre), default=node_width)
    width = right - left

    boxes: dict[str, NodeBox] = {}
    points: dict[_Slot, tuple[float, float]] = {}
    y = MARGIN
    for li, chunks in enumerate(bands):
        order = 0
        for chunk in chunks:
            for slot in chunk:
                x = round(centre[slot] - left + MARGIN, 1)
                if isinstance(slot, str):
                    bx = round(x - node_width / 2, 1)
                    boxes[slot] = NodeBox(slot, bx, y, node_width, node_height, li, order)
                    order += 1
                else:
                    points[slot] = (x, y + node_height / 2)
            y += node_height + V_GAP

    routes = []
    for source, target in edges:
        s, t = boxes[source], boxes[target]
        path = [(s.cx, s.y + s.height)]
        path += [points[(source, target, k)] for k in range(s.layer + 1, t.layer)]
        path.append((t.cx, t.y))
        routes.append(EdgeRoute(source, target, tuple((round(a, 1), round(b, 1)) for a, b in path)))

    layers = tuple(tuple(s for s in row if isinstance(s, str)) for row in rows)
    total_h = y - V_GAP + MARGIN if boxes else 2 * MARGIN + node_height
    return Layout(
        nodes=boxes,
        edges=tuple(routes),
        layers=layers,
        width=round(width + 2 * MARGIN, 1),
        height=round(total_h, 1),
        crossings=best_crossings,
    )


__all__ = ["EdgeRoute", "Layout", "NodeBox", "layered_layout", "longest_path_layers"]

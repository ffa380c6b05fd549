"""The layers of ``docs/architecture.md``, checked on the import graph of ``src/`` (AST, every
first-party import): no module imports a higher layer, and no two modules import each other.

Exempt, on purpose: imports under ``if TYPE_CHECKING:`` (names for annotations, no run-time
dependency) and lazy imports inside functions that stay within or below the importer's layer.
A lazy import that goes up a layer or closes a cycle must be listed below with its reason.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import nbworkflow

SRC = Path(nbworkflow.__file__).parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("exceptions", "events", "config", "outputs", "text", "boundedjson"),
    ("spec", "sanitize", "runlog", "segments", "state", "cache", "sandbox"),
    ("agents",),
    ("approval", "nodes"),
    ("engine", "resume", "report", "staging"),
    ("batch", "chaos"),
    ("cli", "magics", "widgets"),
    ("testing",),
)
"""Bottom to top: a module may import its own layer and the layers below it."""
ROOT_LAYER = 6
"""``nbworkflow/__init__.py``: the public API, importing everything lazily."""

LAZY_UP = {
    (
        "nbworkflow.agents.testing",
        "nbworkflow.testing.messages",
    ): "old import path of the doubles, kept "
    "for users' tests; loaded only when a moved name is asked for",
}
LAZY_CYCLES: dict[frozenset[str], str] = {}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in SRC.rglob("*.py")}


def _targets(current: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = current.split(".") if is_pkg else current.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    found = [
        f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names
    ]
    return [t for t in found if t.split(".")[0] == "nbworkflow"]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@functools.cache
def import_edges() -> list[tuple[str, str, bool, int]]:
    """``(importer, imported, lazy, line)`` for every run-time first-party import."""
    edges: list[tuple[str, str, bool, int]] = []
    for name, path in MODULES.items():
        is_pkg = path.name == "__init__.py"

        def visit(node: ast.AST, lazy: bool, name: str = name, is_pkg: bool = is_pkg) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    for other in child.orelse:
                        visit(other, lazy)
                elif isinstance(child, ast.ImportFrom):
                    for target in _targets(name, is_pkg, child):
                        edges.append((name, target, lazy, child.lineno))
                elif isinstance(child, ast.Import):
                    for alias in child.names:
                        if alias.name.split(".")[0] == "nbworkflow":
                            edges.append((name, alias.name, lazy, child.lineno))
                else:
                    fn = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                    visit(child, lazy or fn)

        visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return [e for e in edges if e[0] != e[1]]


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT_LAYER
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def cycles(edges: list[tuple[str, str, bool, int]]) -> list[frozenset[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b, _, _ in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(MODULES):
        if v not in index:
            connect(v)
    return found


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_goes_up_a_layer() -> None:
    offenders = [
        f"{a}:{line} imports {b} (layer {layer_of(a)} -> {layer_of(b)})"
        for a, b, lazy, line in import_edges()
        if layer_of(b) > layer_of(a) and not (lazy and (a, b) in LAZY_UP)
    ]
    assert offenders == []


def test_no_import_cycles() -> None:
    edges = import_edges()
    assert cycles([e for e in edges if not e[2]]) == []
    lazy = [c for c in cycles(edges) if c not in LAZY_CYCLES]
    assert lazy == [], "a lazy import closes a cycle: remove it or document it in LAZY_CYCLES"


def test_staging_does_not_import_agents_and_nothing_imports_testing() -> None:
    edges = import_edges()
    assert [e for e in edges if e[0].startswith("nbworkflow.staging") and ".agents" in e[1]] == []
    users = {
        (a, b)
        for a, b, _, _ in edges
        if b.startswith("nbworkflow.testing") and not a.startswith("nbworkflow.testing")
    }
    assert users <= set(LAZY_UP)


def test_the_checker_sees_real_imports() -> None:
    """The graph is real: a first-party import found by the AST walk shows up as an edge."""
    edges = {(a, b) for a, b, _, _ in import_edges()}
    assert ("nbworkflow.engine.run", "nbworkflow.nodes.base") in edges
    assert ("nbworkflow.cli.commands", "nbworkflow.report") in edges

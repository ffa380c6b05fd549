"""YAML text -> plain data with a mark (line, column) for every path, in bounded time and memory.

PyYAML's own loaders expand aliases without limit (a 9x9 "billion laughs" never finishes),
recurse once per nesting level (``RecursionError`` near 500) and raise ``ValueError`` for numbers
past Python's digit limit. Here the composer counts nodes and depth as it reads, the alias graph is
sized (and checked for loops) before anything is expanded, and every scalar is built through one
function that turns PyYAML's complaints into located problems.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from ..exceptions import SpecIssue

Path_ = tuple[str | int, ...]

MAX_DEPTH = 100
"""Nesting levels (mappings and lists, after aliases are expanded)."""
MAX_VALUES = 300_000
"""YAML values in a spec, after aliases are expanded (a 10,000-node spec holds about 60,000)."""
MAX_TEXT = 16 * 1024 * 1024
"""Characters of spec text."""
MAX_NUMBER_CHARS = 4300
"""Python's own limit for decimal integers; applied to every base (hex too)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


class Refused(Exception):
    """The text is refused before it is built (too big, too deep, an alias loop)."""

    def __init__(
        self, message: str, line: int | None = None, col: int | None = None, *, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col
        self.reason = reason or message
        """What was refused, in words that fit any YAML document (not only a workflow)."""

    def where(self, source: object) -> str:
        """``source:line:col`` (just ``source`` when no place is known)."""
        return f"{source}:{self.line}:{self.col}" if self.line else str(source)


@dataclass(frozen=True)
class Mark:
    line: int
    col: int


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Bounds:
    """PyYAML's composer, with a ceiling on depth and on the number of nodes it makes."""

    _depth = 0
    _count = 0
    aliases = False
    """Whether any alias was met: only then can the expanded data outgrow the text."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        self._count += 1
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            self.aliases = True
        try:
            if self._depth > MAX_DEPTH or self._count > MAX_VALUES:
                m = self.peek_event().start_mark  # type: ignore[attr-defined]
                what = (
                    f"nesting deeper than {MAX_DEPTH} levels"
                    if self._depth > MAX_DEPTH
                    else f"more than {MAX_VALUES:,} values"
                )
                raise Refused(
                    f"the spec is too large to read: {what}; a workflow needs far less "
                    "(move big data into an input file)",
                    m.line + 1,
                    m.column + 1,
                    reason=what,
                )
            node: yaml.Node = super().compose_node(parent, index)  # type: ignore[misc]
            return node
        finally:
            self._depth -= 1


class _Slow(_Bounds, yaml.SafeLoader):
    """PyYAML's own scanner and parser (when PyYAML was built without libyaml)."""


try:
    from yaml._yaml import CParser

    class _Fast(_Bounds, Composer, CParser, SafeConstructor, Resolver):
        """libyaml's scanner and parser (5x faster than PyYAML's) under PyYAML's Python
        composer: libyaml's own composer recurses in C, with no depth bound."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _LOADER: type[Any] = _Fast
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _LOADER = _Slow


def compose(text: str) -> yaml.Node | None:
    """The node graph of the one document in ``text`` (aliases shared, not expanded; sized
    and checked for loops when there are any). Raises ``yaml.YAMLError`` for malformed YAML
    and ``Refused`` past the limits."""
    if len(text) > MAX_TEXT:
        raise Refused(
            f"the spec is {len(text):,} characters; at most {MAX_TEXT:,} are read "
            "(move big data into an input file)",
            1,
            1,
            reason=f"{len(text):,} characters; at most {MAX_TEXT:,} are read",
        )
    bad = _UNENCODABLE.search(text)
    if bad:  # a lone surrogate: libyaml cannot even be handed the text
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise Refused(
            f"character U+{ord(bad.group(0)):04X} is not allowed in YAML: remove it", line, col
        )
    loader = _LOADER(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        if node is not None and loader.aliases:
            check_expansion(node)
        return node
    finally:
        loader.dispose()


_UNENCODABLE = re.compile("[\ud800-\udfff]")


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` in bounded time and memory, for YAML files other than workflows
    (OpenAPI documents, scripts of answers): ``safe_load`` expands aliases without limit (a
    small "billion laughs" OpenAPI file took 48 s to serve). Raises ``Refused`` past the
    limits (``Refused.reason`` says what, in words that fit any file) and ``yaml.YAMLError``."""
    node = compose(text)
    if node is None:
        return None
    return yaml.SafeLoader("").construct_document(node)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node) -> None:
    """Size and depth of ``root`` once every alias is expanded, computed over the shared graph
    (each node visited once), so an alias bomb is refused before it costs anything."""
    size: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) when expanded
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = [size[id(c)] for c in _children(node)]
            values = 1 + sum(k[0] for k in kids)
            depth = 1 + max((k[1] for k in kids), default=0)
            if values > MAX_VALUES or depth > MAX_DEPTH:
                m = _mark(node)
                what = (
                    f"more than {MAX_VALUES:,} values"
                    if values > MAX_VALUES
                    else f"nesting deeper than {MAX_DEPTH} levels"
                )
                raise Refused(
                    f"aliases (*name) expand this to {what}; repeat less, or move big data "
                    "into an input file",
                    m.line,
                    m.col,
                    reason=f"aliases (*name) expand this to {what}",
                )
            size[key] = (values, depth)
            continue
        if key in size:
            continue
        if key in on_path:
            m = _mark(node)
            raise Refused(
                "an alias (*name) refers to a mapping or list that contains it: the value would "
                "be infinite; remove the self-reference",
                m.line,
                m.col,
                reason="an alias (*name) refers to a mapping or list that contains it",
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


class Located:
    """Plain Python data built from a YAML node graph, with a mark for every path.

    Call ``compose`` and ``check_expansion`` first: ``build`` trusts that the graph is acyclic
    and small once expanded."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.value_marks: dict[Path_, Mark] = {}
        self.key_marks: dict[Path_, Mark] = {}
        self.issues: list[SpecIssue] = []
        self.broken: set[Path_] = set()
        """Values already reported as unreadable (not reported again as the wrong type)."""
        self._constructor = yaml.SafeLoader("")

    def mark(self, path: Path_, *, key: bool = False) -> Mark | None:
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path:
            if path in self.value_marks:
                return self.value_marks[path]
            path = path[:-1]
        return self.value_marks.get(())

    def issue(
        self,
        path: Path_,
        message: str,
        *,
        key: bool = False,
        node_id: str | None = None,
        severity: Literal["error", "warning"] = "error",
    ) -> SpecIssue:
        m = self.mark(path, key=key)
        return SpecIssue(
            message=message,
            file=self.filename,
            line=m.line if m else None,
            col=m.col if m else None,
            path=format_path(path),
            node_id=node_id,
            severity=severity,
        )

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.value_marks[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.value_marks[(*path, "?")] = _mark(key_node)
                self.issues.append(
                    self.issue((*path, "?"), "keys must be plain names, not a mapping or list")
                )
                continue
            key = key_node.value
            child = (*path, key)
            self.key_marks[child] = _mark(key_node)
            if key in out:
                self.issues.append(
                    self.issue(child, f"duplicate key '{key}': remove one of them", key=True)
                )
                continue
            out[key] = self.build(value_node, child)
        for value_node in merges:
            self._merge(value_node, path, out)
        return out

    def _merge(self, value: yaml.Node, path: Path_, into: dict[str, Any]) -> None:
        """YAML merge keys (``<<: *defaults``): keys written in the mapping win over merged
        ones, earlier merges over later ones (the YAML 1.1 merge type, as PyYAML does it)."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.value_marks[(*path, "<<")] = _mark(source)
                self.issues.append(
                    self.issue(
                        (*path, "<<"),
                        "'<<' merges a mapping (e.g. <<: *defaults) or a list of mappings",
                    )
                )
                continue
            nested: list[yaml.Node] = []
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE_TAG:
                    nested.append(value_node)
                elif isinstance(key_node, yaml.ScalarNode) and key_node.value not in into:
                    child = (*path, key_node.value)
                    self.key_marks[child] = _mark(key_node)
                    into[key_node.value] = self.build(value_node, child)
            for value_node in nested:
                self._merge(value_node, path, into)

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        if node.tag == _INT_TAG and len(node.value) > MAX_NUMBER_CHARS:
            self.issues.append(
                self.issue(
                    path,
                    f"a number of {len(node.value):,} characters is too long (at most "
                    f"{MAX_NUMBER_CHARS:,}); quote it if it is text",
                )
            )
            self.broken.add(path)
            return None
        try:
            return self._constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.issues.append(self.issue(path, f"cannot read this value: {problem}"))
            self.broken.add(path)
            return None


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def decode(data: bytes, filename: str) -> str | SpecIssue:
    """UTF-8 text, or the located problem (line and byte column of the first bad byte)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return SpecIssue(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at byte column {col}); "
            "save it as UTF-8",
            filename,
            line,
            col,
        )

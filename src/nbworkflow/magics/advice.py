"""Advice that fits a notebook, and the cell's own coordinates.

The core's messages are written for a shell (``export NAME=...`` cannot reach a running kernel;
``--var`` is a CLI option). The magic shows them through ``for_notebook``, which says what works
in a notebook: ``%env``, a variable defined in a cell above, a dict variable for ``--script``.
Pure text functions, no IPython.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path

CELL_LINE_OFFSET = 1
"""The ``%%workflow`` line is the editor's line 1; the YAML starts on line 2."""

_EXPORT = re.compile(r"\bexport ([A-Z_][A-Z0-9_]*)=")
_UNDEFINED = re.compile(
    r"undefined variable \$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}:.*?\$\{(?P=name):-default\}"
)
_SCRIPT_FILE = re.compile(r"--script FILE\b")
_SET_KEY = re.compile(r"\bset ([A-Z][A-Z0-9_]*_KEY)\b(?! \(%env)")


_SHOWN_WARNINGS: set[str] = set()


def warnings_to_show(warnings: Iterable[object]) -> list[str]:
    """The spec's warnings not yet shown in this kernel, as lines: running a cell again does
    not repeat what it already said."""
    out = []
    for warning in warnings:
        line = f"warning: {for_notebook(str(warning))}"
        if line not in _SHOWN_WARNINGS:
            _SHOWN_WARNINGS.add(line)
            out.append(line)
    return out


def for_notebook(text: str) -> str:
    """``text`` with shell advice replaced by what works in a notebook cell."""
    text = _EXPORT.sub(r"%env \1=", text)
    text = _SET_KEY.sub(r"set \1 (%env \1=... in a cell)", text)
    text = _UNDEFINED.sub(
        lambda m: (
            f"undefined variable ${{{m['name']}}}: define {m['name']} in a cell above "
            f"({m['name']} = ...), or pass --var {m['name']}=..., or set it with "
            f"%env {m['name']}=..., or write ${{{m['name']}:-default}}"
        ),
        text,
    )
    return _SCRIPT_FILE.sub("--script FILE_OR_DICT_VAR", text)


_UNKNOWN = re.compile(r"unrecognized arguments?: (.+)$", re.M)


def did_you_mean(message: str, options: Iterable[str]) -> str:
    """An argparse "unrecognized arguments" message with the closest known option named."""
    known = sorted(o for o in options if o.startswith("--"))
    hints = []
    for m in _UNKNOWN.finditer(message):
        for word in m.group(1).split():
            if not word.startswith("-"):
                continue
            close = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
            if close:
                hints.append(f"{word}: did you mean {close[0]}?")
    return message if not hints else message.rstrip() + "\n" + "\n".join(hints)


NEXT_TO_NOTEBOOK = {
    "script": ("{name}.script.yaml", "{name}.script.json", "script.yaml", "script.json"),
    "cassette": ("{name}.cassette.jsonl", "cassette.jsonl"),
}
"""What ``--provider auto`` looks for in the notebook's folder (the kernel's working folder)."""


def companion(kind: str, workflow: str, folder: Path = Path()) -> Path | None:
    """The first file of ``NEXT_TO_NOTEBOOK[kind]`` that exists in ``folder``."""
    for pattern in NEXT_TO_NOTEBOOK[kind]:
        path = folder / pattern.format(name=workflow)
        if path.is_file():
            return path
    return None


__all__ = ["CELL_LINE_OFFSET", "NEXT_TO_NOTEBOOK", "companion", "did_you_mean", "for_notebook"]

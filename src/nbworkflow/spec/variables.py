"""``${VAR}`` interpolation of spec strings.

``${NAME}`` is the variable's value; ``${NAME:-default}`` falls back to ``default`` when NAME is
not set, and the default may itself hold ``${OTHER}`` or ``${OTHER:-...}`` (nested up to
``MAX_NESTING`` levels); ``$$`` is a literal ``$``. A value is inserted as it is: it is never
interpolated again, so a variable's value cannot pull in another variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_NESTING = 8

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Interpolation:
    """One spec's interpolation: which variables were used, which were missing."""

    def __init__(self, lookup: Mapping[str, str]) -> None:
        self.lookup = lookup
        self.used: dict[str, str] = {}
        self.problems: list[str] = []

    def expand(self, text: str, level: int = 0) -> str:
        """``text`` with every reference replaced; problems go to ``self.problems``."""
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            if text.startswith("$$", j):
                out.append("$")
                i = j + 2
                continue
            m = _NAME.match(text, j + 2) if text.startswith("${", j) else None
            if m is None:
                out.append("$")
                i = j + 1
                continue
            name, k = m.group(0), m.end()
            if text.startswith("}", k):
                out.append(self._value(name, None, level))
                i = k + 1
            elif text.startswith(":-", k) and (end := _closing(text, k + 2)) >= 0:
                out.append(self._value(name, text[k + 2 : end], level))
                i = end + 1
            else:  # not a reference after all (``${A B}``, unclosed): kept as written
                out.append(text[j:k])
                i = k
        return "".join(out)

    def _value(self, name: str, default: str | None, level: int) -> str:
        if name in self.lookup:
            self.used[name] = self.lookup[name]
            return self.lookup[name]
        if default is None:
            self.problems.append(
                f"undefined variable ${{{name}}}: set the environment variable {name}, pass it "
                f"with --var {name}=... (CLI) / variables={{'{name}': ...}}, or write "
                f"${{{name}:-default}}"
            )
            return f"${{{name}}}"
        if level >= MAX_NESTING:
            self.problems.append(
                f"defaults nested more than {MAX_NESTING} deep in ${{{name}:-...}}: simplify it"
            )
            return default
        return self.expand(default, level + 1)


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` that closes a default starting at ``start`` (``${`` opens a level,
    ``$$`` is skipped), or -1."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == "$" and text.startswith("$$", i):
            i += 2
            continue
        if c == "$" and text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1

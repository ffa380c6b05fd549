"""What an adaptive node leaves out, inferred before its first attempt and said in the decision
log (a ``Decision`` with verdict ``inferred`` and data ``{field, value, source}``).

The article's adaptive node names only its upstream and its action. So, in this order:

* the code: the one upstream with ``output: code``; else the one upstream whose text holds
  exactly one Python function (a fenced block or a top-level ``def``);
* the entrypoint: the one public top-level function of that code; else a quoted ``name(`` in the
  node's action, then in the upstream's (the article's ``'sync_to_crm(user_dict)'``) or a word of
  the node's action that the code defines;
* the samples: the keys the code reads of the entrypoint's first parameter (``user["email"]``,
  ``user.get("plan")``) filled by name, kept in step with each rewrite that reads more; else
  asked of the model once (its own request, so replay and cassettes record it);
* staging: the node's own, else the run's (``--staging``, ``STAGING_URL``); ``config`` decides
  that, this module only says where it came from.

What cannot be inferred is a ``WorkflowError`` that names the field and the fix.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...exceptions import WorkflowError
from ...outputs import NodeOutput

MAX_MODEL_SAMPLES = 3

_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", re.S | re.I)
_QUOTED_CALL = re.compile(r"""['"`]([A-Za-z_]\w*)\(""")
_WORD = re.compile(r"[A-Za-z_]\w*")

# Values a person would write for keys of these names (the article's test user first).
_BY_NAME: dict[str, Any] = {
    "email": "dev@example.com",
    "first": "Ada",
    "first_name": "Ada",
    "firstname": "Ada",
    "given_name": "Ada",
    "last": "Lovelace",
    "last_name": "Lovelace",
    "lastname": "Lovelace",
    "family_name": "Lovelace",
    "surname": "Lovelace",
    "name": "Ada Lovelace",
    "full_name": "Ada Lovelace",
    "username": "ada",
    "plan": "pro",
    "tier": "pro",
    "id": 1,
    "user_id": 1,
    "age": 36,
    "phone": "+1-555-0100",
    "company": "Analytical Engines Ltd",
    "country": "GB",
    "city": "London",
    "currency": "USD",
    "amount": 100,
    "price": 9.99,
    "quantity": 1,
    "active": True,
    "status": "active",
    "created_at": "2024-01-01T00:00:00Z",
}

SAMPLES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_MODEL_SAMPLES,
    "items": {},
}


@dataclass(frozen=True, slots=True)
class Inferred:
    field: str
    value: Any
    source: str
    """Where it came from, in words (``the code's one public function``...)."""

    def data(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "source": self.source}


@dataclass(frozen=True, slots=True)
class CodeSource:
    node_id: str
    code: str
    """The code to check: the output itself, or the function found in its text."""
    found_in_text: bool


def _fix(where: str, field: str, example: str) -> str:
    return f"adaptive node {where}: cannot infer '{field}': set it, e.g. {example}"


def _python(text: str) -> str | None:
    """The Python code in ``text``: its one fenced block that defines a function, or the text
    itself when it is Python, or the lines from its one top-level ``def`` to the end of that
    function's body (prose around it)."""
    fences = [m.group(1) for m in _FENCE.finditer(text) if "def " in m.group(1)]
    if len(fences) == 1:
        return fences[0].strip("\n") + "\n"
    if fences:
        return None
    if _functions(text):  # the whole text is Python (a model that answered with bare code)
        return text
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("def ")]
    if len(starts) != 1:
        return None
    body = [lines[starts[0]]]
    for line in lines[starts[0] + 1 :]:
        if line.strip() and not line[:1].isspace():
            break
        body.append(line)
    code = "\n".join(body).rstrip() + "\n"
    return code if _functions(code) else None


def _tree(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _functions(code: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = _tree(code)
    if tree is None:
        return []
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def public_functions(code: str) -> list[str]:
    """Names of the top-level functions of ``code`` that do not start with ``_``."""
    return [f.name for f in _functions(code) if not f.name.startswith("_")]


def code_source(
    node_id: str,
    where: str,
    upstream: dict[str, NodeOutput],
    *,
    code_from: str | None,
    tests_from: str | None,
) -> CodeSource:
    """The node whose output is the code to check, and that code."""
    if code_from:
        return CodeSource(code_from, upstream[code_from].content, False)
    others = {k: v for k, v in upstream.items() if k != tests_from}
    coded = [k for k, v in others.items() if v.format == "code"]
    if len(coded) == 1:
        return CodeSource(coded[0], others[coded[0]].content, False)
    if not coded:
        found = {k: c for k, v in others.items() if (c := _python(v.content)) is not None}
        if len(found) == 1:
            ((up, code),) = found.items()
            return CodeSource(up, code, True)
    candidates = coded or sorted(others)
    names = ", ".join(candidates) or "none"
    hint = "" if coded else ", or give that node 'output: code'"
    raise WorkflowError(
        _fix(
            where,
            "code_from",
            f"code_from: {next(iter(candidates), 'generate_mapper')} (the upstream node that "
            f"wrote the code; candidates: {names}){hint}",
        )
    )


def entrypoint(code: str, actions: Sequence[tuple[str, str]]) -> Inferred | None:
    """The function to call: the code's one public function, else a name in the actions
    (``(source, text)`` pairs, the node's own first)."""
    public = public_functions(code)
    if len(public) == 1:
        return Inferred("entrypoint", public[0], "the code's one public function")
    defined = set(public)
    for source, text in actions:
        quoted = list(dict.fromkeys(_QUOTED_CALL.findall(text)))
        if defined:
            quoted = [q for q in quoted if q in defined]
        if len(quoted) == 1:
            return Inferred("entrypoint", quoted[0], f"'{quoted[0]}(' in {source}")
        words = [w for w in dict.fromkeys(_WORD.findall(text)) if w in defined]
        if len(words) == 1:
            return Inferred("entrypoint", words[0], f"'{words[0]}' in {source}")
    return None


def keys_read(code: str, function: str) -> list[str]:
    """String keys the function reads of its first parameter: ``p["k"]`` and ``p.get("k")``,
    in the order they appear."""
    fn = next((f for f in _functions(code) if f.name == function), None)
    if fn is None or not fn.args.args:
        return []
    param = fn.args.args[0].arg
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(fn):
        key: object = None
        if not isinstance(node, (ast.Subscript, ast.Call)):
            continue
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == param
            and isinstance(node.slice, ast.Constant)
        ):
            key = node.slice.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == param
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            key = node.args[0].value
        if isinstance(key, str):
            found.append((node.lineno, node.col_offset, key))
    return list(dict.fromkeys(k for _, _, k in sorted(found)))


def value_for(key: str) -> Any:
    """A plausible value for a key, by its name (``email`` -> an address, ``*_id`` -> 1)."""
    low = key.lower()
    if low in _BY_NAME:
        return _BY_NAME[low]
    if low.endswith("email"):
        return _BY_NAME["email"]
    if low.endswith("_id") or low.endswith("id"):
        return 1
    if low.startswith(("is_", "has_")):
        return True
    return f"example {key}"


def sample_from_keys(keys: Sequence[str], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """One sample with every key (keeping the values an earlier sample gave)."""
    out = dict(previous or {})
    for key in keys:
        out.setdefault(key, value_for(key))
    return out


def check_model_samples(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_MODEL_SAMPLES:
        raise WorkflowError(
            _fix(where, "samples", "samples: [{email: dev@example.com, first: Ada}]")
            + f" (the model did not give a list of 1 to {MAX_MODEL_SAMPLES} inputs)"
        )
    return list(data)


def samples_prompt(action: str, entrypoint: str, code: str) -> str:
    return (
        f"The function `{entrypoint}` below is checked by calling it with sample inputs "
        f"(task: {action.strip()}). Give 1 to {MAX_MODEL_SAMPLES} realistic inputs as a JSON "
        "array: each item is the one argument of a call (e.g. a dict of the record it maps). "
        f"Invent plausible values, never real personal data.\n\n```python\n{code}\n```"
    )


__all__ = [
    "MAX_MODEL_SAMPLES",
    "SAMPLES_SCHEMA",
    "CodeSource",
    "Inferred",
    "check_model_samples",
    "code_source",
    "entrypoint",
    "keys_read",
    "public_functions",
    "sample_from_keys",
    "samples_prompt",
    "value_for",
]

"""A deterministic repair agent for any document: the offline model of ``nbworkflow chaos``.

``repair.py`` rebuilds a CRM mapper from the schema's ``x-source`` annotations; a document
nobody annotated (Petstore) has none, so this agent edits the code it is given instead. It
reads the entrypoint's returned dict literal and the 422 ``detail``: a missing field takes the
value of a field the schema no longer lists (a rename; nested objects collect the fields moved
into them), a constant from the schema (``default``/``example``/first ``enum``) otherwise; wrong
types are converted; enum values are matched to the allowed spelling at run time. Like any model
it only sees the (sanitized) prompt. ``chaos_responder`` picks ``repair`` when the schema has
``x-source`` and this agent otherwise.
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Mapping
from typing import Any

from ..agents.base import ModelRequest
from ..staging.example import example_value
from ..staging.repair import _DEF, _ENTRY, _PY_FENCE, find_staging_error, repair

_PICK = '''
def _pick(value, allowed):
    """The allowed value that spells ``value`` (case, prefixes and suffixes aside)."""
    def norm(text):
        return "".join(c for c in str(text).lower() if c.isalnum())
    for test in (lambda a: norm(a) == norm(value), lambda a: norm(value) in norm(a),
                 lambda a: norm(a) in norm(value)):
        for candidate in allowed:
            if test(candidate):
                return candidate
    return allowed[0]
'''

Tree = dict[str, Any]
"""Key -> ``ast.expr`` or a nested ``Tree`` (a dict literal inside the dict literal)."""

_CASTS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


def _tree(node: ast.Dict) -> Tree | None:
    out: Tree = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None
        sub = _tree(value) if isinstance(value, ast.Dict) else None
        out[key.value] = sub if sub is not None else value
    return out


def _to_ast(tree: Tree) -> ast.Dict:
    keys: list[ast.expr | None] = [ast.Constant(k) for k in tree]
    values = [_to_ast(v) if isinstance(v, dict) else v for v in tree.values()]
    return ast.Dict(keys=keys, values=values)


def _returned_dict(fn: ast.FunctionDef) -> ast.Return | None:
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    last = returns[-1] if returns else None
    return last if last is not None and isinstance(last.value, ast.Dict) else None


def _props(schema: Any) -> Mapping[str, Any]:
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return props if isinstance(props, Mapping) else {}


class _Healer:
    def __init__(self, arg: str) -> None:
        self.arg = arg
        self.uses_pick = False
        self.notes: list[str] = []

    def value_for(self, expected: Any, orphans: Tree, name: str) -> Any:
        if isinstance(expected, Mapping) and _props(expected) and expected.get("type") != "array":
            wanted = set(_props(expected))
            renamed = [k for k, v in orphans.items() if isinstance(v, dict) and wanted & set(v)]
            if renamed:  # the whole object was renamed
                self.notes.append(f"'{name}' takes the object sent as '{renamed[0]}'")
                return orphans.pop(renamed[0])
            sub: Tree = {}
            required = set(expected.get("required") or ())
            for key, prop in _props(expected).items():
                if key in orphans:
                    sub[key] = orphans.pop(key)
                elif key in required:
                    sub[key] = self.value_for(prop, orphans, key)
            self.notes.append(f"built '{name}' from {sorted(sub) or 'nothing'}")
            return sub
        scalars = [k for k, v in orphans.items() if not isinstance(v, dict)]
        if scalars:
            old = (difflib.get_close_matches(name, scalars, n=1, cutoff=0.0) or scalars)[0]
            self.notes.append(f"'{name}' takes what was sent as '{old}'")
            return self.retype(orphans.pop(old), expected)
        source = expected.get("x-source") if isinstance(expected, Mapping) else None
        if isinstance(source, str):
            expr = ast.parse(f"{self.arg}[{source!r}]", mode="eval").body
            return self.retype(expr, expected)
        value = example_value(expected)
        self.notes.append(f"'{name}' is the constant {value!r} the schema gives")
        return ast.Constant(value)

    def retype(self, expr: Any, expected: Any) -> Any:
        if not isinstance(expected, Mapping) or isinstance(expr, dict):
            return expr
        if isinstance(expected.get("enum"), list) and expected["enum"]:
            return self.pick(expr, expected["enum"])
        cast = _CASTS.get(str(expected.get("type")))
        if cast is None:
            return expr
        if isinstance(expr, ast.Constant):
            value = expr.value
            try:
                if cast == "str":
                    return ast.Constant(
                        str(value).lower() if isinstance(value, bool) else str(value)
                    )
                return ast.Constant({"int": int, "float": float, "bool": bool}[cast](value))
            except (TypeError, ValueError):
                pass
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Name)
            and expr.args
            and expr.func.id in _CASTS.values()
        ):
            expr = expr.args[0]  # str(int(x)) -> str(x)
        return ast.Call(func=ast.Name(cast, ast.Load()), args=[expr], keywords=[])

    def pick(self, expr: Any, allowed: list[Any]) -> Any:
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Name)
            and expr.func.id == "_pick"
            and expr.args
        ):
            expr = expr.args[0]
        if all(isinstance(v, str) for v in allowed):
            self.uses_pick = True
            literal = ast.List([ast.Constant(v) for v in allowed], ast.Load())
            return ast.Call(func=ast.Name("_pick", ast.Load()), args=[expr, literal], keywords=[])
        return ast.Constant(allowed[0])

    def apply(
        self, tree: Tree, schema: Any, detail: list[dict[str, Any]], path: tuple[str, ...]
    ) -> Tree:
        """The payload tree fixed at one object level (recursing into nested dicts)."""
        props = _props(schema)
        here = [d for d in detail if tuple(d.get("loc", ())[1:-1]) == path]
        orphans: Tree = {k: v for k, v in tree.items() if props and k not in props}
        out: Tree = {k: v for k, v in tree.items() if k not in orphans}
        for d in here:
            name = str(d.get("loc", ["body", ""])[-1])
            kind = d.get("type")
            expected = d.get("expected", props.get(name))
            if kind == "missing":
                out[name] = self.value_for(expected, orphans, name)
            elif kind in ("wrong_type", "enum") and name in out:
                out[name] = self.retype(out[name], props.get(name, expected))
                self.notes.append(f"'{name}' converted to the schema's {kind.replace('_', ' ')}")
        for key, value in list(out.items()):
            if isinstance(value, dict):
                out[key] = self.apply(value, props.get(key), detail, (*path, key))
        closed = isinstance(schema, Mapping) and schema.get("additionalProperties") is False
        if not closed:  # the API ignores extra fields: keep what nobody complained about
            out.update(orphans)
        return {
            k: out[k]
            for k in [*[p for p in props if p in out], *[k for k in out if k not in props]]
        }


def heal(prompt: str) -> dict[str, str]:
    """``{rationale, code}`` for an adaptive node's prompt (see the module docstring)."""
    current = _PY_FENCE.search(prompt)
    code = current.group(1) if current else ""
    error = find_staging_error(prompt)
    entry = _ENTRY.search(prompt)
    first = _DEF.search(code)
    name = entry.group(1) if entry else (first.group(1) if first else "")
    unchanged = {"rationale": "", "code": code}
    if error is None:
        unchanged["rationale"] = "no HTTP 422 body with a schema in the error: code left as is"
        return unchanged
    try:
        module = ast.parse(code)
    except SyntaxError:
        unchanged["rationale"] = "the current code does not parse: left as is"
        return unchanged
    fn = next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    ret = _returned_dict(fn) if fn is not None else None
    tree = _tree(ret.value) if ret is not None and isinstance(ret.value, ast.Dict) else None
    if fn is None or ret is None or tree is None:
        unchanged["rationale"] = f"{name or 'the entrypoint'} does not return a dict literal"
        return unchanged
    healer = _Healer(fn.args.args[0].arg if fn.args.args else "value")
    detail = [d for d in error.get("detail", []) if isinstance(d, dict)]
    ret.value = _to_ast(healer.apply(tree, error["schema"], detail, ()))
    has_pick = any(isinstance(n, ast.FunctionDef) and n.name == "_pick" for n in module.body)
    source = ast.unparse(ast.fix_missing_locations(module))
    if healer.uses_pick and not has_pick:
        source = _PICK.lstrip() + "\n\n" + source
    problems = "; ".join(f"{d.get('field') or 'body'}: {d.get('msg', '?')}" for d in detail)
    version = error.get("contract_version", "?")
    return {
        "rationale": f"Staging rejected the payload under contract v{version} ({problems}). "
        + "; ".join(healer.notes or ["no field-level change found"])
        + ".",
        "code": source + "\n",
    }


def _has_source(schema: Any) -> bool:
    return "x-source" in json.dumps(schema, default=str)


def chaos_responder(request: ModelRequest) -> dict[str, str]:
    """``ScriptedProvider`` responder: ``repair`` for x-source schemas, ``heal`` otherwise."""
    prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    error = find_staging_error(prompt)
    if error is not None and _has_source(error.get("schema")):
        return repair(prompt)
    return heal(prompt)


__all__ = ["chaos_responder", "heal"]

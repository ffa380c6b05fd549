"""Structured output: what validating one model answer costs, next to its baselines.

    python bench/structured.py [--records 20] [--rounds 7] [--number 200]

Per answer, in one run (median of ``--rounds`` timings of ``--number`` answers each):
- plain Pydantic ``model_validate_json`` on the bare JSON (the floor any parser pays);
- nbworkflow's path (``agents.structured.validate_answer``) for a code answer, fenced as models
  send it;
- a JSON answer with the node's JSON Schema (``--records`` records): nbworkflow's path, the same
  data through a typed Pydantic model, and ``jsonschema`` with a validator compiled once (what
  schema checking alone costs when nothing is rebuilt per answer), and ``fastjsonschema``
  compiled once (schema checks as generated Python code). Goal: at most 1 ms for 20;
- instructor's parser on the same text (``extract_json_from_codeblock`` + ``model_validate_json``,
  its Markdown-JSON mode), if instructor is installed.
Ratios are against plain ``model_validate_json`` of the same answer, measured in this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nbworkflow.agents.structured import CodeAnswer, validate_answer

CODE = '''from datetime import date, timedelta


def due_for_reminder(invoices, today):
    """Invoices to remind today: due in three days, unpaid, not reminded yet."""
    target = (today + timedelta(days=3)).isoformat()
    out = []
    for invoice in invoices:
        if invoice["due"] != target or invoice["paid"]:
            continue
        if invoice.get("reminded"):
            continue
        out.append(invoice)
    return out
'''


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    email: str
    name: str
    tier: Literal["free", "pro", "enterprise"]
    active: bool
    tags: list[str]


class Customers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[Customer]


class CustomersAnswer(BaseModel):
    rationale: str = ""
    data: Customers


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
                    "name": {"type": "string", "minLength": 1},
                    "tier": {"enum": ["free", "pro", "enterprise"]},
                    "active": {"type": "boolean"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["id", "email", "name", "tier", "active", "tags"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["customers"],
    "additionalProperties": False,
}


def fenced(value: Any) -> str:
    return "Here is the answer:\n```json\n" + json.dumps(value, indent=2) + "\n```\n"


def per_call(fn: Callable[[], object], rounds: int, number: int) -> float:
    """Median seconds per call."""
    fn()  # warm caches and imports
    times = timeit.repeat(fn, repeat=rounds, number=number)
    return statistics.median(times) / number


def instructor_parser() -> Callable[[str], str] | None:
    try:
        from instructor.v2.core.json import extract_json_from_codeblock
    except ImportError:
        try:
            from instructor.utils import (  # type: ignore[no-redef,attr-defined]
                extract_json_from_codeblock,
            )
        except ImportError:
            return None
    return extract_json_from_codeblock  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    rounds, number = args.rounds, args.number

    code_value = {"rationale": "A pure function; easy to test.", "code": CODE}
    code_bare, code_text = json.dumps(code_value), fenced(code_value)
    records = [
        {
            "id": i,
            "email": f"user{i}@example.com",
            "name": f"User {i}",
            "tier": ("free", "pro", "enterprise")[i % 3],
            "active": i % 2 == 0,
            "tags": ["crm", f"cohort-{i % 4}"],
        }
        for i in range(args.records)
    ]
    json_value = {"rationale": "All customers.", "data": {"customers": records}}
    json_bare, json_text = json.dumps(json_value), fenced(json_value)
    # Every path must accept the same answers before it is timed.
    assert validate_answer(code_text, "code").code == CODE  # type: ignore[attr-defined]
    assert validate_answer(json_text, "json", SCHEMA).data == json_value["data"]  # type: ignore[attr-defined]

    import jsonschema  # type: ignore[import-untyped]

    compiled = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    data = json_value["data"]

    rows: list[tuple[str, float, float]] = []
    code_base = per_call(lambda: CodeAnswer.model_validate_json(code_bare), rounds, number)
    rows.append(("code: pydantic model_validate_json (bare JSON)", code_base, code_base))
    rows.append(
        (
            "code: nbworkflow validate_answer (fenced)",
            per_call(lambda: validate_answer(code_text, "code"), rounds, number),
            code_base,
        )
    )
    json_base = per_call(lambda: CustomersAnswer.model_validate_json(json_bare), rounds, number)
    n = args.records
    rows.append((f"json {n} records: pydantic typed model (bare JSON)", json_base, json_base))
    ours = per_call(lambda: validate_answer(json_text, "json", SCHEMA), rounds, number)
    rows.append((f"json {n} records: nbworkflow validate_answer + schema", ours, json_base))
    rows.append(
        (
            f"json {n} records: jsonschema, validator compiled once",
            per_call(lambda: compiled.validate(data), rounds, number),
            json_base,
        )
    )
    try:  # nbformat's dependency: schema checking compiled to Python code
        import fastjsonschema  # type: ignore[import-untyped]
    except ImportError:
        fastjsonschema = None
    if fastjsonschema is not None:
        fast = fastjsonschema.compile(SCHEMA)
        rows.append(
            (
                f"json {n} records: fastjsonschema, compiled once",
                per_call(lambda: fast(data), rounds, number),
                json_base,
            )
        )
    extract = instructor_parser()
    if extract is not None:
        rows.append(
            (
                "code: instructor extract + model_validate_json",
                per_call(
                    lambda: CodeAnswer.model_validate_json(extract(code_text)), rounds, number
                ),
                code_base,
            )
        )
        rows.append(
            (
                f"json {n} records: instructor extract + model_validate_json",
                per_call(
                    lambda: CustomersAnswer.model_validate_json(extract(json_text)), rounds, number
                ),
                json_base,
            )
        )

    width = max(len(r[0]) for r in rows)
    print(f"per answer, median of {rounds} x {number} (ratio: against the bare Pydantic row)")
    for label, seconds, base in rows:
        print(f"  {label:<{width}}  {seconds * 1e6:9.1f} us  {seconds / base:6.1f}x")
    if extract is None:
        print("  (instructor not installed: pip install instructor to compare)")
    verdict = "met" if ours <= 1e-3 else "NOT met"
    print(
        f"goal: a {n}-record JSON answer with a schema in <= 1 ms: {verdict} ({ours * 1e3:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

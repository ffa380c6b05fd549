"""What validating one model answer costs: a ``json`` node's answer of N records checked
against the node's JSON Schema, next to ``jsonschema.validate`` (the baseline: it builds a
validator and checks the schema against its meta-schema for every answer, as we used to).

    python bench/structured.py [--records 20] [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from nbworkflow.agents.structured import validate_answer

SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string", "minLength": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "boolean"},
        },
        "required": ["id", "email", "name"],
        "additionalProperties": False,
    },
}


def records(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "email": f"u{i}@example.com", "name": f"User {i}", "tags": ["a"], "active": True}
        for i in range(n)
    ]


def per_call(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    data = records(args.records)
    text = json.dumps({"rationale": "r", "data": data})
    ours = per_call(lambda: validate_answer(text, "json", SCHEMA), args.repeat)
    schema_only = per_call(lambda: jsonschema.validate(data, SCHEMA), args.repeat)
    parse_only = per_call(lambda: validate_answer(text, "json", None), args.repeat)
    print(f"answer of {args.records} records (parse + pydantic + schema):")
    print(f"  validate_answer, validator cached:   {ours * 1e3:7.3f} ms")
    print(f"  validate_answer, no schema:          {parse_only * 1e3:7.3f} ms")
    print(f"  jsonschema.validate alone (before):  {schema_only * 1e3:7.3f} ms")
    print(f"  whole answer now / schema check before: {ours / schema_only:.2f}x")


if __name__ == "__main__":
    main()

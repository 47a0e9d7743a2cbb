"""Check one JSON value against one JSON Schema, in a child process of its own (see `llm/lessons/schemas.py`).

Reads `{"schema": ..., "value": ...}` on standard input and prints `{"problem": null}` or
`{"problem": "<one sentence>"}`. It imports nothing from this project, so it runs by its file
name from any folder; no reference outside the schema is ever retrieved.
"""

from __future__ import annotations

import json
import sys

import jsonschema
from referencing import Registry
from referencing.exceptions import NoSuchResource


def _refuse(uri: str):
    raise NoSuchResource(ref=uri)


def problem(value, schema: dict) -> str | None:
    validator = jsonschema.validators.validator_for(schema)(schema, registry=Registry(retrieve=_refuse))
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except RecursionError:
        return "the schema refers to itself without end, or the value is nested too deeply to check"
    except jsonschema.exceptions._WrappedReferencingError:
        return "the schema has a reference that leads nowhere inside it"
    if error is None:
        return None
    where = "".join(f"/{part}" for part in error.absolute_path) or "the whole value"
    return f"{error.message[:300]} (at {where})"


if __name__ == "__main__":
    sys.setrecursionlimit(5000)
    given = json.loads(sys.stdin.read())
    print(json.dumps({"problem": problem(given["value"], given["schema"])}))

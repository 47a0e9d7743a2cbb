"""A JSON Schema from a visitor, taken as data: size and depth limits before anything parses it
deeply, no `$ref` followed outside the schema (no file read, no URL fetched), and the final check
run in a child process with a time limit, so a schema built to be slow (a catastrophic `pattern`,
a `$ref` loop) costs that child, never the app.

    >>> parse_schema('{"type": "object", "properties": {"n": {"type": "integer"}}}')["type"]
    'object'
    >>> parse_schema('{"$ref": "file:///etc/passwd"}')
    Traceback (most recent call last):
    ...
    llm.lessons.schemas.SchemaError: The schema refers to 'file:///etc/passwd'; this app follows only references inside the schema (such as "#/$defs/item"), and never reads a file or fetches a URL.
    >>> schema_problem({"n": "x"}, {"properties": {"n": {"type": "integer"}}})
    "'x' is not of type 'integer' (at /n)"
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

from llm.errors import ReadableError

MAX_SCHEMA_CHARS = 20_000  # the presets take about 1,300
MAX_SCHEMA_DEPTH = 32  # nesting of objects and arrays
CHECK_SECONDS = 5.0  # the final check of an answer against the schema
_REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_CHECKER = Path(__file__).with_name("schema_check.py")


class SchemaError(ReadableError):
    """The schema the user gave is not JSON, not a JSON Schema, or beyond this app's limits."""


def parse_schema(schema: str | dict | None) -> dict | None:
    """The schema as a dict (None for none), or `SchemaError` saying what is wrong with it."""
    if isinstance(schema, str):
        if not schema.strip():
            return None
        if len(schema) > MAX_SCHEMA_CHARS:
            raise SchemaError(f"The schema is {len(schema):,} characters; this app takes at most {MAX_SCHEMA_CHARS:,}.")
        try:
            schema = json.loads(schema)
        except RecursionError:
            raise SchemaError(_too_deep()) from None
        except json.JSONDecodeError as error:
            raise SchemaError(f"The schema is not valid JSON: {error}.") from error
    if not schema:
        return None
    if not isinstance(schema, dict):
        raise SchemaError("The schema must be a JSON object, such as {\"type\": \"object\"}.")
    _check_shape(schema)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        raise SchemaError(f"The schema is not a valid JSON Schema: {error.message}.") from error
    except RecursionError:
        raise SchemaError(_too_deep()) from None
    return schema


def schema_problem(value: Any, schema: dict | None, seconds: float = CHECK_SECONDS) -> str | None:
    """Why `value` does not match `schema`, in one sentence; None if it does (or there is none).
    Runs `schema_check.py` in a child process, ended after `seconds`."""
    if not schema:
        return None
    try:
        payload = json.dumps({"schema": schema, "value": value})
        done = subprocess.run([sys.executable, "-I", str(_CHECKER)], input=payload, capture_output=True,
                              text=True, timeout=seconds)
        return json.loads(done.stdout)["problem"]
    except subprocess.TimeoutExpired:
        return f"checking it took over {seconds:g} s and was stopped (a pattern in the schema may be too slow)"
    except (ValueError, KeyError, OSError, RecursionError):
        return "it could not be checked against the schema"


def _check_shape(schema: dict) -> None:
    """Depth within MAX_SCHEMA_DEPTH and only local references, walked without recursion."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaError(_too_deep())
        if isinstance(node, dict):
            for key in _REFERENCE_KEYS:
                target = node.get(key)
                if target is not None and not (isinstance(target, str) and target.startswith("#")):
                    raise SchemaError(
                        f"The schema refers to {str(target)[:80]!r}; this app follows only references inside the "
                        "schema (such as \"#/$defs/item\"), and never reads a file or fetches a URL.")
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def _too_deep() -> str:
    return f"The schema is nested more than {MAX_SCHEMA_DEPTH} levels deep; this app takes at most {MAX_SCHEMA_DEPTH}."

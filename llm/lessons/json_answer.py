"""Ask a model for JSON, and follow one JSON answer as its chunks arrive.

The chunks come through the same accumulator as a chat answer; `JSONAnswer`
reads each chunk's record and keeps the partial object, a row per field, and at
the end a note saying how it went.

    >>> from langchain_core.messages import AIMessageChunk
    >>> from llm.stream.accumulator import Accumulator
    >>> acc, answer = Accumulator(), JSONAnswer()
    >>> for piece in ['{"city": "Pa', 'ris", "rank": 1', '}']:
    ...     _, record = acc.add(AIMessageChunk(content=piece))
    ...     _ = answer.update(acc.records)
    ...     print(answer.value)
    {'city': 'Pa'}
    {'city': 'Paris'}
    {'city': 'Paris', 'rank': 1}
    >>> answer.finish(acc)
    '✓ Complete: valid JSON, 3 values.'
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage

from llm.lessons.partial_json import Change, JSONProblem, PartialJSON
from llm.lessons.schemas import SchemaError, parse_schema, schema_problem  # noqa: F401  (the first two for the JSON tab)
from llm.stream.accumulator import Accumulator
from llm.stream.messages import to_messages
from llm.stream.records import ChunkRecord

JSON_SYSTEM_PROMPT = "Answer with one JSON value and nothing else: no prose before or after it, no code fences."
FIELD_HEADERS = ["path", "value so far", "state", "first seen (ms)", "complete (ms)"]


def json_messages(request: str, schema: dict | None = None, system_prompt: str | None = None) -> list[BaseMessage]:
    """The request as messages that ask for JSON (and name the schema, for models that only read it).
    A system prompt of your own comes after the JSON instruction, which OpenAI's JSON mode requires."""
    system = JSON_SYSTEM_PROMPT + (f"\n{system_prompt}" if system_prompt else "")
    if schema:
        system += "\nThe JSON must match this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    return to_messages(request, system)


class JSONAnswer:
    """One JSON answer as it streams: the partial object, its fields, and how it ended."""

    def __init__(self, schema: dict | None = None) -> None:
        self.schema = schema
        self.parser = PartialJSON()
        self._problem_chunk: int | None = None
        self._seen = 0  # records taken in so far

    @property
    def value(self) -> Any:
        return self.parser.value

    def update(self, records: list[ChunkRecord]) -> list[Change]:
        """Take in the records not seen yet (the accumulator's list only grows); returns the changes."""
        changes: list[Change] = []
        for record in records[self._seen :]:
            had_problem = self.parser.problem is not None
            changes += self.parser.feed(record.answer, record.ms_since_start)  # not a model's thinking
            if self.parser.problem is not None and not had_problem:
                self._problem_chunk = record.index
        self._seen = len(records)
        return changes

    def finish(self, acc: Accumulator) -> str:
        """The stream ended by itself: is the JSON complete, valid, and does it match the schema?"""
        self.update(acc.records)
        try:
            self.parser.close(acc.records[-1].ms_since_start if acc.records else None)
        except JSONProblem as problem:
            return self._explain(problem, acc)
        note = f"✓ Complete: valid JSON, {len(self.parser.fields)} values."
        if self.schema:
            mismatch = schema_problem(self.value, self.schema)
            note += f" ✗ It does not match the schema: {mismatch}." if mismatch else " It matches the schema ✓."
        if self.parser.huge_numbers:
            note += (" Integers beyond ±2^53 are shown as text in the view (a browser would round them); the raw "
                     "text has them exactly.")
        return note

    def fail(self, reason: str, acc: Accumulator) -> str:
        """The stream broke off (an error): keep what arrived and say why."""
        self.update(acc.records)
        return f"✗ {reason} The object shows what had arrived; the raw text is below it."

    def rows(self) -> list[list[Any]]:
        """The field table: one row per value, containers included, in the order they appeared."""
        return [
            [f.path or "(whole value)", _shown(f.value), "complete" if f.complete else "streaming",
             _ms(f.first_ms), _ms(f.complete_ms)]
            for f in self.parser.fields.values()
        ]

    def _explain(self, problem: JSONProblem, acc: Accumulator) -> str:
        if not problem.truncated:
            where = f" (chunk #{self._problem_chunk})" if self._problem_chunk is not None else ""
            return f"✗ {problem}{where}. The object is the last good state; the raw text shows what the model sent."
        finish = (acc.total.response_metadata or {}).get("finish_reason") if acc.total else None
        if finish == "length":
            return "✗ The answer reached Max tokens before the JSON was complete: raise Max tokens and ask again."
        return f"✗ {problem} The object shows what had arrived."


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return f"{{{_count(len(value), 'key')}}}"
    if isinstance(value, list):
        return f"[{_count(len(value), 'item')}]"
    return json.dumps(value, ensure_ascii=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ms(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)

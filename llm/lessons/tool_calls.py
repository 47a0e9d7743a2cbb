"""Tool calls as they stream: each call's name, id and arguments growing field by field, apart by
`index`, and its state from streaming to done.

The arguments of a call arrive as fragments of one JSON text (`tool_call_chunks[i]["args"]`).
langchain-core's `+` joins them by index and reads the joined text as *partial* JSON, even at the
end: arguments cut inside `12*7` claim `{"expression": 12}`. Here each call's fragments go through
the JSON tab's `PartialJSON`, which shows no number, literal or key before it is complete, and a
call is `complete` only if its joined text is one whole JSON object; else it is `invalid`, and not run
(the Tools tab's agent asks this reading, not LangChain's, before it runs a call: `llm.lessons.agent_run`).

    >>> calls = ToolCalls()
    >>> for part in [{"index": 0, "id": "c1", "name": "calculator", "args": '{"expression": "1'},
    ...              {"index": 1, "id": "c2", "name": "country_facts", "args": '{"na'},
    ...              {"index": 0, "args": '2*7"}'}, {"index": 1, "args": 'me": "Kenya"}'}]:
    ...     calls.add([part], ms=0.0)
    ...     print([(call.name, call.arguments, call.state) for call in calls])
    [('calculator', {'expression': '1'}, 'streaming')]
    [('calculator', {'expression': '1'}, 'streaming'), ('country_facts', {}, 'streaming')]
    [('calculator', {'expression': '12*7'}, 'streaming'), ('country_facts', {}, 'streaming')]
    [('calculator', {'expression': '12*7'}, 'streaming'), ('country_facts', {'name': 'Kenya'}, 'streaming')]
    >>> [call.state for call in calls.finish(ms=1.0)]
    ['complete', 'complete']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from llm.lessons.partial_json import JSONProblem, PartialJSON
from llm.stream.records import ChunkRecord

STREAMING, COMPLETE, INVALID = "streaming", "complete", "invalid"
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass
class StreamingCall:
    """One tool call: what has arrived of it, and what became of it."""

    index: int
    id: str | None = None
    name: str | None = None
    text: str = ""  # the argument fragments joined
    parser: PartialJSON = field(default_factory=PartialJSON)
    state: str = STREAMING
    problem: str | None = None  # why it is invalid
    result: str | None = None  # the tool's result, or its error
    first_ms: float | None = None
    complete_ms: float | None = None

    @property
    def arguments(self) -> Any:
        """The arguments so far, as an honest partial object ({} before the first key is complete)."""
        value = self.parser.value
        return value if value is not None else {}

    def as_tool_call(self) -> dict[str, Any]:
        """The call as LangChain's `tool_calls` holds it: for a complete call, run it with this."""
        return {"name": self.name or "", "args": self.arguments, "id": self.id, "type": "tool_call"}


class ToolCalls:
    """Every tool call of one answer, by index, in the order they began."""

    def __init__(self) -> None:
        self._calls: dict[int, StreamingCall] = {}
        self._seen = 0  # records taken in so far (`update`)

    def __iter__(self) -> Iterator[StreamingCall]:
        return iter(self._calls.values())

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, parts: Any, ms: float | None = None) -> None:
        """Take in one chunk's `tool_call_chunks`."""
        for part in parts:
            index = part.get("index")
            index = index if isinstance(index, int) else len(self._calls)  # a server that numbers none
            call = self._calls.get(index) or self._calls.setdefault(index, StreamingCall(index, first_ms=ms))
            call.id = call.id or part.get("id")
            call.name = (call.name or "") + (part.get("name") or "") if part.get("name") else call.name
            args = part.get("args") or ""
            if isinstance(args, str) and args and call.state == STREAMING:
                call.text += args
                call.parser.feed(args, ms)

    def update(self, records: list[ChunkRecord]) -> None:
        """Take in the records not seen yet (an Accumulator's list only grows)."""
        for record in records[self._seen:]:
            if record.tool_call_chunks:
                self.add(record.tool_call_chunks, record.ms_since_start)
        self._seen = len(records)

    def finish(self, ms: float | None = None) -> list[StreamingCall]:
        """The message has ended: each call still streaming is now complete (its text is one JSON
        object) or invalid (with the reason). Returns the calls."""
        for call in self:
            if call.state != STREAMING:
                continue
            try:
                call.parser.close(ms)
                if not isinstance(call.parser.value, dict):
                    raise JSONProblem("The arguments are not a JSON object.")
            except JSONProblem as problem:
                call.state, call.problem = INVALID, str(problem)
                continue
            if not call.name:
                call.state, call.problem = INVALID, "The call has no tool name."
                continue
            call.state, call.complete_ms = COMPLETE, ms
        return list(self)

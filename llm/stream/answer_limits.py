"""How much of one answer this app reads: a server may send anything, for as long as it likes.

Every chunk source goes through the `Accumulator`, which counts each chunk here as it comes. Past
a limit, the answer ends with a sentence (`AnswerTooLarge`) and what came before it stays; the
stream is closed, and with it the request upstream.

    >>> from llm.stream.records import ChunkRecord
    >>> limits = AnswerLimits()
    >>> limits.count(ChunkRecord(0, 0.0, 0.0, "Hi", tool_call_chunks=({"index": 0, "args": '{"x": 1}'},)))
    >>> limits.chars, limits.arguments, len(limits.calls)
    (2, 8, 1)
    >>> limits.count(ChunkRecord(1, 0.0, 0.0, "", tool_call_chunks=tuple({"index": i} for i in range(1, 40))))
    Traceback (most recent call last):
    ...
    llm.stream.answer_limits.AnswerTooLarge: The answer made more than 32 tool calls, this app's limit for one answer: the rest was not read.
"""

from __future__ import annotations

from llm.errors import ReadableError
from llm.stream.records import ChunkRecord

MAX_CHUNKS = 50_000  # of one answer, empty ones too: memory per answer is bounded by chunks as much as by text
MAX_ANSWER_CHARS = 1_000_000  # text and thinking of one answer (as much as a chunk log may hold)
MAX_TOOL_CALLS = 32  # OpenAI's models make a handful in parallel
MAX_ARGUMENT_CHARS = 100_000  # all tool calls' arguments in one answer (the calculator takes 200)


class AnswerTooLarge(ReadableError):
    """An answer past one of this module's limits; its message says which."""


class AnswerLimits:
    """What one answer has brought so far, against the limits."""

    def __init__(self) -> None:
        self.chunks = 0
        self.chars = 0
        self.arguments = 0
        self.calls: set[object] = set()

    def count(self, record: ChunkRecord) -> None:
        """Take in one chunk's record; raises `AnswerTooLarge` once the answer is past a limit."""
        self.chunks += 1
        self.chars += len(record.text) + len(record.thinking)
        for part in record.tool_call_chunks:
            self.calls.add(part.get("index"))
            args = part.get("args")
            self.arguments += len(args) if isinstance(args, str) else 0
        if self.chunks > MAX_CHUNKS:
            raise AnswerTooLarge(f"The answer passed {MAX_CHUNKS:,} chunks, this app's limit for one answer: the rest "
                                 "was not read.")
        if self.chars > MAX_ANSWER_CHARS:
            raise AnswerTooLarge(f"The answer passed {MAX_ANSWER_CHARS:,} characters, this app's limit for one "
                                 "answer: the rest was not read.")
        if len(self.calls) > MAX_TOOL_CALLS:
            raise AnswerTooLarge(f"The answer made more than {MAX_TOOL_CALLS} tool calls, this app's limit for one "
                                 "answer: the rest was not read.")
        if self.arguments > MAX_ARGUMENT_CHARS:
            raise AnswerTooLarge(f"The tool calls' arguments passed {MAX_ARGUMENT_CHARS:,} characters, this app's "
                                 "limit for one answer: the rest was not read.")

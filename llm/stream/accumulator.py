"""The one streaming loop of the project.

`AIMessageChunk`s are additive: the running sum of the chunks is the answer so
far. `accumulate` (sync) and `aaccumulate` (async) walk a chunk stream and yield,
at each chunk, that running sum together with a `ChunkRecord` of the chunk.
The notebook API, the chat page and the benchmark all go through here.

    >>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> model = GenericFakeChatModel(messages=iter([AIMessage(content="hello big world")]))
    >>> [(total.text, rec.text) for total, rec in accumulate(model.stream("hi"))]
    [('hello', 'hello'), ('hello ', ' '), ('hello big', 'big'), ('hello big ', ' '), ('hello big world', 'world')]
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import aclosing, closing, nullcontext
from enum import StrEnum

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.ai import add_ai_message_chunks

from llm.stream.answer_limits import AnswerLimits
from llm.stream.records import ChunkRecord
from llm.stream.thinking import REASONING_KEY, ThinkTags

Step = tuple[AIMessageChunk, ChunkRecord]


class Phase(StrEnum):
    """Where an answer is: it moves from STREAMING to exactly one of the other three."""

    STREAMING = "streaming"
    COMPLETE = "complete"  # the stream ended on its own
    STOPPED = "stopped"  # closed before its end: Stop, or the client went away
    FAILED = "failed"  # the stream raised; `Accumulator.error` says what, in words


class Accumulator:
    """Adds chunks one at a time; keeps the sum, the chunks and their records, and the
    thinking apart from the answer (a reasoning field, or `<think>` tags in the content), and the
    answer's `phase`.

    The sum and the texts are put together when read, not at every chunk: a page reads them once
    per update, so an answer of n chunks costs time linear in its length, not n copies of it.
    The sum is langchain-core's own (`add_ai_message_chunks`, what `+` calls), over the chunks
    not yet in it."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.perf_counter() if started is None else started
        self._previous = self.started
        self.chunks: list[AIMessageChunk] = []
        self.records: list[ChunkRecord] = []
        self.phase = Phase.STREAMING
        self.error: str | None = None  # why it failed, in words (see `fail`)
        self._tags = ThinkTags()
        self._total: AIMessageChunk | None = None
        self._summed = 0  # chunks already in `_total`
        self._thinking: list[str] = []
        self._answer: list[str] = []
        self.limits = AnswerLimits()

    def add(self, chunk: AIMessageChunk) -> Step:
        """Take in a chunk; returns the sum so far and the chunk's record."""
        record = self.add_record(chunk)
        return self.total, record

    def add_record(self, chunk: AIMessageChunk) -> ChunkRecord:
        """Take in a chunk and return its record, without adding up the sum yet. Past one of
        `llm.stream.answer_limits`' limits, raises `AnswerTooLarge` (the chunk is kept, the rest not read)."""
        now = time.perf_counter()
        inline_thinking, answer = self._tags.feed(chunk.text)
        record = ChunkRecord.of(
            chunk,
            index=len(self.chunks),
            ms=(now - self.started) * 1000,
            delta_ms=(now - self._previous) * 1000,
            thinking=(chunk.additional_kwargs or {}).get(REASONING_KEY, "") + inline_thinking,
            answer=answer,
        )
        self._thinking.append(record.thinking)
        self._answer.append(answer)
        self._previous = now
        self.chunks.append(_kept(chunk, record))
        self.records.append(record)
        self.limits.count(record)
        return record

    @property
    def total(self) -> AIMessageChunk | None:
        """`chunks[0] + chunks[1] + ...`: the answer so far as one message (None before any chunk)."""
        if self._summed < len(self.chunks):
            new = self.chunks[self._summed:]
            first, others = (new[0], new[1:]) if self._total is None else (self._total, new)
            self._total = add_ai_message_chunks(first, *others) if others else first
            self._summed += len(new)
        return self._total

    @property
    def text(self) -> str:
        """The content so far, as the chunks carried it (with any `<think>` tags)."""
        total = self.total
        return total.text if total is not None else ""

    @property
    def thinking(self) -> str:
        return _joined(self._thinking)

    @property
    def answer(self) -> str:
        return _joined(self._answer)

    @property
    def finished(self) -> bool:
        """Whether the stream ended on its own (not stopped, not failed)."""
        return self.phase is Phase.COMPLETE

    def finish(self) -> None:
        """The stream has ended: text held back as a possible tag is text after all."""
        thinking, answer = self._tags.flush()
        self._thinking.append(thinking)
        self._answer.append(answer)
        if self.phase is Phase.STREAMING:  # one marked stopped stays stopped, though its last chunks came
            self.phase = Phase.COMPLETE

    def fail(self, error: str) -> None:
        """The stream raised; `error` says what, in words a person can read."""
        if self.phase is Phase.STREAMING:
            self.phase, self.error = Phase.FAILED, error

    def stop(self) -> bool:
        """Mark a stream that is still running as stopped; whether the answer is now stopped."""
        if self.phase is Phase.STREAMING:
            self.phase = Phase.STOPPED
        return self.phase is Phase.STOPPED


def _kept(chunk: AIMessageChunk, record: ChunkRecord) -> AIMessageChunk:
    """The chunk as kept: without `logprobs` that were not token probabilities (a string in one chunk
    and a dict in the next made `+` raise TypeError). This app's models already leave them out as
    they come (`ChatOpenAICompatible`); a replayed log or another model may not."""
    if not record.logprobs_ignored or (chunk.response_metadata or {}).get("logprobs") is None:
        return chunk
    kept = {key: value for key, value in chunk.response_metadata.items() if key != "logprobs"}
    return chunk.model_copy(update={"response_metadata": kept})


def _joined(parts: list[str]) -> str:
    """The parts as one string, kept as the list's only item so the next join starts from it."""
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


def accumulate(
    chunks: Iterable[AIMessageChunk], acc: Accumulator | None = None
) -> Iterator[Step]:
    """Yield `(sum_so_far, record)` for each chunk of a sync stream.

    Closing this generator closes `chunks` too, which closes the upstream request.
    """
    acc = acc or Accumulator()
    with closing(chunks) if hasattr(chunks, "close") else nullcontext():
        for chunk in chunks:
            yield acc.add(chunk)
    acc.finish()


def shows_text(step: Step) -> bool:
    """Whether a step adds answer or thinking text (not just a role, metadata or usage)."""
    return record_shows_text(step[1])


async def arecords(
    chunks: AsyncIterable[AIMessageChunk], acc: Accumulator
) -> AsyncIterator[ChunkRecord]:
    """Like `aaccumulate`, but yields each chunk's record and leaves the sum to be read from
    `acc` when wanted: the page's loop, which reads it once per update."""
    async with aclosing(chunks) if hasattr(chunks, "aclose") else nullcontext():
        async for chunk in chunks:
            yield acc.add_record(chunk)
    acc.finish()


def record_shows_text(record: ChunkRecord) -> bool:
    """Whether a chunk adds answer or thinking text, or a piece of a tool call (not just a role,
    metadata or usage)."""
    return bool(record.text or record.thinking or record.tool_call_chunks)


async def aaccumulate(
    chunks: AsyncIterable[AIMessageChunk], acc: Accumulator | None = None
) -> AsyncIterator[Step]:
    """The async twin of `accumulate`; closing it closes `chunks` at once."""
    acc = acc or Accumulator()
    async with aclosing(chunks) if hasattr(chunks, "aclose") else nullcontext():
        async for chunk in chunks:
            yield acc.add(chunk)
    acc.finish()

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

from langchain_core.messages import AIMessageChunk

from .records import ChunkRecord
from .thinking import REASONING_KEY, ThinkTags

Step = tuple[AIMessageChunk, ChunkRecord]


class Accumulator:
    """Adds chunks one at a time; keeps the sum, the chunks and their records, and the
    thinking apart from the answer (a reasoning field, or `<think>` tags in the content)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.perf_counter() if started is None else started
        self._previous = self.started
        self.total: AIMessageChunk | None = None
        self.chunks: list[AIMessageChunk] = []
        self.records: list[ChunkRecord] = []
        self.thinking = ""
        self.answer = ""
        self.finished = False  # set by `finish`: the stream ended (not stopped, not failed)
        self._tags = ThinkTags()

    def add(self, chunk: AIMessageChunk) -> Step:
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
        self.thinking += record.thinking
        self.answer += answer
        self._previous = now
        self.total = chunk if self.total is None else self.total + chunk
        self.chunks.append(chunk)
        self.records.append(record)
        return self.total, record

    @property
    def text(self) -> str:
        """The content so far, as the chunks carried it (with any `<think>` tags)."""
        return self.total.text if self.total is not None else ""

    def finish(self) -> None:
        """The stream has ended: text held back as a possible tag is text after all."""
        thinking, answer = self._tags.flush()
        self.thinking += thinking
        self.answer += answer
        self.finished = True


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
    return bool(step[1].text or step[1].thinking)


async def aaccumulate(
    chunks: AsyncIterable[AIMessageChunk], acc: Accumulator | None = None
) -> AsyncIterator[Step]:
    """The async twin of `accumulate`; closing it closes `chunks` at once."""
    acc = acc or Accumulator()
    async with aclosing(chunks) if hasattr(chunks, "aclose") else nullcontext():
        async for chunk in chunks:
            yield acc.add(chunk)
    acc.finish()

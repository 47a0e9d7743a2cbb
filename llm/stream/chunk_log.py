"""A stream kept for later: the chunk log, loaded back safely and replayed.

The log is JSON Lines, one chunk per line with its timing, the chunk as
LangChain serialises it (`dumpd`), so it loads back into an `AIMessageChunk`.

    >>> from langchain_core.messages import AIMessageChunk
    >>> from llm.stream.accumulator import Accumulator
    >>> acc = Accumulator()
    >>> for text in ["Elon", " Musk", " is"]:
    ...     _ = acc.add(AIMessageChunk(content=text, id="run-1"))
    >>> logged = loads_chunk_log(dumps_chunk_log(acc.records, acc.chunks))
    >>> [entry.chunk.content for entry in logged]
    ['Elon', ' Musk', ' is']
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_core.load import dumpd
from langchain_core.messages import AIMessageChunk
from pydantic import ValidationError

from llm.errors import ReadableError
from llm.stream.records import ChunkRecord
from llm.stream.thinking import REASONING_KEY

MAX_LOG_BYTES = 20_000_000  # a replay holds the whole file in memory
# 5,000 holds any answer within the default Max tokens ceiling (4,096). (It also kept Gradio's walk of
# a replay's final Debug table under 0.2 s, 35 µs a row, when that table held every chunk; it now holds
# at most llm.stream.report.SHOWN_ROWS.)
MAX_LOG_CHUNKS = 5_000
MAX_LOG_TEXT = 1_000_000  # characters of answer and thinking in all; a page update carries the text so far
MAX_REPLAY_SECONDS = 600  # the longest a replay may take at the speed chosen
_CHUNK_ID = ["langchain", "schema", "messages", "AIMessageChunk"]


class ChunkLogError(ReadableError):
    """A file that is not a chunk log this app wrote, said in one sentence."""


@dataclass(frozen=True)
class LoggedChunk:
    ms_since_start: float
    chunk: AIMessageChunk


def dumps_chunk_log(records: Sequence[ChunkRecord], chunks: Sequence[AIMessageChunk]) -> str:
    """The chunks of one answer as JSON Lines: index, timings, and the serialised chunk."""
    lines = (
        json.dumps({"index": r.index, "ms_since_start": round(r.ms_since_start, 3),
                    "ms_since_previous": round(r.ms_since_previous, 3), "chunk": dumpd(c)}, ensure_ascii=False)
        for r, c in zip(records, chunks, strict=True)
    )
    return "\n".join(lines) + "\n"


def loads_chunk_log(text: str | bytes) -> list[LoggedChunk]:
    """The chunks of a log, or `ChunkLogError`. Only `AIMessageChunk` fields are read, validated by
    the message's own model: nothing in the file is imported, called or evaluated."""
    if len(text) > MAX_LOG_BYTES:
        raise ChunkLogError(_too_large(len(text)))
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ChunkLogError("The file is not UTF-8 text, so it is not a chunk log.") from error
    logged: list[LoggedChunk] = []
    characters = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if len(logged) == MAX_LOG_CHUNKS:
                raise ChunkLogError(f"The file holds more than {MAX_LOG_CHUNKS:,} chunks; a chunk log may hold at most "
                                    f"{MAX_LOG_CHUNKS:,}.")
            logged.append(_entry(line, number, logged[-1].ms_since_start if logged else 0.0))
            chunk = logged[-1].chunk
            characters += len(chunk.text) + len(str((chunk.additional_kwargs or {}).get(REASONING_KEY, "")))
            if characters > MAX_LOG_TEXT:
                raise ChunkLogError(f"The chunks' text adds up to more than {MAX_LOG_TEXT:,} characters; a chunk log "
                                    f"may hold at most {MAX_LOG_TEXT:,}.")
    if not logged:
        raise ChunkLogError("The file holds no chunks.")
    return logged


def read_chunk_log(path: str | Path) -> list[LoggedChunk]:
    """`loads_chunk_log` for a file, refusing an oversized one before reading it."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_LOG_BYTES:
            raise ChunkLogError(_too_large(size))
        return loads_chunk_log(Path(path).read_bytes())
    except OSError as error:
        raise ChunkLogError("The file could not be read; choose it again.") from error


def replay_problem(logged: Sequence[LoggedChunk], speed: float | None) -> str | None:
    """Why this log cannot be replayed at `speed` (None: at once), in a sentence; None if it can."""
    seconds = logged[-1].ms_since_start / 1000 / speed if speed and logged else 0.0
    if seconds <= MAX_REPLAY_SECONDS:
        return None
    return (f"At this speed the replay would take {_duration(seconds)}; a replay may take at most "
            f"{_duration(MAX_REPLAY_SECONDS)}. Choose a faster speed, or at once.")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if secs else f"{minutes} minutes"


def _too_large(size: int) -> str:
    return f"The file is {size:,} bytes; a chunk log may be at most {MAX_LOG_BYTES:,} bytes (20 MB)."


def _entry(line: str, number: int, previous_ms: float) -> LoggedChunk:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ChunkLogError(f"Line {number} is not JSON ({error.msg}).") from error
    chunk = item.get("chunk") if isinstance(item, dict) else None
    if not isinstance(chunk, dict) or chunk.get("id") != _CHUNK_ID or not isinstance(chunk.get("kwargs"), dict):
        raise ChunkLogError(f"Line {number} is not a chunk this app wrote (an AIMessageChunk as LangChain serialises it).")
    ms = item.get("ms_since_start")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not previous_ms <= ms < 86_400_000:
        raise ChunkLogError(f"Line {number} has no usable time (ms_since_start must grow from 0, in milliseconds).")
    try:
        return LoggedChunk(float(ms), AIMessageChunk.model_validate(chunk["kwargs"]))
    except ValidationError as error:
        raise ChunkLogError(f"Line {number} is not a valid chunk: {error.errors()[0]['msg']}.") from error


async def areplay(logged: Sequence[LoggedChunk], speed: float | None = 1.0) -> AsyncIterator[AIMessageChunk]:
    """Yield the chunks at their recorded pace, `speed` times faster; None (or 0) for all at once,
    which still lets the event loop serve others between chunks."""
    started = time.monotonic()
    for entry in logged:
        if speed:
            await asyncio.sleep(max(0.0, started + entry.ms_since_start / 1000 / speed - time.monotonic()))
        else:
            await asyncio.sleep(0)
        yield entry.chunk

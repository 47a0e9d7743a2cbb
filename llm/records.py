"""What we keep about each chunk of a stream, and the figures drawn from them.

    >>> from langchain_core.messages import AIMessageChunk
    >>> r = ChunkRecord.of(AIMessageChunk(content="Hi", id="run-1"), index=0, ms=12.5, delta_ms=12.5)
    >>> (r.index, r.text, r.id)
    (0, 'Hi', 'run-1')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import AIMessageChunk


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as it arrived: when, what text, and whatever metadata it carried."""

    index: int
    ms_since_start: float
    ms_since_previous: float
    text: str
    id: str | None = None
    response_metadata: dict[str, Any] = field(default_factory=dict)
    usage_metadata: dict[str, Any] | None = None
    chunk_position: str | None = None

    @classmethod
    def of(cls, chunk: AIMessageChunk, *, index: int, ms: float, delta_ms: float) -> ChunkRecord:
        return cls(
            index=index,
            ms_since_start=ms,
            ms_since_previous=delta_ms,
            text=chunk.text,
            id=chunk.id,
            response_metadata=dict(chunk.response_metadata or {}),
            usage_metadata=dict(chunk.usage_metadata) if chunk.usage_metadata else None,
            chunk_position=getattr(chunk, "chunk_position", None),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StreamStats:
    """Running figures over a stream's records; O(1) work per record.

    Tokens per second counts output tokens after the first one, over the time
    from the first token to the last chunk, so the wait for the first token
    (network, queue, prompt processing) does not dilute the generation speed.
    """

    chunks: int = 0
    text_chunks: int = 0
    first_token_ms: float | None = None
    last_ms: float = 0.0
    last_text_ms: float | None = None
    usage: dict[str, Any] | None = None

    def add(self, record: ChunkRecord) -> None:
        self.chunks += 1
        self.last_ms = record.ms_since_start
        if record.text:
            self.text_chunks += 1
            self.last_text_ms = record.ms_since_start
            if self.first_token_ms is None:
                self.first_token_ms = record.ms_since_start
        if record.usage_metadata:
            self.usage = record.usage_metadata

    @property
    def output_tokens(self) -> int:
        """Tokens the server reported, else one per chunk that carried text."""
        if self.usage and self.usage.get("output_tokens"):
            return int(self.usage["output_tokens"])
        return self.text_chunks

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_ms is None or self.last_text_ms is None:
            return None
        seconds = (self.last_text_ms - self.first_token_ms) / 1000
        if seconds <= 0 or self.output_tokens < 2:
            return None
        return (self.output_tokens - 1) / seconds

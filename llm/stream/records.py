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

from llm.stream.token_probs import IGNORED_KEY, TokenLogprob, parse_logprobs, well_formed


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
    thinking: str = ""  # the model's thinking this chunk carried (see llm/stream/thinking.py)
    answer: str | None = None  # the answer text it carried: `text` unless it held <think> tags
    # Fragments of tool calls: {"index", "id", "name", "args"} with `args` a piece of JSON text.
    tool_call_chunks: tuple[dict[str, Any], ...] = ()
    # The tokens it carried with their probabilities, when asked for (see llm/stream/token_probs.py). They are
    # kept here, read with limits, and not in `response_metadata`, where the server put them.
    logprobs: tuple[TokenLogprob, ...] = ()
    logprobs_ignored: bool = False  # the chunk carried `logprobs` that were not token probabilities

    @classmethod
    def of(
        cls, chunk: AIMessageChunk, *, index: int, ms: float, delta_ms: float, thinking: str = "",
        answer: str | None = None,
    ) -> ChunkRecord:
        metadata = chunk.response_metadata or {}
        sent = metadata.get("logprobs")
        tokens = parse_logprobs(sent)
        # Else ignored, and marked: a server's metadata is outside input (our models mark it as it comes).
        usable = well_formed(sent, tokens) and metadata.get(IGNORED_KEY) is not True
        return cls(
            index=index,
            ms_since_start=ms,
            ms_since_previous=delta_ms,
            text=str(chunk.text),  # langchain-core's `TextAccessor`, a str the garbage collector tracks: kept per chunk
            id=chunk.id,
            response_metadata={k: v for k, v in metadata.items() if k not in ("logprobs", IGNORED_KEY)},
            usage_metadata=dict(chunk.usage_metadata) if chunk.usage_metadata else None,
            chunk_position=getattr(chunk, "chunk_position", None),
            thinking=thinking,
            answer=answer,
            tool_call_chunks=tuple(
                {key: part.get(key) for key in ("index", "id", "name", "args")} for part in chunk.tool_call_chunks or ()
            ),
            logprobs=tokens if usable else (),
            logprobs_ignored=not usable,
        )

    def __post_init__(self) -> None:
        if self.answer is None:  # a chunk without <think> tags: all its text is answer
            object.__setattr__(self, "answer", self.text)

    @property
    def kind(self) -> str:
        """"thinking", "answer", both, or "" for a chunk with neither (role, finish, usage)."""
        return " + ".join(k for k, text in (("thinking", self.thinking), ("answer", self.answer)) if text)

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
    text_chunks: int = 0  # chunks that carried answer text
    thinking_chunks: int = 0
    first_thinking_ms: float | None = None
    first_token_ms: float | None = None  # the first answer token
    last_ms: float = 0.0
    last_text_ms: float | None = None
    usage: dict[str, Any] | None = None
    model_name: str | None = None  # the model that answered, as the server says

    def add(self, record: ChunkRecord) -> None:
        self.chunks += 1
        self.last_ms = record.ms_since_start
        if record.thinking:
            self.thinking_chunks += 1
            if self.first_thinking_ms is None:
                self.first_thinking_ms = record.ms_since_start
        if record.answer:
            self.text_chunks += 1
            self.last_text_ms = record.ms_since_start
            if self.first_token_ms is None:
                self.first_token_ms = record.ms_since_start
        if record.usage_metadata:
            self.usage = record.usage_metadata
        self.model_name = record.response_metadata.get("model_name") or self.model_name

    @property
    def output_tokens(self) -> int:
        """Answer tokens: those the server reported (less its reasoning tokens), else one per chunk
        that carried answer text."""
        if self.usage and self.usage.get("output_tokens"):
            return int(self.usage["output_tokens"]) - self.reported_thinking_tokens
        return self.text_chunks

    @property
    def reported_thinking_tokens(self) -> int:
        return int(((self.usage or {}).get("output_token_details") or {}).get("reasoning") or 0)

    @property
    def thinking_tokens(self) -> int:
        """Thinking tokens the server reported, else one per chunk that carried thinking."""
        return self.reported_thinking_tokens or self.thinking_chunks

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_ms is None or self.last_text_ms is None:
            return None
        seconds = (self.last_text_ms - self.first_token_ms) / 1000
        if seconds <= 0 or self.output_tokens < 2:
            return None
        return (self.output_tokens - 1) / seconds

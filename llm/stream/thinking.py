"""A reasoning model's thinking, kept apart from its answer.

Servers stream the thinking in one of two ways:

- a field next to `content` in each delta: `reasoning_content` (DeepSeek, llama.cpp's server)
  or `reasoning` (vLLM, Ollama's `/v1`). langchain-openai drops both, so `ChatOpenAICompatible`
  keeps them in `additional_kwargs["reasoning_content"]`, where langchain-core's `content_blocks`
  reads a reasoning block, and where adding chunks joins the text;
- inline, as `<think>…</think>` at the start of the content. `ThinkTags` splits that as it streams.

    >>> tags = ThinkTags()
    >>> [tags.feed(piece) for piece in ["<thi", "nk>Let me see", "</th", "ink>\\n\\nFour."]]
    [('', ''), ('Let me see', ''), ('', ''), ('', 'Four.')]
"""

from __future__ import annotations

from typing import Any, Self

from langchain_openai import ChatOpenAI
from pydantic import model_validator

from llm.stream.chunk_dicts import read_chunks_as_dicts
from llm.stream.request_dicts import messages_past_the_transform
from llm.stream.token_probs import IGNORED_KEY, bounded

REASONING_KEY = "reasoning_content"
_DELTA_FIELDS = ("reasoning_content", "reasoning")
OPEN, CLOSE = "<think>", "</think>"


class ChatOpenAICompatible(ChatOpenAI):
    """ChatOpenAI that keeps the thinking OpenAI-compatible servers stream beside the content, and
    that can ask a server to continue a final assistant message (`llm/lessons/branching.py`)."""

    # Whether the server continues a final assistant message when asked with vLLM's
    # `continue_final_message` (OPENAI_CONTINUE_FINAL_MESSAGE; the bundled model's process does).
    continues_final_message: bool = False
    # None: langchain-openai then reads each chunk without its own `asyncio.wait_for`. On Python 3.11
    # that wait_for loses a cancel landing just as a chunk read finishes (CPython gh-86296, fixed in
    # 3.12); a Stop during a fast stream then let the request run to its end, at full CPU (the Pipeline,
    # where the cancel reaches the read through `astream_events`' own task, lost it 1 Stop in 3). A
    # silent server still ends the answer: the HTTP client's read timeout (REQUEST_TIMEOUT) applies.
    stream_chunk_timeout: float | None = None

    @model_validator(mode="after")
    def _read_chunks_as_dicts(self) -> Self:
        """Streamed chunks stay the dicts the server sent (`llm/stream/chunk_dicts.py`). Only on the
        clients of `create`, copies sharing the root clients' connections: a `response_format` request
        streams through the root client's `beta` helpers, which read chunks as the SDK's models."""
        # Only the clients langchain-openai made from the root ones: a client passed in is left as it is.
        if self.root_async_client is not None and getattr(self.async_client, "_client", None) is self.root_async_client:
            self.async_client = read_chunks_as_dicts(self.root_async_client.with_options()).chat.completions
        if self.root_client is not None and getattr(self.client, "_client", None) is self.root_client:
            self.client = read_chunks_as_dicts(self.root_client.with_options()).chat.completions
        return self

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """False: serialised, it would name ChatOpenAI's namespace, where no class of this name is, and
        `load` would refuse it. `dumps` writes it as not serialisable instead, and `load` says so."""
        return False

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
        continuing = kwargs.pop("continue_final_message", False)
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if continuing:
            payload["extra_body"] = {**(payload.get("extra_body") or {}), "continue_final_message": True,
                                     "add_generation_prompt": False}
        return messages_past_the_transform(payload)  # the same body, without the SDK's walk over every message

    def _convert_chunk_to_generation_chunk(self, chunk: dict, *args: Any, **kwargs: Any) -> Any:
        generation = super()._convert_chunk_to_generation_chunk(chunk, *args, **kwargs)
        choices = chunk.get("choices") or []
        delta = (choices[0].get("delta") or {}) if choices else {}
        thinking = next((delta[f] for f in _DELTA_FIELDS if isinstance(delta.get(f), str) and delta[f]), None)
        if generation is not None and thinking:
            generation.message.additional_kwargs[REASONING_KEY] = thinking
        info = generation.generation_info if generation is not None else None
        if info and info.get("logprobs") is not None:
            # As sent, LangChain itself adds them up at the end of a stream: a string in one chunk and a
            # dict in the next raised TypeError there, after every chunk had come; and it keeps them all.
            kept, ignored = bounded(info["logprobs"])
            generation.generation_info = {**{k: v for k, v in info.items() if k != "logprobs"},
                                          **({"logprobs": kept} if kept else {}), **({IGNORED_KEY: True} if ignored else {})}
        return generation


class ThinkTags:
    """Splits streamed content into thinking (a `<think>` block at its start) and answer.

    `feed` returns the (thinking, answer) parts of each piece. A piece that might be the start of
    a tag waits for the next one, so neither part ever shows half a tag; `flush` gives back what
    waited when the stream ends.
    """

    def __init__(self) -> None:
        self.state = "start"  # start -> thinking -> answer, or start -> answer
        self._held = ""
        self._strip = False  # drop the blank lines between </think> and the answer

    def feed(self, text: str) -> tuple[str, str]:
        text, self._held = self._held + text, ""
        thinking = ""
        if self.state == "start":
            stripped = text.lstrip()
            if stripped.startswith(OPEN):
                self.state, text = "thinking", stripped[len(OPEN):]
            elif OPEN.startswith(stripped):  # empty, blank, or "<thi": wait and see
                self._held = text
                return "", ""
            else:
                self.state = "answer"
        if self.state == "thinking":
            end = text.find(CLOSE)
            if end < 0:
                keep = _tag_start_at_end(text, CLOSE)
                self._held = text[len(text) - keep:]
                return text[: len(text) - keep], ""
            thinking, text = text[:end], text[end + len(CLOSE):]
            self.state, self._strip = "answer", True
        if self._strip:
            text = text.lstrip()
            self._strip = not text
        return thinking, text

    def flush(self) -> tuple[str, str]:
        """What waited at the end of the stream: an unfinished tag is text after all."""
        held, self._held = self._held, ""
        return (held, "") if self.state == "thinking" else ("", held)


def _tag_start_at_end(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is the start of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0

"""The notebook API of LangChain's streaming how-to.

    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> text, chunks = LLM(FakeListChatModel(responses=["Hi!"])).stream("who's elon musk?")
    Hi!
    >>> text, [c.content for c in chunks]
    ('Hi!', ['H', 'i', '!'])

`stream_json` asks for JSON and prints each change of the object as it arrives:

    >>> model = FakeListChatModel(responses=['{"name": "Ada", "born": 1815}'])
    >>> obj, chunks = LLM(model).stream_json("a mathematician, with her birth year")
    add  {}
    add /name ""
    append /name "A"
    append /name "d"
    append /name "a"
    add /born 1815
    ✓ Complete: valid JSON, 3 values. JSON mode: json_object.
    >>> obj
    {'name': 'Ada', 'born': 1815}

With no model given, `LLM()` builds the one the environment configures
(OpenAI or an OpenAI-compatible server with a key or base URL, else the bundled
local model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk

from llm.backends.config import Settings
from llm.backends.context import fit_for_model
from llm.backends.models import build_chat_model
from llm.lessons.json_answer import JSONAnswer, json_messages, parse_schema
from llm.lessons.json_modes import JSONRequest
from llm.stream.accumulator import Accumulator, aaccumulate, accumulate
from llm.stream.chunk_log import dumps_chunk_log
from llm.stream.messages import Prompt, to_messages
from llm.stream.records import ChunkRecord


class LLM:
    """A chat model plus a system prompt; `stream` prints tokens as they arrive."""

    def __init__(
        self,
        model: BaseChatModel | None = None,
        *,
        settings: Settings | None = None,
        system_prompt: str | None = None,
    ) -> None:
        if model is None:
            settings = settings or Settings.from_env()
            model = build_chat_model(settings)
        self.model = model
        self.system_prompt = system_prompt
        self.records: list[ChunkRecord] = []
        self.chunks: list[AIMessageChunk] = []  # the last answer's chunks, for `save_chunks`
        self.context_note: str | None = None  # set when the last prompt lost turns to fit the window
        self.json_note: str | None = None  # how the last `stream_json` ended

    def stream(
        self, prompt: Prompt, system_prompt: str | None = None, *, echo: bool = True, tools: list | None = None,
        **kwargs: Any,
    ) -> tuple[str, list[AIMessageChunk]]:
        """Stream an answer to `prompt` (a question or a message history).

        Returns `(full_text, chunks)`; `self.records` holds each chunk's timing. With `tools` (LangChain
        tools, such as `llm.lessons.tools.TOOLS.values()`), the model may call them: the chunks carry the calls'
        fragments (`chunk.tool_call_chunks`), and their sum's `tool_calls` the calls; nothing is run.
        Extra keyword arguments (`temperature`, `max_tokens`, ...) go to the model.
        """
        acc = Accumulator()
        messages = self._fit(prompt, system_prompt, kwargs)
        for _, record in accumulate(self._with(tools).stream(messages, **kwargs), acc):
            _echo(record, echo)
        return self._finish(acc, echo)

    async def astream(
        self, prompt: Prompt, system_prompt: str | None = None, *, echo: bool = True, tools: list | None = None,
        **kwargs: Any,
    ) -> tuple[str, list[AIMessageChunk]]:
        """The async twin of `stream`: `text, chunks = await LLM().astream(...)`."""
        acc = Accumulator()
        messages = self._fit(prompt, system_prompt, kwargs)
        async for _, record in aaccumulate(self._with(tools).astream(messages, **kwargs), acc):
            _echo(record, echo)
        return self._finish(acc, echo)

    def stream_json(
        self, request: str, schema: dict | str | None = None, *, echo: bool = True, **kwargs: Any
    ) -> tuple[Any, list[AIMessageChunk]]:
        """Ask for JSON (matching `schema`, a JSON Schema, if given) and stream it.

        Prints each change of the partial object (`add PATH VALUE`, `append PATH TEXT`) and a last
        line saying whether the JSON is complete and valid; returns `(object, chunks)`. When the
        answer is cut short or is not valid JSON, the object is the last good state and
        `self.json_note` says what went wrong.
        """
        answer, acc = JSONAnswer(parse_schema(schema)), Accumulator()
        asking = self._json_request(request, answer, kwargs)
        for _ in accumulate(asking.stream(), acc):
            _echo_changes(answer.update(acc.records), echo)
        return self._finish_json(answer, acc, echo, asking)

    async def astream_json(
        self, request: str, schema: dict | str | None = None, *, echo: bool = True, **kwargs: Any
    ) -> tuple[Any, list[AIMessageChunk]]:
        """The async twin of `stream_json`: `obj, chunks = await LLM().astream_json(...)`."""
        answer, acc = JSONAnswer(parse_schema(schema)), Accumulator()
        asking = self._json_request(request, answer, kwargs)
        async for _ in aaccumulate(asking.astream(), acc):
            _echo_changes(answer.update(acc.records), echo)
        return self._finish_json(answer, acc, echo, asking)

    def _with(self, tools: list | None) -> Any:
        return self.model.bind_tools(list(tools)) if tools else self.model

    def save_chunks(self, path: str | Path) -> Path:
        """Write the last answer's chunks and timings as a chunk log (JSON Lines) the app can replay."""
        path = Path(path)
        path.write_text(dumps_chunk_log(self.records, self.chunks), encoding="utf-8")
        return path

    def _json_request(self, request: str, answer: JSONAnswer, kwargs: dict[str, Any]) -> JSONRequest:
        messages = json_messages(request, answer.schema, self.system_prompt)
        return JSONRequest(self.model, self._fit(messages, None, kwargs), answer.schema, **kwargs)

    def _finish_json(self, answer: JSONAnswer, acc: Accumulator, echo: bool,
                     asking: JSONRequest) -> tuple[Any, list[AIMessageChunk]]:
        self.json_note = f"{answer.finish(acc)} {asking.note}".strip()
        if echo:
            print(self.json_note, flush=True)
        self.records, self.chunks = acc.records, acc.chunks
        return answer.value, acc.chunks

    def _fit(self, prompt: Prompt, system_prompt: str | None, kwargs: dict[str, Any]) -> list:
        """The messages to send: a history too long for the model's window loses its oldest turns."""
        messages = to_messages(prompt, system_prompt or self.system_prompt)
        max_tokens = kwargs.get("max_tokens") or getattr(self.model, "max_tokens", None) or 256
        fitted = fit_for_model(self.model, messages, int(max_tokens))
        self.context_note = fitted.note()
        return fitted.messages

    def _finish(self, acc: Accumulator, echo: bool) -> tuple[str, list[AIMessageChunk]]:
        if echo:
            print(flush=True)
        self.records, self.chunks = acc.records, acc.chunks
        return acc.text, acc.chunks


def _echo_changes(changes: list, echo: bool) -> None:
    for change in changes if echo else ():
        print(change.op, change.path, json.dumps(change.value, ensure_ascii=False), flush=True)


def _echo(record: ChunkRecord, echo: bool) -> None:
    if echo and record.text:
        print(record.text, end="", flush=True)

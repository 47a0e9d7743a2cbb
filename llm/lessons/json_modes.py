"""Asking any OpenAI-compatible server for JSON: servers differ in the JSON modes they take.

OpenAI takes `json_schema`; llama-cpp-python's server only `json_object` (with a `schema` it makes a
grammar of); others `json_object` alone, or nothing. A request that a server refuses before any
chunk came is sent again in the next mode, and what worked is remembered per server and model:

    json_schema → json_object with the schema (a grammar, where the server makes one)
                → json_object → the prompt alone

The schema is always in the system prompt too (`json_messages`), so every mode asks for it.

    >>> [mode.name for mode in modes_for({"type": "object"})]
    ['json_schema', 'json_object+schema', 'json_object', 'prompt']
    >>> [mode.name for mode in modes_for(None)]
    ['json_object', 'prompt']
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, closing
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.runnables import Runnable, RunnableConfig

from llm.errors import error_detail
from llm.stream.messages import to_messages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JSONMode:
    name: str
    says: str  # for the JSON tab's note

    def response_format(self, schema: dict | None) -> dict | None:
        if self.name == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": False}}
        if self.name == "json_object+schema":
            return {"type": "json_object", "schema": schema}
        if self.name == "json_object":
            return {"type": "json_object"}
        return None


SCHEMA = JSONMode("json_schema", "JSON mode: json_schema.")
OBJECT_WITH_SCHEMA = JSONMode("json_object+schema", "JSON mode: json_object with the schema (the server refused json_schema).")
OBJECT = JSONMode("json_object", "JSON mode: json_object, the schema in the prompt (the server took no schema in response_format).")
PROMPT = JSONMode("prompt", "JSON mode: none, the request in the prompt only (the server refused response_format).")
PLAIN_OBJECT = JSONMode("json_object", "JSON mode: json_object.")  # asked without a schema
GRAMMAR = JSONMode("grammar", "JSON mode: llama.cpp's grammar, made from the schema.")  # the bundled model's own
_WORKED: dict[tuple[str, str, bool], str] = {}  # (server, model, with a schema): the mode that worked last


def modes_for(schema: dict | None) -> list[JSONMode]:
    return [SCHEMA, OBJECT_WITH_SCHEMA, OBJECT, PROMPT] if schema else [PLAIN_OBJECT, PROMPT]


def refused_mode(error: BaseException) -> bool:
    """Whether a server's error before any chunk says no to the request as sent (a 400 or 422, or a
    500 that names the response format, as llama-cpp-python's server does), so another mode may do."""
    status = getattr(error, "status_code", None)
    if status in (400, 422):
        return True
    if status != 500:
        return False
    text = error_detail(error).lower()  # the whole message: the sentence that names the field may be late
    return any(word in text for word in ("response_format", "json_schema", "json_object", "input should be"))


class JSONRequest:
    """One request for JSON to `model`, streamed in the first mode the server takes; `mode` says which.
    A model with its own `json_response_format` (the bundled one) is asked that way only."""

    def __init__(self, model: Any, messages: list[BaseMessage], schema: dict | None, /, **options: Any) -> None:
        self.model, self.messages, self.schema, self.options = model, messages, schema, options
        self._key = (str(getattr(model, "openai_api_base", "") or ""),
                     str(options.get("model") or getattr(model, "model_name", "") or ""),
                     bool(schema))
        own = getattr(model, "json_response_format", None)
        self._own = own if callable(own) else None  # the bundled model's grammar: its only mode
        modes = modes_for(schema)
        names = [mode.name for mode in modes]
        worked = _WORKED.get(self._key)
        self._modes = modes[names.index(worked):] if worked in names else modes
        if self._own:
            self._modes = [GRAMMAR]
        self.mode: JSONMode | None = None

    @property
    def note(self) -> str:
        return self.mode.says if self.mode is not None else ""

    def _bound(self, mode: JSONMode) -> Any:
        response_format = self._own(self.schema) if self._own else mode.response_format(self.schema)
        extra = {"response_format": response_format} if response_format is not None else {}
        return self.model.bind(**self.options, **extra)

    def _try_next(self, error: Exception, started: bool, number: int) -> bool:
        """After `error` in the `number`th mode: whether to send the request again in the next."""
        if started or number == len(self._modes) or not refused_mode(error):
            return False
        log.info("JSON mode %s refused (%s); trying the next", self.mode.name if self.mode else "?", type(error).__name__)
        return True

    def _attempts(self) -> Iterator[_Attempt]:
        """One attempt per mode, until one ends well or fails in a way another mode would not mend."""
        for number, mode in enumerate(self._modes, start=1):
            attempt = _Attempt(self, number, mode)
            yield attempt
            if attempt.worked:
                return

    async def astream(self, config: RunnableConfig | None = None) -> AsyncIterator[AIMessageChunk]:
        """The answer's chunks; `config` (a chain's callbacks) goes to the model, so `astream_events`
        shows each request as the model's own run."""
        for attempt in self._attempts():
            with attempt:
                async with aclosing(attempt.model.astream(self.messages, config)) as chunks:
                    async for chunk in chunks:
                        attempt.started = True
                        yield chunk

    def stream(self, config: RunnableConfig | None = None) -> Iterator[AIMessageChunk]:
        """The sync twin of `astream`."""
        for attempt in self._attempts():
            with attempt:
                with closing(attempt.model.stream(self.messages, config)) as chunks:
                    for chunk in chunks:
                        attempt.started = True
                        yield chunk


class _Attempt:
    """One mode's try, as a context: a refusal before any chunk is swallowed when another mode may do
    (`JSONRequest._try_next`); an ending without error is remembered for the server and model."""

    def __init__(self, request: JSONRequest, number: int, mode: JSONMode) -> None:
        self.request, self.number, self.mode = request, number, mode
        self.model = request._bound(mode)
        self.started = self.worked = False

    def __enter__(self) -> _Attempt:
        self.request.mode = self.mode
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> bool:
        if error is None:
            _WORKED[self.request._key] = self.mode.name
            self.worked = True
            return False
        return isinstance(error, Exception) and self.request._try_next(error, self.started, self.number)


class JSONModel(Runnable[LanguageModelInput, AIMessageChunk]):
    """`model` as a chain step that asks for JSON the way `JSONRequest` does (the first mode the server
    takes). It adds no run of its own: in `astream_events` each request is the model's own run.

        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> JSONModel(FakeListChatModel(responses=['{"a": 1}']), None).invoke("an object").content
        '{"a": 1}'
    """

    def __init__(self, model: Any, schema: dict | None, /, **options: Any) -> None:
        self.model, self.schema, self.options = model, schema, options

    def _request(self, input: LanguageModelInput) -> JSONRequest:
        messages = input.to_messages() if isinstance(input, ChatPromptValue) else to_messages(input)
        return JSONRequest(self.model, messages, self.schema, **self.options)

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessageChunk:
        return sum(self.stream(input, config), AIMessageChunk(content=""))

    def stream(self, input: LanguageModelInput, config: RunnableConfig | None = None,
               **kwargs: Any) -> Iterator[AIMessageChunk]:
        yield from self._request(input).stream(config)

    async def astream(self, input: LanguageModelInput, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        async with aclosing(self._request(input).astream(config)) as chunks:
            async for chunk in chunks:
                yield chunk

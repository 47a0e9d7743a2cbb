"""The Pipeline's JSON parser: langchain-core's `JsonOutputParser`, read in one pass as it streams.

Streaming, langchain-core's parser parses the *whole* text again at every chunk, in Python: a
100 KB answer in 4-character chunks is 25,000 parses of up to 100 KB, minutes of the one event
loop every visitor shares. This one feeds each chunk once to the JSON tab's `PartialJSON` (ijson
underneath), and yields a copy of the object so far when it changed and enough new text came since
the last copy (at least 1/32 of all so far), so copying stays near linear however long the answer.
It shows a number or key once it is complete, as the JSON tab does.

It also says what went wrong in a sentence: text with no JSON (langchain-core's parser yields
nothing, and a plain function after it fails with `UnboundLocalError`), JSON that breaks off or
nests more than 100 deep:

    >>> from langchain_core.messages import AIMessageChunk
    >>> pieces = ['{"countries": [{"name": "Fra', 'nce"}, {"name": "Spain"}]}']
    >>> list(JsonParserSayingNoJson().transform(AIMessageChunk(content=p) for p in pieces))
    [{'countries': [{'name': 'Fra'}]}, {'countries': [{'name': 'France'}, {'name': 'Spain'}]}]
    >>> list(JsonParserSayingNoJson().transform(iter([AIMessageChunk(content="Hello "), AIMessageChunk(content="there")])))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    langchain_core.exceptions.OutputParserException: The model's text held no JSON: 'Hello there'...
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import JsonOutputParser

from llm.inert import cut
from llm.lessons.partial_json import JSONProblem, PartialJSON

NO_JSON_SHOWN = 300  # characters of the model's text a "no JSON" sentence shows
COPY_EVERY = 32  # a copy of the object goes out once new text is at least 1/32 of all so far


class JsonParserSayingNoJson(JsonOutputParser):
    """JsonOutputParser that streams in one pass and says in a sentence what went wrong."""

    name: str | None = "JsonOutputParser"  # the step's name in the events, as the how-to's

    def _transform(self, input: Iterator[Any]) -> Iterator[Any]:
        reading = _Reading()
        for chunk in input:
            yield from reading.feed(chunk)
        yield from reading.end()

    async def _atransform(self, input: AsyncIterator[Any]) -> AsyncIterator[Any]:
        reading = _Reading()
        async for chunk in input:
            for value in reading.feed(chunk):
                yield value
        for value in reading.end():
            yield value


class _Reading:
    """One answer's text, fed to `PartialJSON` from its first `{` or `[` (a code fence or words
    before it are skipped, as langchain-core's parser does) until that value closes."""

    def __init__(self) -> None:
        self.parser = PartialJSON()
        self.before: list[str] = []  # text before the JSON began, for the "no JSON" sentence
        self.started = False
        self.fed = 0  # characters of JSON fed so far
        self.copied_at = 0  # `fed` when the last copy went out
        self.changed = False  # since the last copy

    def feed(self, chunk: Any) -> list[Any]:
        text = chunk.text if isinstance(chunk, BaseMessage) else str(chunk)
        if not self.started:
            self.before.append(text)
            joined = "".join(self.before)
            start = min((i for i in (joined.find("{"), joined.find("[")) if i >= 0), default=-1)
            if start < 0:
                return []
            self.started, text = True, joined[start:]
        if self.parser.complete and not self.parser.problem:
            return []  # after the value: a closing code fence, or words
        self.changed |= bool(self.parser.feed(text))
        self.fed += len(text)
        if self.parser.problem:
            raise self._failed(self.parser.problem)
        if self.changed and (self.fed - self.copied_at >= max(1, self.fed // COPY_EVERY) or self.parser.complete):
            return [self._copy()]
        return []

    def end(self) -> list[Any]:
        if not self.started:
            raise _no_json("".join(self.before))
        if not self.parser.complete:
            try:
                self.parser.close()
            except JSONProblem as problem:
                if not problem.truncated:
                    raise self._failed(problem) from None
        return [self._copy()] if self.changed else []

    def _copy(self) -> Any:
        self.changed, self.copied_at = False, self.fed
        return json.loads(json.dumps(self.parser.value))  # a copy, at C speed: later chunks change the value

    def _failed(self, problem: JSONProblem) -> OutputParserException:
        return OutputParserException(f"The model's JSON could not be read: {problem}", llm_output="".join(self.before))


def _no_json(text: str) -> OutputParserException:
    return OutputParserException(f"The model's text held no JSON: {cut(text, NO_JSON_SHOWN)!r}", llm_output=text)

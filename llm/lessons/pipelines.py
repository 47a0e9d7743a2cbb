"""Five chains from LangChain's streaming how-to, and one that runs two of them side by side: each
shows whether a chain streams when every step does, and where it stops when one step does not.

Every preset is a real LCEL chain over langchain-core Runnables; each takes the question as a
string and can be run with `astream`, or with `astream_events(version="v2")` to see each step:

    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> model = FakeListChatModel(responses=['{"countries": [{"name": "France"}, {"name": "Spain"}]}'])
    >>> chain = preset_chain("JSON parser + generator", model)
    >>> [names for names in chain.stream("France and Spain")]  # each chunk is a name that just finished
    [['France'], ['Spain']]
    >>> preset_chain("JSON parser + plain function", model).invoke("France and Spain")
    ['France', 'Spain']

What each teaches is in `PRESETS[name].teaches`; `llm.lessons.pipeline_run.PipelineRun` watches one run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableParallel, RunnablePassthrough

from llm.lessons.bundled_documents import KeywordRetriever, format_documents
from llm.lessons.json_answer import json_messages
from llm.lessons.json_modes import JSONModel
from llm.lessons.json_parser import JsonParserSayingNoJson

# The how-to's example object: {"countries": [{"name": …, "population": …}]}.
COUNTRIES_SCHEMA = {
    "type": "object",
    "properties": {"countries": {"type": "array", "maxItems": 12, "items": {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 40}, "population": {"type": "integer"}},
        "required": ["name", "population"],
    }}},
    "required": ["countries"],
}
SIDE_BY_SIDE = ("plain function", "generator")  # the keys of the side-by-side chain's output


def _names(countries: Any) -> list[str]:
    """The names in a (partial) `{"countries": [...]}` object; anything else has none."""
    found = countries.get("countries") if isinstance(countries, dict) else None
    return [c["name"] for c in found if isinstance(c, dict) and isinstance(c.get("name"), str)] if isinstance(
        found, list) else []


def extract_country_names(countries: Any) -> list[str]:
    """A plain function: it needs its whole input, so in a chain it runs once, after the model ends."""
    return _names(countries)


def _finished_names(partial: Any, seen: int) -> list[str]:
    """Names of the countries the object has moved past (a later one has begun), from the `seen`th on:
    the last name may still be growing ("Fra" before "France")."""
    found = partial.get("countries") if isinstance(partial, dict) else None
    done = _names({"countries": found[:-1]}) if isinstance(found, list) else []
    return done[seen:]


def _extract_names_streaming(partials: Iterator[Any]) -> Iterator[list[str]]:
    seen, last = 0, None
    for last in partials:
        for name in _finished_names(last, seen):
            seen += 1
            yield [name]
    for name in _names(last)[seen:]:  # the input ended: the last names are whole now
        yield [name]


async def _aextract_names_streaming(partials: AsyncIterator[Any]) -> AsyncIterator[list[str]]:
    seen, last = 0, None
    async for last in partials:
        for name in _finished_names(last, seen):
            seen += 1
            yield [name]
    for name in _names(last)[seen:]:
        yield [name]


# A generator over its input stream: each name goes out as soon as it is complete, as a one-item
# list, so the chunks add up (`+`) to the list of names so far.
extract_country_names_streaming = RunnableGenerator(
    _extract_names_streaming, _aextract_names_streaming, name="extract_country_names_streaming"
)


def _json_prompt() -> ChatPromptTemplate:
    system = json_messages("", COUNTRIES_SCHEMA)[0].content
    return ChatPromptTemplate.from_messages([SystemMessage(content=system), ("user", "{question}")])


def _text_prompt(with_context: bool = False) -> ChatPromptTemplate:
    if not with_context:
        return ChatPromptTemplate.from_messages([("user", "{question}")])
    return ChatPromptTemplate.from_messages([
        ("system", "Answer in a few sentences, using this context:\n\n{context}"), ("user", "{question}")])


@dataclass(frozen=True)
class Preset:
    name: str
    teaches: str  # one sentence, for the page and the README
    build: Callable[[Any, Any], Runnable]  # (chat model, the same model asking for JSON) → the chain
    question: str  # an example question that suits it


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("model only", "Every step streams: each token the model makes is output at once.",
           lambda model, _: _text_prompt() | model | StrOutputParser(), "Who's Elon Musk?"),
    Preset("JSON parser", "JsonOutputParser streams too: it yields the object parsed so far, growing.",
           lambda _, json: _json_prompt() | json | JsonParserSayingNoJson(),
           "France, Spain and Japan, with their populations"),
    Preset("JSON parser + plain function",
           "A plain function after the parser waits for its whole input: nothing comes out until the model ends.",
           lambda _, json: _json_prompt() | json | JsonParserSayingNoJson() | extract_country_names,
           "The twelve most populous countries, with their populations"),
    Preset("JSON parser + generator",
           "The same extraction as a generator over its input stream: names come out while the model writes.",
           lambda _, json: _json_prompt() | json | JsonParserSayingNoJson() | extract_country_names_streaming,
           "The twelve most populous countries, with their populations"),
    Preset("retriever first",
           "A retriever answers once, before the model starts: the start waits for it, then the answer streams.",
           lambda model, _: ({"context": KeywordRetriever() | format_documents, "question": RunnablePassthrough()}
                             | _text_prompt(with_context=True) | model | StrOutputParser()),
           "Why does a plain function in a chain break streaming?"),
    Preset("plain function vs generator (side by side)",
           "One answer of the model fed to both last steps at once (RunnableParallel): only the step differs.",
           lambda _, json: _json_prompt() | json | JsonParserSayingNoJson() | RunnableParallel(
               {SIDE_BY_SIDE[0]: extract_country_names, SIDE_BY_SIDE[1]: extract_country_names_streaming}),
           "The twelve most populous countries, with their populations"),
]}


def preset_chain(name: str, model: Any, /, **options: Any) -> Runnable:
    """The preset `name` over `model` (with `options` such as temperature, max_tokens); the chain's
    run is named after the preset. Presets that want JSON ask for it as the JSON tab does."""
    preset = PRESETS[name]
    return preset.build(model.bind(**options) if options else model,
                        JSONModel(model, COUNTRIES_SCHEMA, **options)).with_config(run_name=name)

"""Chat messages go past the openai SDK's request transform (`llm/stream/request_dicts.py`), and the
server still receives exactly what plain ChatOpenAI sends: every kind of message, tools, JSON mode,
streamed or not, against the real scripted server."""

import asyncio

import httpx2
import openai.resources.chat.completions.completions as completions
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI

from llm.stream.thinking import ChatOpenAICompatible
from tests.openai_server import Scenario, numbered_tokens

CONVERSATION = [
    SystemMessage("You are terse."),
    HumanMessage("What's the weather in Paris?"),
    AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1"}]),
    ToolMessage('{"sky": "clear", "°C": 21}', tool_call_id="call_1"),
    AIMessage("Clear, 21 °C."),
    HumanMessage([{"type": "text", "text": "And tomorrow?"}, {"type": "text", "text": " ✓ ünïcode"}]),
]


def weather(city: str) -> str:
    """The weather in a city."""
    return city


def made(model_class: type[ChatOpenAI], server, **kwargs) -> ChatOpenAI:
    # A connection pool of its own: LangChain's default one outlives the event loop of `asyncio.run`.
    return model_class(base_url=server.base_url, api_key="sk-test", model="fake", max_retries=0,
                       http_async_client=httpx2.AsyncClient(), **kwargs)


def requests_of(model_class: type[ChatOpenAI], server) -> list[bytes]:
    """The bodies the server receives from `model_class`: streamed, with tools, in JSON mode, and whole."""
    server.reset(Scenario(tokens=numbered_tokens(3)))
    model = made(model_class, server, temperature=0.5, stream_usage=True)

    async def streamed() -> None:
        async for _ in model.astream(CONVERSATION):
            pass
        async for _ in model.bind_tools([weather]).astream(CONVERSATION):
            pass
        async for _ in model.bind(response_format={"type": "json_object"}).astream(CONVERSATION):
            pass

    asyncio.run(streamed())
    model.invoke(CONVERSATION)
    return list(server.raw_requests)


def test_the_server_receives_the_same_bytes_as_from_plain_chatopenai(server):
    plain = requests_of(ChatOpenAI, server)
    ours = requests_of(ChatOpenAICompatible, server)
    assert len(plain) == 4 and b'"messages":[{"content":"You are terse."' in plain[0]
    assert ours == plain


@pytest.mark.parametrize("model_class, walked", [(ChatOpenAI, True), (ChatOpenAICompatible, False)])
def test_the_sdks_transform_walks_the_messages_only_for_plain_chatopenai(server, monkeypatch, model_class, walked):
    seen: list[object] = []
    transform = completions.async_maybe_transform

    async def recorded(data, expected_type):
        seen.append(data)
        return await transform(data, expected_type)

    monkeypatch.setattr(completions, "async_maybe_transform", recorded)
    model = made(model_class, server)

    async def streamed() -> str:
        return "".join([chunk.text async for chunk in model.astream(CONVERSATION)])

    assert asyncio.run(streamed()) == "".join(server.scenario.tokens)
    assert [bool(body["messages"]) for body in seen] == [walked]
    assert len(server.requests[-1]["messages"]) == len(CONVERSATION)

"""The Tools tab's agent (`create_agent`) as `AgentRun` reads it: each model call's chunks apart, every
event of three stream modes, the tools' own progress, strict arguments, the agent's call limit, and
Stop closing the request. Against the scripted server, with the app's own chat model."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from langchain_core.messages import AIMessageChunk, HumanMessage

from llm import build_chat_model
from llm.lessons.agent_run import AgentRun
from llm.lessons.tools import TOOLS
from tests.conftest import server_settings
from tests.openai_server import Scenario

BOTH = [{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"},
        {"name": "country_facts", "arguments": '{"name": "Kenya"}', "id": "c2"}]


def run_through(server, calls: int = 4, stop_after: int | None = None) -> tuple[AgentRun, list[list[AIMessageChunk]]]:
    """Read an agent run as the Tools tab does; each model call's chunks. `stop_after`: close the first
    call's chunks after that many, as Stop does."""
    async def read() -> tuple[AgentRun, list[list[AIMessageChunk]]]:
        run = AgentRun(build_chat_model(server_settings(server)), list(TOOLS.values()),
                       [HumanMessage("12*7, and Kenya's capital?")], calls=calls)
        every, more = [], True
        while more:
            chunks: list[AIMessageChunk] = []
            async with aclosing(run.call_chunks()) as stream:
                async for chunk in stream:
                    chunks.append(chunk)
                    if stop_after is not None and len(chunks) == stop_after:
                        break
            every.append(chunks)
            if stop_after is not None:
                return run, every
            more = False
            async with aclosing(run.between_calls()) as steps:
                async for next_call in steps:
                    more = more or next_call
        return run, every

    return asyncio.run(read())


def test_each_model_call_streams_apart_and_every_mode_is_recorded(server):
    server.scenario = Scenario(tool_calls=BOTH, tool_piece=4)
    run, calls = run_through(server)
    assert run.calls == 2 and len(calls) == 2 and len(server.requests) == 2
    first = sum(calls[0][1:], calls[0][0])  # chunks add up, call by call
    assert [call["args"] for call in first.tool_calls] == [{"expression": "12*7"}, {"name": "Kenya"}]
    assert "".join(chunk.text for chunk in calls[1]).startswith("The tools said: 84; Kenya: capital Nairobi")
    assert {call_id: (message.status, message.content) for call_id, message in run.results.items()} == {
        "c1": ("success", "84"), "c2": ("success", TOOLS["country_facts"].invoke({"name": "Kenya"}))}
    assert run.progress == {"calculator": ["evaluating 12*7"], "country_facts": ["looking up Kenya"]}
    modes = [(mode, node) for _, mode, node, _ in run.events]
    assert {("messages", "model"), ("updates", "model"), ("messages", "tools"), ("updates", "tools"),
            ("custom", "tools")} <= set(modes)
    # Order: the first call's chunks, its update, the tools' progress and results, then the second call.
    assert modes.index(("updates", "model")) < modes.index(("custom", "tools")) < modes.index(("updates", "tools"))
    assert [row[0] for row in run.events] == sorted(row[0] for row in run.events)  # ms since the request
    assert not run.limit_reached


def test_arguments_langchain_would_repair_never_run_and_the_model_is_not_asked_again(server, monkeypatch):
    """langchain-core reads `{"expression": 12*7` as {"expression": 12} (langchain-ai/langchain#39275)."""
    ran = []
    monkeypatch.setattr("llm.lessons.tools.evaluate", lambda expression: ran.append(expression) or 1)
    for arguments, problem in [('{"expression": 12*7', "invalid char"), ('{"expression": "1"}{"expression": "2"}',
                                                                          "trailing garbage")]:
        server.reset(Scenario(tool_calls=[{"name": "calculator", "arguments": arguments, "id": "c1"}], tool_piece=5))
        run, calls = run_through(server)
        assert sum(calls[0][1:], calls[0][0]).tool_calls  # LangChain's own reading: a call to run
        assert ran == [] and len(server.requests) == 1 and run.calls == 1
        said = run.results["c1"]
        assert said.status == "error" and said.content.startswith("Error: not run:") and problem in said.content


def test_the_agents_own_limit_ends_a_run_that_never_stops_calling(server):
    server.scenario = Scenario(tool_calls=BOTH[:1])
    server.scenario.answers_tools = lambda body: False  # a model that calls a tool every time
    run, calls = run_through(server, calls=3)
    assert run.calls == 3 and len(server.requests) == 3 and run.limit_reached


def test_closing_a_model_calls_chunks_closes_the_request_upstream(server):
    server.scenario = Scenario(tool_calls=BOTH, tool_piece=1, rate=50)
    run, calls = run_through(server, stop_after=3)
    assert len(calls[0]) == 3 and run.finished
    disconnect = server.wait_for_disconnect()
    assert disconnect is not None and len(server.requests) == 1

"""Tool calls followed as they stream (llm/lessons/tool_calls.py): honest arguments, apart by index, strict at the end."""

from __future__ import annotations

import copy
import json

import pytest
from langchain_openai import ChatOpenAI

from llm import Accumulator
from llm.lessons.tool_calls import COMPLETE, INVALID, STREAMING, ToolCalls
from tests.json_documents import is_honest
from tests.openai_server import Scenario
from tests.test_tools import HARD_ARGUMENTS


def follow(pieces: list[str]) -> tuple[list, ToolCalls]:
    calls, shown = ToolCalls(), []
    calls.add([{"index": 0, "id": "c1", "name": "calculator", "args": ""}])
    for piece in pieces:
        calls.add([{"index": 0, "args": piece}])
        shown.append(copy.deepcopy(next(iter(calls)).arguments))
    calls.finish()
    return shown, calls


def test_arguments_cut_at_every_position_never_show_an_unfinished_value():
    final = json.loads(HARD_ARGUMENTS)
    for cut in range(1, len(HARD_ARGUMENTS)):
        shown, calls = follow([HARD_ARGUMENTS[:cut], HARD_ARGUMENTS[cut:]])
        assert is_honest(shown[0], final), (cut, shown[0])
        assert shown[-1] == final and next(iter(calls)).state == COMPLETE
    shown, _ = follow(list(HARD_ARGUMENTS))  # one character at a time
    assert all(is_honest(state, final) for state in shown)
    assert not any(12 in (v if isinstance(v, list) else [v]) for s in shown for v in s.values())  # no "12" of 123456789012


@pytest.mark.parametrize(("text", "says"), [
    ('{"expression": 12*7', "Not valid JSON"),
    ('{"expression": "12*7"', "ended before it was complete"),
    ('["12*7"]', "not a JSON object"),
    ("", "ended before"),
    ('{"expression": "1"}{"expression": "2"}', "trailing garbage"),
])
def test_arguments_that_are_not_one_json_object_make_an_invalid_call(text, says):
    _, calls = follow([text] if text else [])
    call = next(iter(calls))
    assert call.state == INVALID and says in call.problem


def test_parallel_calls_from_the_server_stay_apart_by_index(server):
    calls = [{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"},
             {"name": "country_facts", "arguments": '{"name": "Kenya"}', "id": "c2"}]
    server.scenario = Scenario(tool_calls=calls, tool_piece=2)
    acc, followed, states = Accumulator(), ToolCalls(), []
    for chunk in ChatOpenAI(base_url=server.base_url, api_key="test", model="fake").stream("both"):
        acc.add(chunk)
        followed.update(acc.records)
        states.append([(c.name, copy.deepcopy(c.arguments), c.state) for c in followed])
    assert ("calculator", {"expression": "12"}, STREAMING) in [s[0] for s in states if s]  # the string grows
    assert ("country_facts", {}, STREAMING) in [s[1] for s in states if len(s) > 1]  # before its key is whole
    finished = followed.finish()
    assert [c.as_tool_call() for c in finished] == [
        {"name": "calculator", "args": {"expression": "12*7"}, "id": "c1", "type": "tool_call"},
        {"name": "country_facts", "args": {"name": "Kenya"}, "id": "c2", "type": "tool_call"}]
    assert [c.as_tool_call() for c in finished] == acc.total.tool_calls  # the same as `+` gives, when valid


def test_the_debug_sum_check_covers_tool_calls_and_fails_on_a_doctored_chunk(server):
    from dataclasses import replace

    from llm.stream.report import DebugReport

    calls = [{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"},
             {"name": "country_facts", "arguments": '{"name": "Kenya"}', "id": "c2"}]
    server.scenario = Scenario(tool_calls=calls, tool_piece=3)
    acc = Accumulator()
    for chunk in ChatOpenAI(base_url=server.base_url, api_key="test", model="fake").stream("both"):
        acc.add(chunk)
    report = DebugReport()
    report.update(acc.records)
    summary = report.summary("done", acc.text, acc.total)
    assert "Tool-call check ✓ the 16 fragments add up to the final message's 2 tool calls." in summary
    assert report.rows[1][8] == '#0 calculator (c1) ""' and report.rows[3][8] == '#0 "{\\"e"'

    doctored = list(acc.records)
    at = next(i for i, r in enumerate(doctored) if r.tool_call_chunks and r.tool_call_chunks[0]["args"] == "\"12")
    doctored[at] = replace(doctored[at], tool_call_chunks=({**doctored[at].tool_call_chunks[0], "args": "\"13"},))
    report = DebugReport()
    report.update(doctored)
    assert "Tool-call check ✗" in report.summary("done", acc.text, acc.total)


def test_the_notebook_api_streams_tool_calls_and_returns_text_and_chunks(server):
    from llm import LLM, Settings
    from llm.lessons.tools import TOOLS

    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"}])
    model = LLM(settings=Settings(provider="openai", openai_api_key="test", openai_base_url=server.base_url))
    text, chunks = model.stream("12*7?", tools=TOOLS.values(), echo=False)
    assert text == "" and sum(chunks[1:], chunks[0]).tool_calls[0]["args"] == {"expression": "12*7"}
    assert any(c.tool_call_chunks for c in chunks) and model.records[1].tool_call_chunks[0]["name"] == "calculator"
    assert [t["function"]["name"] for t in server.requests[-1]["tools"]] == ["calculator", "country_facts"]

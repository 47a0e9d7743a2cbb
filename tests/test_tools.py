"""The demo tools (safe by construction) and the scripted server's tool calls, as a real
ChatOpenAI streams them: fragments by index, merged with `+`."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI

from llm.lessons.tools import MAX_EXPRESSION_CHARS, TOOLS, run_tool
from tests.openai_server import Scenario

HARD_ARGUMENTS = json.dumps({"expression": "-12.5e3 * (7 // 2)", "note": 'a "quoted" \\ back\\slash é 日本 😀',
                             "n": [0, -1.25, 1e-7, 123456789012]}, ensure_ascii=False)


def call(tool: str, **args) -> tuple[bool, str]:
    return run_tool({"name": tool, "args": args, "id": "t"})


@pytest.mark.parametrize(("expression", "result"), [
    ("12*7", "84"), ("(3 + 4.5) / 2", "3.75"), ("2**10", "1024"), ("-7 // 2", "-4"), ("10 % 4", "2"), ("1e3", "1000"),
])
def test_the_calculator_does_arithmetic(expression, result):
    assert call("calculator", expression=expression) == (True, result)


@pytest.mark.parametrize(("expression", "says"), [
    ("1/0", "cannot divide by zero"),
    ("9**9**9", "refuses a result beyond"),
    ("10.0**400", "refuses a result beyond"),
    ("__import__('os').system('id')", "not a function call"),
    ("(1).real", "not an attribute"),
    ("open('/etc/passwd')", "not a function call"),
    ("x + 1", "not the name 'x'"),
    ("'a' * 3", "not Constant"),
    ("[1, 2]", "not List"),
    ("1 +", "could not read"),
    ("", "needs an expression"),
    ("1+" * MAX_EXPRESSION_CHARS + "1", f"at most {MAX_EXPRESSION_CHARS} characters"),
    ("(-1) ** 0.5", "not a real number"),
    ("1e999", "refuses a number beyond"),  # Python reads it as infinity: it had answered "inf"
    ("1e999-1e999", "refuses a number beyond"),  # it had answered "nan"
])
def test_the_calculator_refuses_anything_else_in_words(expression, says):
    ok, text = call("calculator", expression=expression)
    assert not ok and text.startswith("Error: calculator") and says in text


def test_country_facts_come_from_the_bundled_table():
    assert call("country_facts", name=" KENYA ") == (
        True, "Kenya: capital Nairobi; population about 55,100,000 (2023); Africa; currency: Kenyan shilling.")
    ok, text = call("country_facts", name="Atlantis")
    assert not ok and "knows 18 countries" in text and "'Atlantis'" in text


def test_bad_calls_get_a_readable_error_never_an_exception():
    assert run_tool({"name": "shell", "args": {}, "id": "x"}) == (
        False, "Error: there is no tool named 'shell'; the tools are calculator, country_facts.")
    assert call("calculator") == (False, "Error: calculator needs an expression, such as 12*7.")  # no arguments
    ok, text = call("calculator", expression="1", sneaky=1)
    assert not ok and text.startswith("Error: calculator could not run with these arguments (TypeError")
    ok, text = call("country_facts", name=["Kenya"])
    assert not ok and "could not run" in text
    assert set(TOOLS) == {"calculator", "country_facts"}


def test_the_calculator_schema_shows_a_model_arithmetic_only():
    """The pattern is what makes the bundled model write '12*7' (its grammar), not '{12} * {7}'."""
    pattern = re.compile(convert_to_openai_tool(TOOLS["calculator"])["function"]["parameters"]["properties"]
                         ["expression"]["pattern"])
    assert all(pattern.match(e) for e in ("12*7", "(3 + 4.5) / 2", "-2**10", "9" * 200))
    assert not any(pattern.match(e) for e in ("{12} * {7}", "x", ".5", "abs(1)", "9" * 201))


def test_the_server_streams_parallel_calls_interleaved_and_answers_with_the_results(server):
    calls = [{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"},
             {"name": "country_facts", "arguments": '{"name": "Kenya"}', "id": "c2"}]
    server.scenario = Scenario(tool_calls=calls, tool_piece=3)
    model = ChatOpenAI(base_url=server.base_url, api_key="test", model="fake")
    chunks = list(model.stream("12*7, and Kenya's capital?"))
    indexes = [c.tool_call_chunks[0]["index"] for c in chunks if c.tool_call_chunks]
    assert indexes[:4] == [0, 1, 0, 1]  # interleaved
    message = sum(chunks[1:], chunks[0])
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("calculator", {"expression": "12*7"}, "c1"), ("country_facts", {"name": "Kenya"}, "c2")]
    assert message.response_metadata["finish_reason"] == "tool_calls"
    results = [ToolMessage(run_tool(c)[1], tool_call_id=c["id"]) for c in message.tool_calls]
    answer = model.invoke([HumanMessage("12*7, and Kenya's capital?"), message, *results]).content
    assert "84" in answer and "Nairobi" in answer


@pytest.mark.parametrize("piece", [1, 2, 5])
def test_arguments_split_anywhere_add_up_to_the_arguments(server, piece):
    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": HARD_ARGUMENTS}], tool_piece=piece)
    chunks = list(ChatOpenAI(base_url=server.base_url, api_key="test", model="fake").stream("hard"))
    message = sum(chunks[1:], chunks[0])
    assert message.tool_calls[0]["args"] == json.loads(HARD_ARGUMENTS)
    assert "".join(c.tool_call_chunks[0]["args"] for c in chunks if c.tool_call_chunks) == HARD_ARGUMENTS


def test_langchain_reads_arguments_that_never_become_json_leniently(server):
    """What a tool-call view must not trust: the merged message's `tool_calls` are parsed as partial
    JSON even at the end, so arguments cut inside an expression claim a number that was never sent."""
    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": '{"expression": 12*7'}])
    chunks = list(ChatOpenAI(base_url=server.base_url, api_key="test", model="fake").stream("broken"))
    message = sum(chunks[1:], chunks[0])
    assert message.tool_calls[0]["args"] == {"expression": 12}  # langchain-core's lenient reading
    with pytest.raises(json.JSONDecodeError):
        json.loads(message.tool_call_chunks[0]["args"])  # the fragments joined: never valid JSON

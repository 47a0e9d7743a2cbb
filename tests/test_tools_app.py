"""The Tools tab's `/tools` endpoint on the real app (an agent: `create_agent`), against the scripted server's
tool calls. Outputs: (conversation, status, events, lanes, then the Debug outputs)."""

from __future__ import annotations

import json
import threading
import time

from gradio_client import Client

from tests.openai_server import Scenario
from tests.test_app import cancel, cancel_once_streaming
from ui.tools_tab import NO_CALL

BOTH = [{"name": "calculator", "arguments": '{"expression": "12*7"}', "id": "c1"},
        {"name": "country_facts", "arguments": '{"name": "Kenya"}', "id": "c2"}]


def run_tools(url: str, message: str = "12*7, and Kenya's capital?", *settings, client: Client | None = None):
    job = (client or Client(url, verbose=False)).submit(message, *settings, api_name="/tools")
    job.result(timeout=60)
    return job.outputs()


def calls_in(conversation) -> list[dict]:
    return [m for m in conversation or [] if (m.get("metadata") or {}).get("title", "").startswith("Tool call:")]


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def arguments(message: dict) -> dict:
    return json.loads(text_of(message).split("```json\n", 1)[1].split("\n```", 1)[0])


def test_parallel_calls_stream_run_and_feed_the_answer(app_url, server):
    server.scenario = Scenario(tool_calls=BOTH, tool_piece=2, rate=50)
    outputs = run_tools(app_url)
    grown = [(m["metadata"]["title"], arguments(m)) for out in outputs for m in calls_in(out[0])
             if m["metadata"]["log"] == "streaming"]
    partial = [args for title, args in grown if args not in ({"expression": "12*7"}, {"name": "Kenya"}) and args]
    assert len({json.dumps(a) for a in partial}) >= 3  # arguments seen growing before the call was complete
    final = outputs[-1][0]
    titles = [(m["metadata"]["title"], m["metadata"]["log"]) for m in calls_in(final)]
    assert titles == [("Tool call: calculator (c1)", "done"), ("Tool call: country_facts (c2)", "done")]
    assert "**Result:** 84" in text_of(calls_in(final)[0]) and "Nairobi" in text_of(calls_in(final)[1])
    answer = text_of(final[-1])
    assert "84" in answer and "Nairobi" in answer and outputs[-1][1] == "✓ Answered."
    sent = server.requests[-1]["messages"]
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "tool"]
    # Each tool said what it was doing while it ran ("custom" events), shown in its call and in the events.
    assert "evaluating 12" in text_of(calls_in(final)[0]) and "looking up Kenya" in text_of(calls_in(final)[1])
    events = outputs[-1][2]["data"]
    assert {"updates", "messages", "custom"} <= {row[1] for row in events}
    assert ["custom", "tools", "calculator: evaluating 12*7"] in [row[1:] for row in events]
    assert {point[2] for point in outputs[-1][3]["data"]} == {"updates", "messages", "custom"}  # the lanes
    # Debug keeps both model calls: each with its chunks and its own sum check, the rows labelled by call.
    ended = [out for out in outputs if isinstance(out[4], str) and "Sum check" in out[4]]  # each call's final update
    summary, table = ended[-1][4], ended[-1][5]["data"]
    assert "Model call 2 of the agent's run" in summary and "Sum check ✓" in summary
    assert "call 1:" in summary and summary.count("they add up to its message") == 2
    assert {row[0].split(".")[0] for row in table} == {"1", "2"}


def test_invalid_arguments_are_shown_invalid_and_not_run(app_url, server):
    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": '{"expression": 12*7', "id": "c1"}])
    final = run_tools(app_url)[-1]
    call = calls_in(final[0])[0]
    assert call["metadata"]["log"] == "invalid" and "Not run" in text_of(call)
    assert len(server.requests) == 1  # no second round: nothing ran


def test_two_json_objects_in_one_call_are_invalid_and_never_run(app_url, server, monkeypatch):
    ran = []
    monkeypatch.setattr("llm.lessons.tools.evaluate", lambda expression: ran.append(expression) or 1)
    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": '{"expression": "1"}{"expression": "2"}',
                                            "id": "c1"}], tool_piece=5)
    final = run_tools(app_url)[-1]
    call = calls_in(final[0])[0]
    assert call["metadata"]["log"] == "invalid" and "Not run" in text_of(call) and "trailing garbage" in text_of(call)
    assert ran == [] and len(server.requests) == 1  # nothing ran, nothing went back to the model


def test_a_tool_error_goes_back_to_the_model_as_an_error_result(app_url, server):
    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": '{"expression": "1/0"}', "id": "c1"}])
    final = run_tools(app_url)[-1]
    assert calls_in(final[0])[0]["metadata"]["log"] == "failed"
    tool_message = server.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and "cannot divide by zero" in tool_message["content"]
    assert "cannot divide by zero" in text_of(final[0][-1])


def test_a_tool_that_is_off_never_runs_when_the_model_calls_it(app_url, server, monkeypatch):
    from llm.lessons import tools

    ran = []
    monkeypatch.setattr(tools, "evaluate", lambda expression: ran.append(expression) or 42)
    server.scenario = Scenario(tool_calls=[{"name": "calculator", "arguments": '{"expression": "6*7"}', "id": "c1"}])
    final = run_tools(app_url, "6*7?", "", 0.5, 100, None, "", ["country_facts"])[-1]
    assert ran == [] and calls_in(final[0])[0]["metadata"]["log"] == "failed"
    assert [t["function"]["name"] for t in server.requests[0]["tools"]] == ["country_facts"]
    tool_message = server.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and "calculator is not a valid tool" in tool_message["content"]


def test_the_round_limit_holds_and_is_said(app_url, server):
    server.scenario = Scenario(tool_calls=[BOTH[0]], after_tools="unused")
    server.scenario.answers_tools = lambda body: False  # a model that calls a tool every round
    final = run_tools(app_url)[-1]
    assert len(server.requests) == 4 and "limit of 4 model calls" in final[1]


def test_stop_while_arguments_stream_closes_the_request(app_url, server):
    server.scenario = Scenario(tool_calls=BOTH, tool_piece=1, rate=20)
    job = Client(app_url, verbose=False).submit("both", api_name="/tools")
    cancel_once_streaming(job, server, updates=3)


def wait_until(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition(), "it never happened"


def test_stop_while_a_tool_runs_sends_nothing_more(app_url, server, monkeypatch):
    from llm.lessons import tools

    running, release = threading.Event(), threading.Event()

    def slow_arithmetic(expression):  # stands in for a tool that takes a while
        running.set()
        release.wait(10)
        return 84

    monkeypatch.setattr(tools, "evaluate", slow_arithmetic)
    server.scenario = Scenario(tool_calls=[BOTH[0]])
    job = Client(app_url, verbose=False).submit("12*7?", api_name="/tools")
    wait_until(running.is_set)
    wait_until(lambda: any(t["metadata"]["log"] == "running" for out in job.outputs() for t in calls_in(out[0])))
    cancel(job)
    release.set()
    wait_until(lambda: job.done())
    assert len(server.requests) == 1  # the result never went back to the model


def test_stop_while_the_answer_streams_closes_it_and_keeps_the_results(app_url, server):
    server.scenario = Scenario(tool_calls=BOTH, tool_piece=8, rate=40,
                               after_tools=" ".join(["word"] * 200) + " {results}")
    job = Client(app_url, verbose=False).submit("both", api_name="/tools")
    wait_until(lambda: len(server.requests) == 2 and any("word word word" in str(out[0]) for out in job.outputs()))
    cancel(job)
    disconnect = server.wait_for_disconnect()
    assert disconnect and disconnect.tokens_sent < 200
    last = job.outputs()[-1][0]
    assert [m["metadata"]["log"] == "done" for m in calls_in(last)] == [True, True]


def test_inputs_are_checked_before_anything_goes_upstream(app_url, server):
    client = Client(app_url, verbose=False)
    for message, settings, says in [("", (), "Type a message first."),
                                    ("hi", ("", 0.5, 100, None, "", ["shell"]), "Tools that are on must be a list of"),
                                    ("hi", ("", 0.5, 100, None, "", ["calculator"] * 10_000),
                                     "Tools that are on may name each tool once."),
                                    ("hi", ("", "hot"), "Temperature must be a number")]:
        status = run_tools(app_url, message, *settings, client=client)[-1][1]
        assert status.startswith("⚠") and says in status.replace("\\", "")
    assert server.requests == []


def test_an_answer_with_no_call_says_so_once_instead_of_a_bare_tick(app_url, server):
    """llama_cpp.server (no tool-calling chat format) answered '12*7 = 96' under "✓ Answered."."""
    server.scenario = Scenario(tokens=["12*7 = 96", " / The capital", " of Kenya is Kiswahili"])
    outputs = run_tools(app_url)
    final, status = outputs[-1][0], outputs[-1][1]
    assert status == f"✓ {NO_CALL}"
    said = [m for m in final if (m.get("metadata") or {}).get("title") == "ℹ What happened"]
    assert [text_of(m) for m in said] == [NO_CALL] and final[-1] is said[0]
    assert "96" in text_of(final[-2]) and not calls_in(final)
    assert "tool_choice" not in server.requests[-1]  # the scripted server is not local: the model chooses


def test_after_tools_ran_the_answer_is_not_said_to_lack_a_call(app_url, server):
    server.scenario = Scenario(tool_calls=BOTH[:1])
    final, status = run_tools(app_url)[-1][:2]
    assert status == "✓ Answered." and NO_CALL not in json.dumps(final)


def test_the_export_holds_a_chunk_log_for_every_model_call_of_the_agent(app_url, server):
    from llm.stream.chunk_log import loads_chunk_log

    server.scenario = Scenario(tool_calls=BOTH, tool_piece=4)
    client = Client(app_url, verbose=False)
    run_tools(app_url, client=client)
    files, note = client.predict(api_name="/export_chunks")
    assert "of 2 model calls (a log each)" in note and len(files) == 3
    first, second = (loads_chunk_log(open(path, encoding="utf-8").read()) for path in files[:2])
    assert "call1" in files[0] and "call2" in files[1]
    calls = sum((entry.chunk for entry in first[1:]), first[0].chunk).tool_calls
    assert [call["name"] for call in calls] == ["calculator", "country_facts"]
    assert "".join(entry.chunk.text for entry in second).startswith("The tools said: 84")

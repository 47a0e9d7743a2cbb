"""The newer tabs (Tools, Pipeline, token probabilities) against a broken or hostile server: what it
sends is outside input. Each case ends in a sentence with the partial answer kept, the page gets a
bounded amount, and another visitor is answered meanwhile."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

from llm.guards.bounded_http import MAX_LINE_BYTES
from llm.stream.answer_limits import MAX_ANSWER_CHARS, MAX_ARGUMENT_CHARS, MAX_CHUNKS, MAX_TOOL_CALLS
from llm.stream.report import IGNORED, SHOWN_ROWS
from tests.json_documents import pieces_of
from tests.openai_server import Scenario, token_logprobs
from tests.test_probabilities_app import PROBABILITY, TEXT, ask, rows
from ui.tools_tab import SHOWN_CHARS

WORDS = ["It", " rains", " on", " the", " sea", "."]


def test_probabilities_of_changing_shapes_are_ignored_and_marked_and_the_answer_completes(app_url, server):
    """They gave "Streaming failed (TypeError). additional_kwargs["logprobs"] already exists … different type"."""
    good = {"content": [token_logprobs("It", 0, 3)], "refusal": None}
    shapes = [good, "a string", 5, {"content": [{"not": "a token"}]}, {"content": "abc"}, [1, 2]]
    server.scenario = Scenario(tokens=WORDS, raw_logprobs=shapes)
    answer, summary, table, _ = ask(Client(app_url, verbose=False), 3)
    assert answer == "".join(WORDS) and summary.startswith("**✓ Complete**")
    marks = [row[PROBABILITY] for row in rows(table) if json.loads(row[TEXT])]
    assert marks[0] == f"{0.9:.4g}" and marks[1:] == [IGNORED] * 5
    assert "Token probabilities of 5 chunks were ignored" in summary
    assert "Probability check ✗" in summary  # one token's bytes cannot join to the whole answer: no false ✓


def test_a_replayed_log_with_probabilities_of_changing_shapes_replays_whole(tmp_path):
    from langchain_core.messages import AIMessageChunk

    from llm import Accumulator

    acc = Accumulator()
    for shape in [{"content": [token_logprobs("It", 0, 2)]}, "a string", {"content": [token_logprobs(" rains", 1, 2)]}]:
        acc.add(AIMessageChunk(content="x", response_metadata={"logprobs": shape}))
    assert acc.text == "xxx" and [r.logprobs_ignored for r in acc.records] == [False, True, False]
    assert [t["token"] for t in acc.total.response_metadata["logprobs"]["content"]] == ["It", " rains"]


def run(url: str, api: str, *args) -> list:
    job = Client(url, verbose=False).submit(*args, api_name=api)
    job.result(timeout=60)
    return job.outputs()


def test_ten_thousand_parallel_calls_end_at_the_limit_with_a_sentence(app_url, server):
    calls = [{"name": "calculator", "arguments": '{"expression": "1+1"}', "id": f"c{i}"} for i in range(10_000)]
    server.scenario = Scenario(tool_calls=calls, tool_piece=64)
    conversation, status, *_ = run(app_url, "/tools", "flood")[-1]
    assert status == f"⚠ The answer made more than {MAX_TOOL_CALLS} tool calls, this app's limit for one answer: the rest " \
                     "was not read."
    shown = [m for m in conversation if (m.get("metadata") or {}).get("title", "").startswith("Tool call:")]
    assert 0 < len(shown) <= MAX_TOOL_CALLS + 1 and len(server.requests) == 1  # nothing ran, nothing went back


def test_fifty_megabytes_of_arguments_end_at_the_limit_and_the_page_gets_them_cut(app_url, server):
    server.scenario = Scenario(tool_calls=[{"name": "country_facts", "arguments": json.dumps({"name": "x" * 50_000_000}),
                                            "id": "c1"}], tool_piece=1_048_576)
    outputs = run(app_url, "/tools", "flood")
    conversation, status, summary, table = outputs[-1][:4]
    assert status == f"⚠ The tool calls' arguments passed {MAX_ARGUMENT_CHARS:,} characters, this app's limit for one " \
                     "answer: the rest was not read."
    call = next(m for m in conversation if (m.get("metadata") or {}).get("title", "").startswith("Tool call:"))
    assert len(json.dumps(call["content"])) < 3 * SHOWN_CHARS
    assert max(len(json.dumps(out, default=str)) for out in outputs) < 200_000  # not a megabyte per update


def test_a_line_longer_than_any_chunk_ends_the_answer_with_a_sentence(app_url, server):
    """100,000 alternatives for one token: a 6 MB line, which cost 300 MB of memory to parse."""
    server.scenario = Scenario(tokens=["It", " rains"], top_sent=100_000)
    answer, summary, *_ = ask(Client(app_url, verbose=False), 3)
    assert f"The server sent a line of more than {MAX_LINE_BYTES:,} bytes" in str(answer)
    assert summary.startswith("**✗")


def test_an_answer_past_a_million_characters_ends_with_a_sentence_and_keeps_what_came(app_url, server):
    server.scenario = Scenario(tokens=["x" * 100_000] * 12)
    answer, summary, table, _ = run(app_url, "/chat", "flood", "", 0.5, 200)[-1]
    assert f"The answer passed {MAX_ANSWER_CHARS:,} characters" in str(answer)
    assert "x" * 100_000 in str(answer)  # what came before the limit stays
    assert all(len(str(cell)) < 2_000 for row in rows(table) for cell in row)  # cells shown cut


def test_an_answer_of_many_chunks_sends_the_page_a_bounded_table_and_timeline(app_url, server):
    """25,000 chunks put 25,000 rows and points in the final update, which Gradio walked on the event
    loop that every visitor shares (for files, and for URLs to rewrite) while the page took megabytes."""
    chunks = 3 * SHOWN_ROWS
    server.scenario = Scenario(tokens=["x"] * chunks)
    answer, summary, table, timeline = run(app_url, "/chat", "many", "", 0.5, 200)[-1][:4]
    assert answer == "x" * chunks and summary.startswith("**✓ Complete")
    shown = [row[0] for row in rows(table)]
    came = shown[-1] + 1  # the tokens, and the server's first (role) and closing chunks
    assert len(shown) == SHOWN_ROWS and shown[0] == 0 and came > chunks
    assert shown == list(range(SHOWN_ROWS // 2)) + list(range(came - SHOWN_ROWS // 2, came))
    assert f"the first and the last {SHOWN_ROWS // 2:,} of {came:,} chunks" in summary
    assert f"Sum check ✓ the {came} chunks" in summary  # the check still reads every chunk
    points = timeline["value"]["data"] if "value" in timeline else timeline["data"]
    assert SHOWN_ROWS // 2 <= len(points) <= SHOWN_ROWS


@pytest.mark.slow
def test_an_answer_past_the_chunk_limit_ends_with_a_sentence_and_keeps_what_came(app_url, server):
    """Empty chunks carry no text, so the character limit alone let a server grow one answer's memory
    without end."""
    server.scenario = Scenario(tokens=["x"] * (MAX_CHUNKS + 100))
    answer, summary, table, _ = run(app_url, "/chat", "many", "", 0.5, 200)[-1]
    assert f"The answer passed {MAX_CHUNKS:,} chunks, this app's limit for one answer" in str(answer)
    assert "x" * (MAX_CHUNKS - 10) in str(answer) and str(answer).count("x") <= MAX_CHUNKS  # what came stays
    assert summary.startswith("**✗") and len(rows(table)) == SHOWN_ROWS


def test_long_arguments_and_results_are_shown_cut_and_say_how_much_more():
    from llm.lessons.tool_calls import DONE, ToolCalls
    from ui.tools_tab import call_message

    calls = ToolCalls()
    calls.add([{"index": 0, "id": "c1", "name": "country_facts", "args": json.dumps({"name": "y" * 5_000})}])
    [call] = calls.finish()
    call.state, call.result = DONE, "z" * 5_000
    shown = call_message(call)["content"]
    assert shown.count(" more characters") == 2 and len(shown) < 2 * SHOWN_CHARS + 500


@pytest.mark.parametrize("depth", [300, 5_000])
def test_deep_json_through_the_pipeline_ends_with_a_sentence_and_shows_what_it_can(app_url, server, depth):
    """300 deep ended in Gradio's generic error with "● Streaming…" forever (orjson's recursion limit
    in gr.JSON); 5,000 deep showed "Invalid JSON string"."""
    server.scenario = Scenario(tokens=pieces_of('{"a": ' * depth + "1" + "}" * depth, 50))
    output, events, _, verdict, *_ = run(app_url, "/pipeline", "deep", "JSON parser")[-1]
    assert verdict.startswith("✗") and "nested more than 100 levels deep" in verdict
    shown, levels = output, 0
    while isinstance(shown, dict) and "a" in shown:
        shown, levels = shown["a"], levels + 1
    assert 50 <= levels <= 100  # as far as it could be read


def test_a_value_too_deep_to_walk_reaches_the_json_view_as_a_sentence_it_shows_as_text():
    from ui.pipeline_tab import output_value

    deep: dict = {}
    for _ in range(5_000):
        deep = {"a": deep}
    assert json.loads(output_value(deep)) == "(nested too deeply to show)"  # gr.JSON parsed the bare sentence

"""The JSON tab's `/json` endpoint on the real app, driven with gradio_client against the scripted server."""

from __future__ import annotations

import json

from gradio_client import Client

from tests.conftest import SECRET
from tests.json_documents import DOCUMENT, is_honest, pieces_of
from tests.openai_server import Scenario
from tests.test_app import cancel_once_streaming, table_texts
from ui.json_tab import SCHEMAS, schema_text


def run_json(url: str, request: str, schema: str = "", temperature=0.2, max_tokens=500):
    """One /json call to the end; every output tuple the client saw, in order."""
    job = Client(url, verbose=False).submit(request, schema, temperature, max_tokens, api_name="/json")
    job.result(timeout=60)
    return job.outputs()


def test_the_object_grows_honestly_and_ends_as_the_document(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(DOCUMENT, 3), rate=100)
    outputs = run_json(app_url, "the test document")
    final = json.loads(DOCUMENT)
    states = [out[0] for out in outputs if out[0] is not None]
    distinct = list({json.dumps(s, sort_keys=True): s for s in states}.values())
    assert len(distinct) >= 5
    assert all(is_honest(state, final) for state in states)
    value, raw, fields, note, summary, table, _ = outputs[-1]
    assert value == final and raw == DOCUMENT
    assert note.startswith("✓ Complete: valid JSON")
    rows = fields["data"] if isinstance(fields, dict) else fields
    by_path = {row[0]: row for row in rows}
    assert json.loads(by_path["/countries/1/name"][1]) == "Côte d'Ivoire"
    assert json.loads(by_path["/quote"][1]) == final["quote"]
    assert all(row[2] == "complete" and row[3] != "" and row[4] >= row[3] for row in rows)
    # The same chunks, in the Debug tab, with the sum check.
    assert "".join(table_texts(table)) == DOCUMENT and "Sum check ✓" in summary
    assert server.requests[-1]["response_format"] == {"type": "json_object"}


def test_while_streaming_unfinished_values_are_streaming_in_the_field_table(app_url, server):
    server.scenario = Scenario(tokens=pieces_of('{"a": "one two three", "b": [1, 2, 3]}', 2), rate=40)
    outputs = run_json(app_url, "something")
    rows_seen = [row for out in outputs[:-1] for row in (out[2]["data"] if isinstance(out[2], dict) else out[2])]
    assert ["/a", '"one two three"', "complete"] in [row[:3] for row in rows_seen]
    assert any(row[0] == "/a" and row[2] == "streaming" and row[4] == "" for row in rows_seen)
    assert any(out[3].startswith("● Streaming") for out in outputs)


def test_a_schema_goes_to_the_server_and_the_result_is_checked_against_it(app_url, server):
    mismatch = '{"countries": [{"name": "France", "capital": "Paris"}]}'
    server.scenario = Scenario(tokens=pieces_of(mismatch, 5))
    value, *_, note = run_json(app_url, "countries", schema_text("Countries"))[-1][:4]
    assert value == json.loads(mismatch)
    assert "does not match the schema" in note and "'population' is a required property" in note
    assert "/countries/0" in note
    sent = server.requests[-1]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == SCHEMAS["Countries"]
    assert "JSON Schema" in server.requests[-1]["messages"][0]["content"]


def test_truncated_json_keeps_the_last_object_and_says_so(app_url, server):
    server.scenario = Scenario(tokens=pieces_of('{"a": 1, "b": "cut sho', 3), finish_reason="length")
    value, raw, _, note = run_json(app_url, "something")[-1][:4]
    assert value == {"a": 1, "b": "cut sho"} and raw == '{"a": 1, "b": "cut sho'
    assert "reached Max tokens" in note


def test_invalid_json_says_where_and_keeps_the_raw_text(app_url, server):
    text = '{"a": 1, "b": tru, "c": 3}'
    server.scenario = Scenario(tokens=pieces_of(text, 3))
    value, raw, _, note = run_json(app_url, "something")[-1][:4]
    assert value == {"a": 1} and raw == text
    assert note.startswith("✗ Not valid JSON") and "chunk #" in note


def test_a_dropped_connection_keeps_what_arrived(app_url, server):
    server.scenario = Scenario(tokens=pieces_of(DOCUMENT, 3), drop_after=40)
    value, raw, _, note, summary = run_json(app_url, "something")[-1][:5]
    assert raw == DOCUMENT[:120] and is_honest(value, json.loads(DOCUMENT)) and value
    assert "connection" in note.lower() and "✗" in summary


def test_bad_input_gets_a_note_and_no_request(app_url, server):
    for request, schema, expected in [
        ("", "", "Type a request first."),
        ("x", "{not json", "The schema is not valid JSON"),
        ("x", '{"type": "integer", "minimum": "zero"}', "not a valid JSON Schema"),
        ("x", "[1, 2]", "must be a JSON object"),
    ]:
        value, raw, _, note = run_json(app_url, request, schema)[-1][:4]
        assert (value, raw) == (None, "") and expected in note
    assert server.requests == []


def test_an_error_status_is_readable_and_never_leaks_the_key(app_url, server):
    server.scenario = Scenario(status=401)
    outputs = run_json(app_url, "something")
    assert "refused the API key (401)" in outputs[-1][3]
    assert SECRET not in json.dumps(outputs)


def test_cancelling_closes_the_upstream_request(app_url, server):
    server.scenario = Scenario(tokens=pieces_of('{"a": "' + "x" * 3000 + '"}', 3), rate=50)
    job = Client(app_url, verbose=False).submit("long", "", 0.2, 500, api_name="/json")
    cancel_once_streaming(job, server, updates=5)


def test_a_reasoning_models_thinking_stays_out_of_the_json(app_url, server):
    document = '{"answer": 4}'
    server.scenario = Scenario(thinking=["Two ", "plus two."], tokens=["<think>hm</think>", *pieces_of(document, 3)])
    value, raw, _, note = run_json(app_url, "2+2 as JSON")[-1][:4]
    assert value == {"answer": 4} and note.startswith("✓ Complete")
    assert raw == "<think>hm</think>" + document  # the raw text is what the model sent

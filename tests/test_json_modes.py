"""JSON from any OpenAI-compatible server (issue 21): a refused JSON mode falls back to the next, the
note says which was used, and what worked is remembered; against the scripted server refusing each
mode, and against llama-cpp-python's own server on the bundled GGUF."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

from tests.conftest import launch, server_settings_for
from tests.openai_server import Scenario
from ui.json_tab import EXAMPLES, SCHEMAS

ANSWER = '{"name": "Ada Lovelace", "born": 1815}'
PERSON = json.dumps({"type": "object", "properties": {"name": {"type": "string"}, "born": {"type": "integer"}}})


def kinds(server) -> list[str]:
    """The JSON mode of each request the server saw."""
    found = []
    for request in server.requests:
        response_format = request.get("response_format") or {}
        kind = response_format.get("type", "prompt")
        found.append(kind + ("+schema" if kind == "json_object" and "schema" in response_format else ""))
    return found


@pytest.mark.parametrize(
    ("refused", "sent", "says"),
    [
        ((), ["json_schema"], "JSON mode: json_schema."),
        (("json_schema",), ["json_schema", "json_object+schema"], "json_object with the schema"),
        (("json_schema", "json_object+schema"), ["json_schema", "json_object+schema", "json_object"],
         "json_object, the schema in the prompt"),
        (("json_schema", "json_object+schema", "json_object"),
         ["json_schema", "json_object+schema", "json_object", "prompt"], "the request in the prompt only"),
    ],
    ids=["takes-json-schema", "refuses-json-schema", "refuses-any-schema", "refuses-response-format"],
)
def test_a_refused_json_mode_falls_back_and_the_choice_is_remembered(app_url, server, fresh_memory, refused, sent, says):
    server.scenario = Scenario(tokens=[ANSWER[i:i + 4] for i in range(0, len(ANSWER), 4)], refuse_formats=refused)
    client = Client(app_url, verbose=False)
    value, raw, fields, note, *_ = client.predict("Ada", PERSON, 0.2, 100, api_name="/json")
    assert value == {"name": "Ada Lovelace", "born": 1815} and note.startswith("✓ Complete: valid JSON")
    assert says in note and kinds(server) == sent
    server.requests.clear()
    assert client.predict("Ada again", PERSON, 0.2, 100, api_name="/json")[3].startswith("✓ Complete")
    assert kinds(server) == sent[-1:]  # remembered for this server and model: no refused request again


def test_an_error_that_is_not_about_the_mode_is_not_retried(app_url, server, fresh_memory):
    server.scenario = Scenario(status=401)
    note = Client(app_url, verbose=False).predict("Ada", PERSON, 0.2, 100, api_name="/json")[3]
    assert "refused the API key (401)" in note and len(server.requests) == 1


@pytest.mark.local_model
@pytest.mark.slow
def test_every_json_preset_completes_against_llama_cpp_server(llama_cpp_server, fresh_memory):
    demo, url = launch(server_settings_for(llama_cpp_server))
    try:
        client = Client(url, verbose=False)
        for request, preset in EXAMPLES:
            value, raw, fields, note, *_ = client.predict(request, json.dumps(SCHEMAS[preset]), 0.2, 400,
                                                          api_name="/json")
            assert note.startswith("✓ Complete: valid JSON"), (preset, note, raw)
            assert "json_object with the schema" in note, note
    finally:
        demo.close()


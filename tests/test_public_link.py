"""The public-link holes of issue 20, each tried as an attacker would, through the real app on loopback
(gradio_client and httpx; what the browser itself does is in tests/test_browser_hostile.py)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
import uuid

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from langchain_core.messages import AIMessageChunk

from llm.guards.limits import DEFAULT_TOKEN_CAP
from llm.inert import inert_code
from llm.stream.chunk_log import MAX_LOG_BYTES, MAX_LOG_CHUNKS, MAX_LOG_TEXT, dumps_chunk_log
from llm.stream.records import ChunkRecord
from tests.conftest import ROOT, SECRET, free_port, launch, running_app, server_settings
from tests.hostile import Listener, hostile
from tests.openai_server import Scenario, numbered_tokens
from tests.test_safety import note_of
from ui.payloads import SHOWN_RESERVED_KEY

PERSON = {"type": "object", "properties": {"name": {"type": "string"}}}


def ask_json(url: str, request: str, schema, max_tokens: int = 200) -> list:
    """The last outputs of one /json call: (object, raw, fields, note, summary, table, timeline)."""
    return Client(url, verbose=False).predict(request, schema if isinstance(schema, str) else json.dumps(schema),
                                              0.2, max_tokens, api_name="/json")


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


# 1, 2: a schema's $ref never reads a file or fetches a URL ------------------------------------

@pytest.mark.parametrize("shape", ["root", "nested", "relative-to-id", "dynamic"])
def test_a_schema_reference_to_a_file_is_never_read(app_url, server, tmp_path, shape):
    secret = tmp_path / "server-secret.json"
    secret.write_text('{"type": "string", "description": "SERVER-FILE-CONTENT"}')
    uri = secret.as_uri()
    schema = {
        "root": {"$ref": uri},
        "nested": {"type": "object", "properties": {"a": {"$ref": uri}}},
        "relative-to-id": {"$id": tmp_path.as_uri() + "/", "properties": {"a": {"$ref": "server-secret.json"}}},
        "dynamic": {"$dynamicRef": uri},
    }[shape]
    server.scenario = Scenario(tokens=pieces('{"a": 5}'))
    outputs = ask_json(app_url, "anything", schema)
    assert outputs[3].startswith("⚠ The schema refers to") and "never reads a file or fetches a URL" in outputs[3]
    assert "SERVER-FILE-CONTENT" not in json.dumps(outputs)
    assert server.requests == []


def test_a_schema_reference_to_a_url_is_never_fetched_and_the_app_stays_responsive(app_url, server):
    with Listener() as silent:  # a URL that never answers
        server.scenario = Scenario(tokens=pieces('{"name": "Ada"}'))
        outcome: list = []
        asking = threading.Thread(target=lambda: outcome.append(
            ask_json(app_url, "a person", {**PERSON, "properties": {"name": {"$ref": f"{silent.url}/name.json"}}})))
        asking.start()
        assert httpx.get(f"{app_url}config", timeout=5).status_code == 200  # answered meanwhile
        asking.join(timeout=30)
        assert outcome and outcome[0][3].startswith("⚠ The schema refers to")
        assert silent.connections == 0


def test_the_final_check_retrieves_nothing_even_when_handed_a_remote_reference():
    from llm.lessons.schemas import schema_problem

    with Listener() as silent:
        said = schema_problem({"a": 1}, {"properties": {"a": {"$ref": f"{silent.url}/a.json"}}})
        assert said == "the schema has a reference that leads nowhere inside it"
        assert silent.connections == 0


def test_a_slow_pattern_is_stopped_not_left_to_freeze_the_app():
    from llm.lessons.schemas import schema_problem

    said = schema_problem("a" * 40 + "!", {"type": "string", "pattern": "^(a+)+$"}, seconds=1.0)
    assert said.startswith("checking it took over 1 s and was stopped")


# 3: a replay cannot freeze the app or hold a slot for a day ----------------------------------

def write_log(path, count: int, gap_ms: float = 1.0, text=lambda i: f" w{i}") -> None:
    """A chunk log of `count` chunks, made as the app records them (past the app's own limits if asked)."""
    chunks = [AIMessageChunk(content=text(i), id="run-1") for i in range(count)]
    records = [ChunkRecord.of(chunk, index=i, ms=i * gap_ms, delta_ms=gap_ms) for i, chunk in enumerate(chunks)]
    path.write_text(dumps_chunk_log(records, chunks))


# The replaying visitor is another process, as another browser is: its client decodes every update.
REPLAY_AT_ONCE = """
import sys
from gradio_client import Client, handle_file
job = Client(sys.argv[1], verbose=False).submit(handle_file(sys.argv[2]), "at once", api_name="/replay")
for outputs in job:
    if "replaying" in str(outputs[1]):
        print("streaming", flush=True)
        break
print(job.result(timeout=300)[1], flush=True)
"""


@pytest.mark.slow
def test_while_the_largest_log_replays_at_once_another_visitor_gets_first_tokens_within_a_second(server, tmp_path):
    log = tmp_path / "largest.jsonl"
    write_log(log, MAX_LOG_CHUNKS, text=lambda i: f" {i:05}" + "x" * (MAX_LOG_TEXT // MAX_LOG_CHUNKS - 6))
    assert log.stat().st_size <= MAX_LOG_BYTES  # as many chunks and as much text as a log may hold
    server.scenario = Scenario(tokens=numbered_tokens(10), rate=50)
    port = free_port()
    with running_app(["--port", str(port)], {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET}, port) as url:
        visitor = Client(url, verbose=False)
        replaying = subprocess.Popen([sys.executable, "-c", REPLAY_AT_ONCE, url, str(log)], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)
        try:
            assert replaying.stdout.readline().strip() == "streaming"
            waits = []
            while replaying.poll() is None or not waits:
                asked = time.monotonic()
                job = visitor.submit("count", "Be brief.", 0.5, 100, api_name="/chat")
                while not any(outputs[0] for outputs in job.outputs()) and not job.done():
                    time.sleep(0.005)
                waits.append(time.monotonic() - asked)
                job.result(timeout=30)
            assert replaying.stdout.read().strip() == f"✓ Replayed {MAX_LOG_CHUNKS} chunks of `largest.jsonl`."
        finally:
            replaying.kill()
    assert len(waits) >= 2 and max(waits) < 1.0, f"first token after {max(waits):.2f} s while a replay ran"


def test_a_replay_longer_than_the_cap_is_refused_with_a_sentence_and_runs_at_once(app_url, tmp_path):
    log = tmp_path / "a-day.jsonl"
    write_log(log, 3, gap_ms=43_000_000)  # gaps adding up to almost a day
    client = Client(app_url, verbose=False)
    chat, status, *_ = client.predict(handle_file(str(log)), "1x", api_name="/replay")
    assert status == ("⚠ At this speed the replay would take 23 h 53 min; a replay may take at most 10 minutes. "
                      "Choose a faster speed, or at once.")
    assert client.predict(handle_file(str(log)), "at once", api_name="/replay")[1].startswith("✓ Replayed 3 chunks")


def test_a_log_with_more_chunks_or_text_than_allowed_gets_a_sentence(app_url, tmp_path):
    many, long = tmp_path / "many.jsonl", tmp_path / "long.jsonl"
    write_log(many, MAX_LOG_CHUNKS + 1, text=lambda i: "")
    write_log(long, 11, text=lambda i: "x" * (MAX_LOG_TEXT // 10))
    client = Client(app_url, verbose=False)
    assert client.predict(handle_file(str(many)), "at once", api_name="/replay")[1] == (
        f"⚠ The file holds more than {MAX_LOG_CHUNKS:,} chunks; a chunk log may hold at most {MAX_LOG_CHUNKS:,}.")
    assert client.predict(handle_file(str(long)), "at once", api_name="/replay")[1] == (
        f"⚠ The chunks' text adds up to more than {MAX_LOG_TEXT:,} characters; a chunk log may hold at most "
        f"{MAX_LOG_TEXT:,}.")


# 4: text from a model, a server or a visitor is inert wherever the page shows it --------------

def test_a_hostile_model_name_answer_and_error_are_shown_inert(app_url, server):
    url = "http://127.0.0.1:9"
    name = hostile(url, "model")
    server.scenario = Scenario(tokens=[hostile(url, "answer")], thinking=[hostile(url, "thinking")])
    client = Client(app_url, verbose=False)
    answer, summary, table, _ = client.predict("hi", "Be brief.", 0.5, 100, name, api_name="/chat")
    assert f"Answered by {inert_code(name)}." in summary.splitlines()
    for message in answer:
        assert "![" not in message["content"] and "<img" not in message["content"] and "<iframe" not in message["content"]
    rows = table["data"] if isinstance(table, dict) else table
    assert any(json.loads(row[3]) == hostile(url, "answer") for row in rows)  # the table keeps it exactly

    server.scenario = Scenario(status=500, error_message=hostile(url, "error"))
    answer, summary, *_ = client.predict("again", "Be brief.", 0.5, 100, api_name="/chat")
    said = note_of(answer) + summary
    assert "The server answered with an error (500)" in said
    assert "\\<img" in said and not re.search(r"(?<!\\)(!\[|<img|<iframe)", said)  # only escaped forms


# 5, 6: model JSON is data; deep nesting and huge numbers get a sentence ------------------------

@pytest.mark.parametrize("reserved", ['"update"', "5", '"generic_update"'])
def test_model_json_with_gradios_reserved_key_is_shown_as_data(app_url, server, reserved):
    server.scenario = Scenario(tokens=pieces(f'{{"__type__": {reserved}, "visible": false, "label": "pwned"}}'))
    value, raw, fields, note, *_ = ask_json(app_url, "anything", "")
    assert value == {SHOWN_RESERVED_KEY: json.loads(reserved), "visible": False, "label": "pwned"}
    assert note.startswith("✓ Complete: valid JSON") and raw.startswith('{"__type__"')


def test_a_deeply_nested_answer_gets_a_sentence(app_url, server):
    server.scenario = Scenario(tokens=pieces("[" * 5000 + "]" * 5000, 50))
    value, raw, fields, note, *_ = ask_json(app_url, "anything", "", max_tokens=4000)
    assert note.startswith("✗ The JSON is nested more than 100 levels deep")
    assert len(fields["data"] if isinstance(fields, dict) else fields) == 100


@pytest.mark.parametrize("schema", ["[" * 10_000, '{"items": ' * 300 + "{}" + "}" * 300],
                         ids=["10000-brackets", "300-levels"])
def test_a_deeply_nested_schema_gets_a_sentence(app_url, server, schema):
    assert ask_json(app_url, "anything", schema)[3] == (
        "⚠ The schema is nested more than 32 levels deep; this app takes at most 32.")
    assert server.requests == []


def test_a_100_bit_integer_is_valid_json_and_shown_exactly(app_url, server):
    server.scenario = Scenario(tokens=pieces('{"n": 1267650600228229401496703205376, "x": 1.5}'))
    value, raw, fields, note, *_ = ask_json(app_url, "anything", "")
    assert value == {"n": "1267650600228229401496703205376", "x": 1.5}
    assert note.startswith("✓ Complete: valid JSON, 3 values.") and "shown as text" in note


# 7: a key pasted with spaces around it is never echoed back -------------------------------------

def test_a_padded_visitors_key_echoed_by_the_server_is_redacted(app_url, server, caplog):
    key = "visitor-key-1234567890"
    server.scenario = Scenario(status=401)  # it echoes the Authorization header it got
    with caplog.at_level(logging.WARNING, logger="app"):
        answer, summary, table, _ = Client(app_url, verbose=False).predict(
            "hi", "Be brief.", 0.5, 100, "fake-model", f"  {key}\n", api_name="/chat")
    assert server.keys == [key]
    said = json.dumps([answer, summary, table]) + caplog.text
    assert "refused the API key (401)" in said and key not in said


# 8, 9: the login page tells nothing; wrong logins slow that address down ---------------------

def test_the_login_page_tells_nothing_and_wrong_logins_slow_only_that_address(server):
    port = free_port()
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET, "APP_AUTH": "ann:s3cret",
           "SYSTEM_PROMPT": "SYSTEM-PROMPT-MARKER"}
    with running_app(["--port", str(port)], env, port) as url:
        page = httpx.get(url).text
        assert "SYSTEM-PROMPT-MARKER" not in page and '"/chat"' not in page and '"/json"' not in page

        statuses = [httpx.post(f"{url}login", data={"username": "ann", "password": f"guess{i}"}).status_code
                    for i in range(20)]
        assert statuses[:5] == [400] * 5 and statuses[-1] == 429
        refused = httpx.post(f"{url}login", data={"username": "ann", "password": "s3cret"})
        assert refused.status_code == 429 and "try again in" in refused.json()["detail"]

        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other) as visitor:
            assert visitor.post(f"{url}login", data={"username": "ann", "password": "s3cret"}).status_code == 200
            logged_in = visitor.get(url).text
        assert "SYSTEM-PROMPT-MARKER" in logged_in and '"/chat"' in logged_in


# 10: opening pages from one address cannot push another address's conversation out -------------

def test_a_script_opening_sessions_cannot_evict_another_addresss_conversation(openai_server):
    openai_server.reset(Scenario(echo=True))
    demo, url = launch(server_settings(openai_server, max_sessions=40))
    try:
        visitor = Client(url, verbose=False)
        assert visitor.predict("remember tangerine", "Be brief.", 0.5, 50, api_name="/chat")[0] == "remember tangerine"
        config = httpx.get(f"{url}config").json()
        opened = next(d["id"] for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])
                      and d.get("js") is None)
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as script:
            for _ in range(200):  # as fast as it can: each one a new session, as a page load makes
                script.post(f"{url}gradio_api/run/predict", json={"data": [], "fn_index": opened,
                                                                  "session_hash": uuid.uuid4().hex})
        store = demo.state_holder
        assert len(store.session_data) == 40 and len(store.sessions_of("127.0.0.2")) == 40 - len(
            store.sessions_of("127.0.0.1"))  # the script holds all the rest, and only what it opened last
        # None of them built Gradio's per-session copy of every block's config (serving.py, issue 26)
        assert {len(store.session_data[s].config_values) for s in store.sessions_of("127.0.0.2")} == {0}
        visitor.predict("and now?", "Be brief.", 0.5, 50, api_name="/chat")
        sent = [m["content"] for m in openai_server.requests[-1]["messages"]]
        assert "remember tangerine" in sent  # the visitor's conversation is still there
        # Nor did two answers build one up: Gradio rebuilt a config into it at every State set (serving.py)
        assert list(store.session_data[visitor.session_hash].components) == []
    finally:
        demo.close()


@pytest.mark.parametrize("renders", [False, True])
def test_a_session_builds_no_config_copy_unless_the_page_renders(renders):
    from serving import _SessionState

    with gr.Blocks() as page:
        box = gr.Textbox()
        if renders:
            gr.render(inputs=box)(lambda text: gr.Markdown(text))
    state = _SessionState(page)
    state[box._id] = box  # as Gradio does for a block an event updates
    state._update_value_in_config(box._id, "typed")  # and for each input of an event
    assert [c["props"]["value"] for c in state.components] == (["typed"] if renders else [])


# the small ones -----------------------------------------------------------------------------------

def test_a_server_traceback_is_kept_for_the_log_not_shown(app_url, server, caplog):
    trace = ("Model failed to load. Traceback (most recent call last):\n  File \"/srv/secret/app.py\", "
             "line 12, in load\nValueError: boom")
    server.scenario = Scenario(status=500, error_message=trace)
    with caplog.at_level(logging.WARNING, logger="app"):
        answer, summary, *_ = Client(app_url, verbose=False).predict("hi", "Be brief.", 0.5, 100, api_name="/chat")
    shown = note_of(answer) + summary
    assert "Model failed to load." in shown and "Traceback" not in shown and "/srv/secret" not in shown
    assert "/srv/secret/app.py" in caplog.text


def test_max_tokens_above_the_sliders_top_is_capped_without_max_output_tokens(app_url, server):
    server.scenario = Scenario(tokens=["ok"])
    Client(app_url, verbose=False).predict("hi", "Be brief.", 0.5, 10**9, api_name="/chat")
    assert server.requests[-1]["max_completion_tokens"] == DEFAULT_TOKEN_CAP


def test_openais_http_client_logs_no_request_lines():
    from app import quiet_http_logs

    quiet_http_logs()
    assert all(logging.getLogger(name).getEffectiveLevel() >= logging.WARNING for name in ("httpx", "httpx2"))


def test_counting_tokens_waits_llm_timeout_not_30_seconds(monkeypatch):
    from types import SimpleNamespace

    from llm.backends.local import ChatLocalModel

    with Listener() as stopped:  # a model process that accepts and never answers
        fake = SimpleNamespace(wait_ready=lambda: None, base_url=f"{stopped.url}/v1", api_key="k")
        monkeypatch.setattr(ChatLocalModel, "_runtime", property(lambda self: fake))
        model = ChatLocalModel(timeout=0.5)
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            model.get_num_tokens_from_messages([AIMessageChunk(content="hi")])
        assert time.monotonic() - started < 10


def test_answers_do_not_each_sum_up_every_event_kept(openai_server, monkeypatch):
    """Gradio's API-page figures are summed up every 100 events, not after each (app.py)."""
    from gradio.queueing import Queue

    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    tables = []
    get_df = Queue._get_df
    monkeypatch.setattr(Queue, "_get_df", staticmethod(lambda records: tables.append(len(records)) or get_df(records)))
    openai_server.reset(Scenario(tokens=numbered_tokens(3)))
    demo, url = launch(server_settings(openai_server))
    try:
        client = Client(url, verbose=False)
        answers = [client.predict(f"hi {i}", "Be brief.", 0.5, 10, api_name="/chat")[0] for i in range(3)]
    finally:
        demo.close()
    assert answers == ["".join(numbered_tokens(3))] * 3
    assert tables == []  # the first sum comes at the 100th event

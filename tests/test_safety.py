"""A shared app, tried as a stranger would: bad input, limits, keys, and what must never leak.
The real app on loopback, driven with gradio_client and httpx, against the scripted server."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from gradio_client import Client
from gradio_client.utils import Status

from llm import Settings
from tests.conftest import SECRET, free_port, launch, running_app, server_settings
from tests.openai_server import Scenario, numbered_tokens

USER_KEY = "visitor-key-1234567890"  # not shaped like an sk- key: only explicit redaction hides it


def chat(client: Client, message, *rest, temperature=0.5, max_tokens=200):
    """The last output of one /chat call: (answer, summary, table, timeline)."""
    return client.predict(message, "Be brief.", temperature, max_tokens, *rest, api_name="/chat")


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def note_of(answer) -> str:
    messages = answer if isinstance(answer, list) else [answer]
    notes = [m["content"] for m in messages if isinstance(m, dict) and (m.get("metadata") or {}).get("title") == "⚠ Note"]
    return notes[-1] if notes else ""


@pytest.fixture(scope="module")
def limited(openai_server):
    """An app with an owner's limits: 3 messages a minute, at most 50 output tokens, small history."""
    demo, url = launch(server_settings(openai_server, messages_per_minute=3, max_output_tokens=50,
                                       max_history_chars=100))
    yield url
    demo.close()


@pytest.mark.parametrize(
    ("message", "temperature", "max_tokens", "says"),
    [
        ("hi", "hot", 10, "Temperature must be a number between 0 and 2, not 'hot'."),
        ("hi", None, 10, "Temperature must be a number between 0 and 2, not None."),
        ("hi", 2.5, 10, "Temperature must be a number between 0 and 2, not 2.5."),
        ("hi", True, 10, "Temperature must be a number between 0 and 2, not True."),
        ("hi", 0.5, None, "Max tokens must be a whole number of at least 1, not None."),
        ("hi", 0.5, 0, "Max tokens must be a whole number of at least 1, not 0."),
        ("hi", 0.5, "many", "Max tokens must be a whole number of at least 1, not 'many'."),
        (None, 0.5, 10, "Type a message first."),
        ({"text": "hi"}, 0.5, 10, "Type a message first."),
        ("x" * 1_000_000, 0.5, 10, "The message is 1,000,000 characters; this app takes at most 20,000."),
    ],
    ids=["hot", "no-temperature", "too-hot", "bool", "no-max-tokens", "zero-tokens", "words", "no-message",
         "dict-message", "a-million-characters"],
)
def test_bad_input_gets_a_sentence_and_nothing_goes_upstream(app_url, server, message, temperature, max_tokens, says):
    answer, summary, *_ = chat(Client(app_url, verbose=False), message, temperature=temperature, max_tokens=max_tokens)
    assert note_of(answer).startswith(says)
    assert server.requests == []


@pytest.mark.parametrize(("extra", "says"), [((5,), "The model name must be text, not int."),
                                             (("fake-model", ["sk"]), "The API key must be text.")])
def test_wrong_types_of_the_newer_inputs_get_a_sentence(app_url, server, extra, says):
    answer, *_ = chat(Client(app_url, verbose=False), "hi", *extra)
    assert note_of(answer) == says and server.requests == []


def test_a_wrong_json_request_gets_a_sentence(app_url, server):
    client = Client(app_url, verbose=False)
    outputs = client.predict("list 2 countries", {"type": "object"}, "warm", None, api_name="/json")
    assert outputs[3] == "⚠ The schema must be JSON text."
    outputs = client.predict("x" * 30_000, "", 0.2, 100, api_name="/json")
    assert outputs[3].startswith("⚠ The request is 30,000 characters; this app takes at most 20,000.")
    assert server.requests == []


def test_the_fourth_message_in_a_minute_is_refused_while_another_session_is_answered(limited, server):
    server.scenario = Scenario(tokens=["ok"])
    first = Client(limited, verbose=False)
    answers = [chat(first, f"message {i}")[0] for i in range(4)]
    assert answers[:3] == ["ok", "ok", "ok"]
    assert note_of(answers[3]).startswith("This app allows 3 messages a minute; your next message can go in")
    assert len(server.requests) == 3
    assert chat(Client(limited, verbose=False), "me too")[0] == "ok"  # another session is not slowed


def test_max_output_tokens_caps_what_is_asked_and_the_slider(limited, server):
    server.scenario = Scenario(tokens=["ok"])
    chat(Client(limited, verbose=False), "long please", max_tokens=4000)
    assert server.requests[-1]["max_completion_tokens"] == 50
    config = httpx.get(f"{limited}config").json()
    sliders = [c["props"] for c in config["components"] if c["props"].get("label") == "Max tokens"]
    assert sliders and all(props["maximum"] == 50 for props in sliders)


def test_a_conversation_over_the_history_limit_is_refused_with_a_sentence(limited, server):
    server.scenario = Scenario(tokens=["y" * 100])
    client = Client(limited, verbose=False)
    assert chat(client, "first")[0] == "y" * 100
    answer = chat(client, "second")[0]
    assert note_of(answer).startswith("The conversation is 111 characters; this app sends at most 100.")
    assert len(server.requests) == 1


def test_one_answer_at_a_time_per_session(app_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(40), rate=40)
    client = Client(app_url, verbose=False)
    jobs = [client.submit("count", "Be brief.", 0.5, 200, api_name="/chat") for _ in range(2)]
    last = [job.result(timeout=30)[0] for job in jobs]
    busy = [a for a in last if note_of(a).startswith("One answer at a time")]
    assert len(busy) == 1 and "".join(numbered_tokens(40)) in [a for a in last if a not in busy]
    assert len(server.requests) == 1
    assert chat(Client(app_url, verbose=False), "again")[0]  # and the lock is released afterwards


def test_a_visitors_key_is_used_for_their_request_only_and_never_shown(app_url, server, caplog):
    server.scenario = Scenario(tokens=["hello"])
    visitor, other = Client(app_url, verbose=False), Client(app_url, verbose=False)
    assert chat(visitor, "hi", "fake-model", USER_KEY)[0] == "hello"
    assert chat(other, "hi")[0] == "hello"
    assert server.keys == [USER_KEY, SECRET]  # never mixed with another session's, or the app's

    server.scenario = Scenario(status=401)  # the server echoes the credentials it got, as a careless proxy might
    with caplog.at_level(logging.WARNING, logger="app"):
        answer, summary, table, _ = chat(visitor, "again", "fake-model", USER_KEY)
    said = str(answer) + summary + str(table) + caplog.text
    assert "refused the API key (401)" in note_of(answer)
    assert USER_KEY not in said and SECRET not in said and "[redacted]" in note_of(answer)
    assert USER_KEY not in httpx.get(f"{app_url}config").text


def test_without_a_key_the_page_asks_for_one_and_uses_the_visitors(server):
    demo, url = launch(Settings(provider="openai"))  # api.openai.com and no key: nothing the app can answer with
    try:
        answer, *_ = chat(Client(url, verbose=False), "hello?")
        assert "enter yours under Settings → Your API key" in note_of(answer)
        config = httpx.get(f"{url}config").json()
        fields = [c["props"] for c in config["components"] if c["props"].get("elem_id") == "api-key"]
        assert fields and fields[0]["visible"] is True and fields[0]["type"] == "password"
    finally:
        demo.close()


def test_monitoring_is_off_and_error_details_are_hidden(app_url):
    for path in ("monitoring", "monitoring/summary"):
        assert httpx.get(f"{app_url}{path}").status_code in (403, 404)
    config = httpx.get(f"{app_url}config").json()
    assert config.get("show_error") is False


def test_app_auth_puts_the_page_behind_a_login(server):
    port = free_port()
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET, "APP_AUTH": "ann:s3cret:pw"}
    with running_app(["--port", str(port)], env, port) as url:
        assert httpx.get(f"{url}config").status_code == 401
        assert httpx.post(f"{url}login", data={"username": "ann", "password": "wrong"}).status_code == 400
        with httpx.Client() as browser:
            assert browser.post(f"{url}login", data={"username": "ann", "password": "s3cret:pw"}).status_code == 200
            assert browser.get(f"{url}config").status_code == 200


def test_share_is_ignored_on_spaces(monkeypatch, caplog):
    from app import launch_kwargs

    assert launch_kwargs(["--share"])["share"] is True
    monkeypatch.setenv("SPACE_ID", "someone/watch-an-llm-stream")
    with caplog.at_level(logging.WARNING, logger="app"):
        assert launch_kwargs(["--share"])["share"] is False
    assert "--share is ignored" in caplog.text


def test_a_full_queue_tells_the_visitor_it_is_busy(openai_server):
    openai_server.reset(Scenario(tokens=numbered_tokens(30), rate=30))
    demo, url = launch(server_settings(openai_server, concurrency_limit=1, queue_max_size=1))
    try:
        def submit():
            return Client(url, verbose=False).submit("count", "Be brief.", 0.5, 200, api_name="/chat")

        streaming = submit()
        wait_until(lambda: streaming.outputs())
        waiting = submit()
        wait_until(lambda: waiting.status().code == Status.IN_QUEUE)
        jobs = [streaming, waiting, submit()]  # the third finds the queue full
        errors = []
        for job in jobs:
            try:
                job.result(timeout=30)
            except Exception as error:
                errors.append(str(error))
        assert len(errors) == 1 and "queue is full" in errors[0].lower()
    finally:
        demo.close()

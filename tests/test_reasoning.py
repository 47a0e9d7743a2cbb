"""Reasoning models: the thinking streams visibly and apart from the answer; the page picks a model."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client
from langchain_core.messages import AIMessageChunk

from llm import Accumulator, accumulate
from llm.lessons.pipelines import PRESETS
from llm.stream.thinking import ThinkTags
from tests.conftest import launch, server_settings
from tests.openai_server import Scenario, numbered_tokens
from tests.test_app import table_texts

THINKING = [f"step {i}. " for i in range(30)]
ANSWER = numbered_tokens(20)


@pytest.mark.parametrize("text", ["<think>Let me see: 2+2.</think>\n\nIt is 4.", "  <think>x</think>y", "No tags <think>here</think>"])
def test_think_tags_split_the_same_however_the_text_is_cut(text):
    whole = ThinkTags()
    expected = tuple(map("".join, zip(whole.feed(text), whole.flush())))
    for a in range(len(text) + 1):
        for b in range(a, len(text) + 1):
            tags, parts = ThinkTags(), []
            for piece in (text[:a], text[a:b], text[b:]):
                parts.append(tags.feed(piece))
                assert not any("<th" in p or "</th" in p for p in parts[-1][:1])  # never half a tag as thinking
            parts.append(tags.flush())
            assert ("".join(p[0] for p in parts), "".join(p[1] for p in parts)) == expected, (a, b)
    assert expected in [("Let me see: 2+2.", "It is 4."), ("x", "y"), ("", text)]


def test_a_reasoning_field_stays_additive_and_apart_from_the_answer():
    chunks = [AIMessageChunk(content="", additional_kwargs={"reasoning_content": t}) for t in ["Hm", "m."]]
    chunks += [AIMessageChunk(content=t) for t in ["Fo", "ur"]]
    acc = Accumulator()
    list(accumulate(iter(chunks), acc))
    assert (acc.thinking, acc.answer, acc.text) == ("Hmm.", "Four", "Four")
    assert acc.total.additional_kwargs["reasoning_content"] == "Hmm."  # the sum of the chunks
    assert acc.total.content_blocks[0] == {"type": "reasoning", "reasoning": "Hmm."}
    assert [r.kind for r in acc.records] == ["thinking", "thinking", "answer", "answer"]


def chat_outputs(client: Client, message: str, *extra):
    job = client.submit(message, "Be brief.", 0.5, 500, *extra, api_name="/chat")
    job.result(timeout=60)
    return job.outputs()


def split(output) -> tuple[str, str]:
    """(thinking, answer) in one chat output."""
    messages = output if isinstance(output, list) else [{"content": output}]
    thinking = "".join(m["content"] for m in messages if (m.get("metadata") or {}).get("title") == "Thinking")
    answer = "".join(m["content"] for m in messages if not m.get("metadata"))
    return thinking, answer


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_thinking_streams_before_the_answer_and_never_goes_back_to_the_model(app_url, server, field):
    server.scenario = Scenario(thinking=THINKING, thinking_field=field, tokens=ANSWER, rate=100)
    client = Client(app_url, verbose=False)
    outputs = chat_outputs(client, "think first")
    states = [split(out[0]) for out in outputs]
    first_answer = next(i for i, (_, answer) in enumerate(states) if answer)
    assert any(thinking and not answer for thinking, answer in states[:first_answer])  # visible while thinking
    assert states[-1] == ("".join(THINKING), "".join(ANSWER))
    summary, table = outputs[-1][1], outputs[-1][2]
    assert "Sum check ✓" in summary and "| 30 | 20 |" in summary  # thinking vs answer tokens
    carried = [row[-1] for row in (table["data"] if isinstance(table, dict) else table)]
    assert carried.count("thinking") == 30 and carried.count("answer") == 20
    assert "".join(t for t, c in zip(table_texts(table), carried) if c == "thinking") == "".join(THINKING)

    server.scenario = Scenario(tokens=["ok"])
    chat_outputs(client, "and now?")
    sent = server.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "".join(ANSWER) and "step 0" not in str(sent)


def test_inline_think_tags_are_shown_the_same_way(app_url, server):
    pieces = ["<th", "ink>", "Let", " me", " see", "</thi", "nk>", "\n\n", "Four", "."]
    server.scenario = Scenario(tokens=pieces, rate=50)
    outputs = chat_outputs(Client(app_url, verbose=False), "2+2?")
    states = [split(out[0]) for out in outputs]
    assert states[-1] == ("Let me see", "Four.")
    assert all("<th" not in t and "</" not in t and "<th" not in a for t, a in states)
    assert "| first thinking token | first answer token |" in outputs[-1][1]


@pytest.fixture
def listed_app(server):
    """A fresh app whose server lists three models."""
    server.models = ["fake-model", "model-b", "model-a"]
    demo, url = launch(server_settings(server))
    yield url
    demo.close()
    server.models, server.models_status = ["fake"], 200


def picker(url: str) -> dict:
    config = httpx.get(f"{url}config").json()
    return next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "model-picker")


def test_the_model_picker_lists_the_servers_models_and_the_choice_reaches_the_request(listed_app, server):
    component = picker(listed_app)
    assert component["type"] == "dropdown"
    assert [c[0] for c in component["props"]["choices"]] == ["fake-model", "model-a", "model-b"]
    server.scenario = Scenario(tokens=["hi"])
    client = Client(listed_app, verbose=False)
    outputs = chat_outputs(client, "hello", "model-b")
    assert server.requests[-1]["model"] == "model-b"
    assert "Answered by `model-b`" in outputs[-1][1]
    chat_outputs(Client(listed_app, verbose=False), "hello")  # an old client: four inputs
    assert server.requests[-1]["model"] == "fake-model"


@pytest.mark.parametrize("api_name, prefix", [("/json", "json-"), ("/pipeline", "pipeline-"), ("/tools", "tools-")])
def test_every_tab_offers_the_same_model_choice_and_it_reaches_the_request(listed_app, server, api_name, prefix):
    """One settings builder: JSON, Pipeline and Tools list the server's models as the chat does, and the
    choice (the last input of /json and /pipeline, which old clients leave out) is the request's model."""
    config = httpx.get(f"{listed_app}config").json()
    component = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == f"{prefix}model-picker")
    assert component["type"] == "dropdown"
    assert [c[0] for c in component["props"]["choices"]] == ["fake-model", "model-a", "model-b"]
    server.scenario = Scenario(tokens=['{"a": 1}'])
    client = Client(listed_app, verbose=False)
    if api_name == "/tools":
        client.predict("hello", "", 0.0, 32, "model-b", "", [], api_name=api_name)
    else:
        first = "an object" if api_name == "/json" else "Who's Elon Musk?"
        client.predict(first, *([""] if api_name == "/json" else []), api_name=api_name)  # an old client
        assert server.requests[-1]["model"] == "fake-model"
        args = [first, ""] if api_name == "/json" else [first, next(iter(PRESETS))]
        client.predict(*args, 0.2, 32, "", "model-b", api_name=api_name)
    assert server.requests[-1]["model"] == "model-b"


def test_when_listing_fails_the_picker_holds_the_configured_model_and_takes_a_typed_name(server):
    # The list is read at launch, after the page is built, so the picker is a dropdown either way
    # (it was a text box when the list was read at import); a typed name is still taken.
    server.models_status = 404
    demo, url = launch(server_settings(server))
    try:
        props = picker(url)["props"]
        assert picker(url)["type"] == "dropdown" and props["value"] == "fake-model"
        assert [c[0] for c in props["choices"]] == ["fake-model"] and props["allow_custom_value"]
        assert "type a model name" in props["info"]
    finally:
        demo.close()
        server.models_status = 200


@pytest.mark.local_model
def test_offline_the_picker_names_the_bundled_model_not_a_server_nobody_set_up():
    from llm import Settings
    from llm.backends.models import available_models

    assert available_models(Settings(provider="local")) is None
    demo, url = launch(Settings(provider="local"))
    try:
        props = picker(url)["props"]
        assert props["value"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert props["info"].startswith("The bundled model, offline") and "server did not list" not in props["info"]
    finally:
        demo.close()

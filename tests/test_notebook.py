"""The notebook API: `text, chunks = LLM().stream(question)` prints as it goes."""

import asyncio
import io
import json
import sys

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage

from llm import LLM
from llm.backends.models import build_chat_model
from tests.conftest import server_settings
from tests.openai_server import Scenario, numbered_tokens


class Tee(io.StringIO):
    """Stdout that remembers what had been printed each time the model is asked for a chunk."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []


def test_stream_returns_text_and_chunks(capsys):
    text, chunks = LLM(FakeListChatModel(responses=["Elon Musk is a CEO."])).stream("who's elon musk?")
    assert text == "Elon Musk is a CEO."
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(c.content for c in chunks) == text
    assert capsys.readouterr().out == "Elon Musk is a CEO.\n"


def test_tokens_are_printed_while_streaming_not_after(monkeypatch):
    out = Tee()
    monkeypatch.setattr(sys, "stdout", out)

    class Watching(FakeListChatModel):
        def _stream(self, *args, **kwargs):
            for chunk in super()._stream(*args, **kwargs):
                out.seen.append(out.getvalue())
                yield chunk

    LLM(Watching(responses=["abc"])).stream("q")
    assert out.seen == ["", "a", "ab"]  # each chunk was printed before the next was made


def test_astream_is_the_async_twin(capsys):
    text, chunks = asyncio.run(LLM(FakeListChatModel(responses=["hello"])).astream("hi"))
    assert (text, len(chunks)) == ("hello", 5)
    assert capsys.readouterr().out == "hello\n"


def test_echo_false_prints_nothing(capsys):
    LLM(FakeListChatModel(responses=["quiet"])).stream("hi", echo=False)
    assert capsys.readouterr().out == ""


def test_history_and_system_prompt_reach_a_real_server(server):
    server.scenario = Scenario(tokens=numbered_tokens(3))
    llm = LLM(build_chat_model(server_settings(server)), system_prompt="Be terse.")
    history = [HumanMessage("first"), AIMessage("answer one"), {"role": "user", "content": "second"}]
    text, chunks = llm.stream(history, echo=False)
    assert text == "w0 w1 w2"
    assert server.requests[-1]["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer one"},
        {"role": "user", "content": "second"},
    ]
    text, _ = asyncio.run(llm.astream("again", system_prompt="Be kind.", echo=False))
    assert server.requests[-1]["messages"][0] == {"role": "system", "content": "Be kind."}
    usage = [r.usage_metadata for r in llm.records if r.usage_metadata]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == [(3, 3)]  # 3 words in, 3 tokens out


def test_stream_json_prints_each_change_and_returns_the_object(server, capsys):
    from tests.json_documents import DOCUMENT, pieces_of

    server.scenario = Scenario(tokens=pieces_of(DOCUMENT, 3))
    llm = LLM(build_chat_model(server_settings(server)))
    obj, chunks = llm.stream_json("the test document", schema={"type": "object", "required": ["countries"]})
    assert obj == json.loads(DOCUMENT) and "".join(c.text for c in chunks) == DOCUMENT
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["add  {}", "add /countries []"]
    assert 'append /countries/0/name "anc"' in lines and "add /countries/0/population 67750000" in lines
    assert lines[-1] == llm.json_note and "matches the schema ✓" in llm.json_note
    assert server.requests[-1]["response_format"]["json_schema"]["schema"]["required"] == ["countries"]


def test_astream_json_is_the_async_twin_and_a_cut_answer_keeps_the_last_object(server, capsys):
    server.scenario = Scenario(tokens=['{"a": [1, 2', ", 3], ", '"b": "x'])
    llm = LLM(build_chat_model(server_settings(server)))
    obj, chunks = asyncio.run(llm.astream_json("something", echo=False))
    assert obj == {"a": [1, 2, 3], "b": "x"} and len(chunks) >= 3
    assert llm.json_note.startswith("✗ The JSON ended before it was complete")
    assert capsys.readouterr().out == ""


def test_a_system_prompt_of_your_own_keeps_the_json_instruction(server):
    server.scenario = Scenario(tokens=['{"ok": true}'])
    llm = LLM(build_chat_model(server_settings(server)), system_prompt="Be terse.")
    obj, _ = llm.stream_json("anything", echo=False)
    system = server.requests[-1]["messages"][0]["content"]
    assert obj == {"ok": True} and "JSON" in system and "Be terse." in system

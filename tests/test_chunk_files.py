"""Export and replay through the real app on loopback, driven with gradio_client."""

from __future__ import annotations

import json
import re

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from llm import LLM
from llm.backends.models import build_chat_model
from llm.stream.chunk_log import MAX_LOG_BYTES
from tests.conftest import server_settings
from tests.openai_server import Scenario, numbered_tokens
from tests.test_app import table_texts

TOKENS = numbered_tokens(25)
UNCHANGED = {"__type__": "update"}  # what gradio_client receives for gr.skip()
FINAL = "".join(TOKENS)


def replay(client: Client, path, speed: str = "at once"):
    job = client.submit(handle_file(str(path)), speed, api_name="/replay")
    job.result(timeout=60)
    return job.outputs()


def text_of(message: dict) -> str:
    """A chatbot message's text: Gradio 6 gives content as a list of parts."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def answer(chat: list[dict]) -> str:
    """The text of the untitled assistant messages: what the model would see as the answer."""
    return "".join(text_of(m) for m in chat if m["role"] == "assistant" and not (m.get("metadata") or {}).get("title"))


def replayed(chat: list[dict]) -> list[dict]:
    """The messages from the replay's note on."""
    starts = [i for i, m in enumerate(chat) if (m.get("metadata") or {}).get("title") == "▶ Replay"]
    return chat[starts[-1]:] if starts else []


def titled(chat: list[dict], title: str) -> list[str]:
    return [text_of(m) for m in chat if (m.get("metadata") or {}).get("title") == title]


def rows(table) -> list[list]:
    return table["data"] if isinstance(table, dict) else table


def test_export_then_replay_gives_the_same_text_rows_and_sum_check(app_url, server, tmp_path):
    server.scenario = Scenario(tokens=TOKENS, rate=50)
    client = Client(app_url, verbose=False)
    live, live_summary, live_table, _ = client.predict("count", "Be brief.", 0.5, 500, api_name="/chat")
    files, note = client.predict(api_name="/export_chunks")
    log, conversation = (open(path, encoding="utf-8").read() for path in files)
    assert note.startswith(f"Exported {len(rows(live_table))} chunks")
    assert len(log.splitlines()) == len(rows(live_table))
    assert json.loads(conversation) == [{"role": "user", "content": "count"}, {"role": "assistant", "content": FINAL}]
    saved = tmp_path / "answer.jsonl"
    saved.write_text(log, encoding="utf-8")

    outputs = replay(client, saved, "1x")
    chat, status, summary, table, _ = outputs[-1]
    shown = [answer(replayed(out[0])) for out in outputs]
    assert len(set(shown)) >= 3, "the replay did not stream"
    assert all(FINAL.startswith(text) for text in shown)
    assert answer(replayed(chat)) == live == FINAL and status.startswith("✓ Replayed")
    assert titled(chat, "▶ Replay") == ["`answer.jsonl` at 1x: recorded chunks, no model."]
    assert "Complete (replay)" in summary and "Sum check ✓" in summary and "Answered by `fake-model`" in summary
    assert table_texts(table) == table_texts(live_table)
    replayed_ms = [row[1] for row in rows(table)]
    live_ms = [row[1] for row in rows(live_table)]
    assert replayed_ms == pytest.approx(live_ms, abs=60)  # at 1x: the recorded pace, within scheduling noise
    assert all(b >= a for a, b in zip(replayed_ms, replayed_ms[1:]))


def test_a_file_saved_by_the_notebook_replays_with_its_thinking(app_url, server, tmp_path):
    server.scenario = Scenario(thinking=["Let", " me", " count."], tokens=TOKENS, rate=200)
    llm = LLM(build_chat_model(server_settings(server)))
    llm.stream("count", echo=False)
    path = llm.save_chunks(tmp_path / "notebook.jsonl")
    server.scenario = Scenario(tokens=["kept"])
    client = Client(app_url, verbose=False)
    client.predict("earlier", "Be brief.", 0.5, 500, api_name="/chat")
    chat, _, summary, table, _ = replay(client, path, "10x")[-1]
    assert [text_of(m) for m in chat[:2]] == ["earlier", "kept"]  # the session's chat so far stays
    assert titled(chat, "Thinking") == ["Let me count."]
    assert answer(replayed(chat)) == FINAL and "thinking tokens" in summary and len(rows(table)) == len(llm.chunks)


def chunk_line(content: str, ms: float = 1.0) -> str:
    chunk = {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessageChunk"],
             "kwargs": {"content": content, "type": "AIMessageChunk"}}
    return json.dumps({"index": 0, "ms_since_start": ms, "ms_since_previous": ms, "chunk": chunk})


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("hello\n", "Line 1 is not JSON"),
        ('{"chunk": {"lc": 1, "type": "constructor", "id": ["langchain_community", "llms", "OpenAI"], "kwargs": {}}, '
         '"ms_since_start": 1}\n', "not a chunk this app wrote"),
        ("\n\n", "holds no chunks"),
        (b"\x89PNG\r\n\x1a\n\xff", "not UTF-8"),
        (None, "at most 20,000,000 bytes (20 MB)"),
    ],
    ids=["text", "another-class", "empty", "binary", "oversized"],
)
def test_a_bad_file_gets_a_note_and_nothing_changes(app_url, server, tmp_path, content, says):
    path = tmp_path / "bad.jsonl"
    if content is None:
        path.write_bytes(b"{" * (MAX_LOG_BYTES + 1))
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    outputs = replay(Client(app_url, verbose=False), path)
    assert len(outputs) == 1
    chat, status, *_ = outputs[0]
    assert status.startswith("⚠") and says in status
    assert all(value == UNCHANGED for value in outputs[0][2:]) and chat == UNCHANGED  # the chat and Debug stay
    assert server.requests == []


def test_text_from_a_file_is_shown_as_text_never_as_html(app_url, tmp_path):
    hostile = '<img src=x onerror="alert(1)"> ![pixel](http://127.0.0.1:9/track.png) <script>alert(2)</script>'
    path = tmp_path / 'a<b>"name".jsonl'
    path.write_text(chunk_line(hostile) + "\n", encoding="utf-8")
    chat, status, summary, table, _ = replay(Client(app_url, verbose=False), path)[-1]
    shown = answer(replayed(chat))
    assert "<img" not in shown and "<script" not in shown and "](http" in shown and "![" not in shown
    j = "\u2060"  # llm.inert.JOINER: an invisible mark that keeps "<" and "!" from starting markup
    assert shown == f'<{j}img src=x onerror="alert(1)"> !{j}[pixel](http://127.0.0.1:9/track.png) <{j}script>alert(2)<{j}/script>'
    header = titled(chat, "▶ Replay")[0]
    assert re.fullmatch(r"`[\w. -]+\.jsonl` at at once: recorded chunks, no model\.", header)  # the name, cleaned
    assert table_texts(table) == [hostile]  # the Debug table keeps the real text, as a JSON string


def test_a_wrong_speed_is_refused_and_nothing_to_export_gets_a_note(app_url, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(chunk_line("hi") + "\n", encoding="utf-8")
    client = Client(app_url, verbose=False)
    with pytest.raises(AppError):  # Gradio's own check of the choices refuses it before the replay starts
        client.predict(handle_file(str(path)), "warp 9", api_name="/replay")
    files, note = client.predict(api_name="/export_chunks")
    assert files == UNCHANGED and note.startswith("⚠ Nothing to export yet")

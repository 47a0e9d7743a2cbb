"""The local model's process: a crash never takes the app down, long chats keep working,
and the process never outlives the app."""

import os
import signal
import time
from pathlib import Path

import pytest
from gradio_client import Client

from llm import Settings
from llm.backends.local import runtime_for
from tests.conftest import free_port, launch, runtime_children, start_app

pytestmark = [pytest.mark.local_model, pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")]

LOCAL = Settings(provider="local", local_seed=7, temperature=0.7, max_tokens=24)


@pytest.fixture(scope="module")
def local_app_url():
    demo, url = launch(LOCAL)
    yield url
    demo.close()


def answers(outputs) -> list[str]:
    """The growing answer texts a /chat job showed (notes left out)."""
    texts = []
    for answer, *_ in outputs:
        if isinstance(answer, list):
            answer = "".join(m["content"] for m in answer if not (m.get("metadata") or {}).get("title"))
        if answer and (not texts or texts[-1] != answer):
            texts.append(answer)
    return texts


def notes(response) -> list[str]:
    if not isinstance(response, list):
        return []
    return [m["content"] for m in response if (m.get("metadata") or {}).get("title")]


def test_killing_the_model_mid_answer_leaves_the_app_serving(local_app_url):
    runtime = runtime_for(LOCAL)
    victim = runtime.wait_ready()
    client = Client(local_app_url, verbose=False)
    job = client.submit("Write a very long story about the sea.", "", 1.0, 1500, api_name="/chat")
    deadline = time.monotonic() + 60
    while len(answers(job.outputs())) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    shown = answers(job.outputs())
    assert len(shown) >= 5, "the answer never started streaming"
    os.kill(victim.pid, signal.SIGKILL)
    final = job.result(timeout=60)[0]

    assert isinstance(final, list)
    partial = final[0]["content"]
    assert partial.startswith(shown[-1])  # the partial answer stays
    note = notes(final)[-1]
    assert "was killed (SIGKILL" in note and "send your message again" in note
    assert "✗" in job.outputs()[-1][1]  # and the Debug summary says so

    followup = client.submit("Name three colors.", "", 0.7, 48, api_name="/chat")
    followup.result(timeout=120)
    texts = answers(followup.outputs())
    assert len(texts) >= 5 and all(b.startswith(a) for a, b in zip(texts, texts[1:]))
    assert not notes(followup.outputs()[-1][0])
    assert runtime.pid != victim.pid and victim.returncode == -signal.SIGKILL
    assert runtime.exits[-1] == -signal.SIGKILL


def test_the_runtime_restarts_by_itself_without_waiting_for_a_message():
    runtime = runtime_for(LOCAL)
    victim = runtime.wait_ready()
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (runtime.pid == victim.pid or not runtime._ready.is_set()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.pid != victim.pid and runtime._ready.is_set()


@pytest.mark.slow
def test_twenty_turns_in_a_row_are_answered(local_app_url):
    client = Client(local_app_url, verbose=False)
    left_out = []
    for turn in range(20):
        question = f"Question {turn}: tell me about the number {turn} and why people like it. " * 3
        job = client.submit(question, "", 0.7, 96, api_name="/chat")
        final = job.result(timeout=120)[0]
        assert answers(job.outputs()), f"turn {turn} got no answer"
        assert not [n for n in notes(final) if "Left out" not in n], f"turn {turn}: {notes(final)}"
        if notes(final):
            left_out.append(turn)
            assert "Context: Left out the" in job.outputs()[-1][1]  # the Debug summary says so too
    assert left_out, "the conversation never outgrew the 2,048-token window: the test proves nothing"


def test_a_message_too_long_for_the_window_gets_a_note_before_anything_is_sent(local_app_url):
    runtime = runtime_for(LOCAL)
    runtime.wait_ready()
    started = time.monotonic()
    final = Client(local_app_url, verbose=False).submit("word " * 3000, "", 0.7, 24, api_name="/chat").result(
        timeout=60
    )[0]
    assert "too long for the model" in final["content"] and "2,048" in final["content"]
    assert time.monotonic() - started < 10


def test_a_model_that_cannot_start_gets_a_readable_note(tmp_path):
    broken = tmp_path / "not-a-model.gguf"
    broken.write_bytes(b"this is not a GGUF file" * 100)
    demo, url = launch(Settings(provider="local", local_model_path=str(broken)))
    try:
        final = Client(url, verbose=False).submit("hello?", "", 0.7, 8, api_name="/chat").result(timeout=120)[0]
        assert final["metadata"]["title"] == "⚠ Note"
        assert "could not start" in final["content"] and "exited with code" in final["content"]
    finally:
        demo.close()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_the_model_process_never_outlives_the_app(how):
    port = free_port()
    app = start_app(["--port", str(port)], {}, port)
    try:
        deadline = time.monotonic() + 30
        while not (children := runtime_children(app.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert children, "app.py started no model process"
        app.send_signal(how)
        app.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in children):
            assert time.monotonic() < deadline, f"the model process outlived the app after {how.name}"
            time.sleep(0.05)
    finally:
        if app.poll() is None:
            app.kill()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False

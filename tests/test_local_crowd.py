"""Several visitors on the offline model at once: decoded together in one batch (llm/backends/runtime_batch.py),
and the ones beyond its slots waiting in Gradio's queue, which tells them their place in line."""

import asyncio
import importlib.util
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client
from gradio_client.utils import Status

from llm import Settings
from llm.backends.local import ChatLocalModel
from tests.conftest import launch

TWO_AT_ONCE = Settings(provider="local", local_seed=7, temperature=0.0, max_tokens=200, local_parallel=2)


def _batching():
    path = Path(__file__).parents[1] / "llm" / "backends" / "runtime_batch.py"
    spec = importlib.util.spec_from_file_location("runtime_batch_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the model process loads it by its path too; numpy is all it needs
    return module


def test_a_long_prompt_is_read_in_pieces_between_the_others_tokens():
    batching = _batching()
    slots = [SimpleNamespace(cancelled=False, n_tokens=n, seq=seq) for seq, n in enumerate((10, 20, 0))]
    waiting = [batching._Eval(slots[2], list(range(1000))), batching._Eval(slots[0], [5]), batching._Eval(slots[1], [6])]
    batcher = SimpleNamespace(_waiting=waiting, prefill=128, _prompt_last=False)
    plan = lambda: [(job.slot, first, end) for job, first, end in batching.Batcher._plan(batcher)]  # noqa: E731
    assert plan() == [(slots[2], 0, 128)]  # a piece of the prompt,
    assert plan() == [(slots[0], 0, 1), (slots[1], 0, 1)]  # then the next tokens: they take turns
    waiting[0].done = 128
    assert plan() == [(slots[2], 128, 256)]
    stopped = waiting[1]
    slots[0].cancelled = True  # Stop: its waiting tokens leave at the next step, and their reader is told
    assert plan() == [(slots[1], 0, 1)]
    assert stopped not in waiting and stopped.finished.is_set() and isinstance(stopped.error, batching.Cancelled)


@pytest.mark.local_model
def test_stop_ends_one_answer_and_frees_its_slot_while_the_other_goes_on():
    model = ChatLocalModel(n_parallel=2, max_tokens=200, temperature=0.0)

    async def run() -> None:
        other = model.astream("Tell me a long story about the sea.")
        first = await anext(other)
        stopped = model.astream("Tell me a long story about a dragon.")
        async for _ in stopped:
            break
        await stopped.aclose()  # what Stop does: the connection closes
        # The stopped answer's slot is free again: a third answer starts while the other still streams.
        third = model.astream("Say hi.")
        started = await anext(third)
        still_streaming = await anext(other)
        assert started is not None and still_streaming is not None
        rest = [chunk async for chunk in third]
        text = first + still_streaming
        async for chunk in other:
            text += chunk
        assert text.usage_metadata["output_tokens"] == 200 or text.response_metadata.get("finish_reason") == "stop"
        assert text.content and rest

    asyncio.run(run())


@pytest.mark.local_model
def test_two_visitors_stream_at_once_and_a_third_sees_its_place_in_line():
    demo, url = launch(TWO_AT_ONCE)
    try:
        first = [Client(url, verbose=False).submit("Tell a long story.", "", 0.0, 200, api_name="/chat") for _ in range(2)]
        while not all(job.outputs() for job in first):
            time.sleep(0.01)
        assert not any(job.done() for job in first)  # both are streaming: answered together
        third = Client(url, verbose=False).submit("Say hi.", "", 0.0, 8, api_name="/chat")
        places = []
        while not third.done():
            status = third.status()
            if status.code == Status.IN_QUEUE and status.rank is not None:
                places.append(status.rank)
            time.sleep(0.005)
        assert places and places[0] >= 0  # Gradio told it its place in line, which the page shows
        for job in [*first, third]:
            job.result(timeout=180)
            assert "✓ Complete" in job.outputs()[-1][1]
        # Its Debug times the answer from its request, and says how long it waited in line.
        summary, table = third.outputs()[-1][1:3]
        waited = float(re.search(r"Waited (\d+\.\d) s in line", summary).group(1))
        first_token_ms = next(row[1] for row in table if json.loads(row[3]))
        assert waited >= 0.1 and first_token_ms >= waited * 1000 - 50, (waited, first_token_ms)
    finally:
        demo.close()

"""The chunk log: saved by the notebook API, loaded back safely, replayed through the one loop, summed with +."""

from __future__ import annotations

import asyncio
import json

import pytest

from llm import LLM, Accumulator, aaccumulate
from llm.chunk_log import MAX_LOG_BYTES, ChunkLogError, areplay, chunk_sum, dumps_chunk_log, loads_chunk_log
from llm.models import build_chat_model
from tests.conftest import server_settings
from tests.openai_server import Scenario, numbered_tokens


@pytest.fixture
def recorded(server, tmp_path):
    """A real stream from the scripted server (reasoning, answer, usage), saved by the notebook API."""
    server.scenario = Scenario(thinking=["Hm", "m."], tokens=numbered_tokens(12), rate=100)
    llm = LLM(build_chat_model(server_settings(server)))
    llm.stream("count", echo=False)
    return llm, llm.save_chunks(tmp_path / "answer.jsonl")


def test_the_saved_file_loads_back_into_the_same_chunks_and_times(recorded):
    llm, path = recorded
    logged = loads_chunk_log(path.read_text(encoding="utf-8"))
    assert [entry.chunk for entry in logged] == llm.chunks
    assert [entry.ms_since_start for entry in logged] == pytest.approx([r.ms_since_start for r in llm.records], abs=0.01)
    assert all(len(json.loads(line)) == 4 for line in path.read_text().splitlines())  # one chunk per line


def test_sums_of_ranges_are_the_running_sums(recorded):
    llm, _ = recorded
    acc = Accumulator()
    prefix_sums = [acc.add(chunk)[0] for chunk in llm.chunks]
    for end in (1, 3, len(llm.chunks) // 2, len(llm.chunks)):
        total, line = chunk_sum(llm.chunks, 0, end)
        assert total == prefix_sums[end - 1] and line.startswith("r[0]" if end <= 4 else "functools.reduce")
    total, _ = chunk_sum(llm.chunks, 0, len(llm.chunks))
    assert total.content == "".join(numbered_tokens(12)) and total.additional_kwargs["reasoning_content"] == "Hmm."
    middle, line = chunk_sum(llm.chunks, 2, 4)
    assert middle.content == llm.chunks[2].content + llm.chunks[3].content and line == "r[2] + r[3]"
    with pytest.raises(ValueError):
        chunk_sum(llm.chunks, 3, 3)


def test_a_replay_goes_through_the_accumulator_at_the_recorded_pace(recorded):
    llm, path = recorded
    logged = loads_chunk_log(path.read_bytes())

    async def replay(speed):
        acc = Accumulator()
        async for _ in aaccumulate(areplay(logged, speed), acc):
            pass
        return acc

    paced = asyncio.run(replay(2.0))
    assert paced.chunks == llm.chunks and paced.text == "".join(numbered_tokens(12)) and paced.thinking == "Hmm."
    assert paced.records[-1].ms_since_start >= logged[-1].ms_since_start / 2 * 0.95  # never ahead of the recording
    assert asyncio.run(replay(None)).chunks == llm.chunks  # all at once


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "holds no chunks"),
        ("not json\n", "Line 1 is not JSON"),
        ('{"chunk": {"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {"command": "rm -rf /"}}, '
         '"ms_since_start": 1}\n', "not a chunk this app wrote"),
        ('{"chunk": {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessageChunk"], '
         '"kwargs": {"content": 42}}, "ms_since_start": 1}\n', "Line 1 is not a valid chunk"),
        ('{"chunk": {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessageChunk"], '
         '"kwargs": {"content": "x"}}, "ms_since_start": "soon"}\n', "no usable time"),
        (b"\xff\xfe\x00", "not UTF-8"),
        ("x" * (MAX_LOG_BYTES + 1), "at most 21 MB"),
    ],
)
def test_a_bad_file_gets_one_clear_sentence(content, says):
    with pytest.raises(ChunkLogError) as error:
        loads_chunk_log(content)
    assert says in str(error.value)


def test_times_that_go_backwards_are_refused(recorded):
    llm, _ = recorded
    lines = dumps_chunk_log(llm.records, llm.chunks).splitlines()
    with pytest.raises(ChunkLogError, match="Line 2 has no usable time"):
        loads_chunk_log("\n".join([lines[1], lines[0]]))

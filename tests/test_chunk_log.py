"""The chunk log: saved by the notebook API, loaded back safely, replayed through the one loop, summed with +."""

from __future__ import annotations

import asyncio
import json

import pytest

from llm import LLM, Accumulator, aaccumulate
from llm.backends.models import build_chat_model
from llm.stream.chunk_log import MAX_LOG_BYTES, ChunkLogError, areplay, dumps_chunk_log, loads_chunk_log, read_chunk_log
from llm.stream.chunk_sum import chunk_sum, explore
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
        ("x" * (MAX_LOG_BYTES + 1), "at most 20,000,000 bytes (20 MB)"),
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


def test_the_explorer_view_is_the_running_sum_and_the_whole_range_the_final_message(recorded):
    llm, _ = recorded
    acc = Accumulator()
    prefix_sums = [acc.add(chunk)[0] for chunk in llm.chunks]
    last = len(llm.chunks) - 1
    for end in (0, 2, last // 2):
        view = explore(llm.chunks, 0, end, acc.total)
        assert view.printed == str(prefix_sums[end]) and view.text == prefix_sums[end].text
        assert f"after chunk {end} of" in view.meaning
    whole = explore(llm.chunks, last, 0, acc.total)  # either order, clamped
    assert (whole.first, whole.last) == (0, last) and whole.printed == str(acc.total)
    assert "✓ equal to the message the stream accumulated" in whole.meaning
    assert whole.code.startswith("import functools, operator\nresult = functools.reduce(operator.add, r[0:")
    namespace = {"r": llm.chunks}
    exec(whole.code.replace("print(result)", ""), namespace)  # the line shown is the line that computes it
    assert namespace["result"] == acc.total
    clamped = explore(llm.chunks, 2, 10_000)
    assert (clamped.first, clamped.last) == (2, last) and "a slice" in clamped.meaning
    assert explore(llm.chunks, 0, last, final=prefix_sums[0]).meaning.endswith("✗ different from the message the stream accumulated.")


def test_reading_a_file_refuses_an_oversized_one_before_reading_it(tmp_path):
    big = tmp_path / "big.jsonl"
    with big.open("wb") as f:
        f.truncate(MAX_LOG_BYTES + 1)  # sparse: nothing is written, the size is what counts
    with pytest.raises(ChunkLogError, match="at most 20,000,000 bytes \\(20 MB\\)"):
        read_chunk_log(big)
    with pytest.raises(ChunkLogError, match="could not be read"):
        read_chunk_log(tmp_path / "missing.jsonl")

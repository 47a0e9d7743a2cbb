"""The one streaming loop: running sums, chunk records, closing."""

import asyncio
import time

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk

from llm import Accumulator, StreamStats, aaccumulate, accumulate
from llm.stream.pacing import paced
from llm.stream.records import ChunkRecord


def fake(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text, id="run-42")]))


def test_each_step_is_the_running_sum_of_the_chunks_so_far():
    steps = list(accumulate(fake("the quick brown fox").stream("hi")))
    texts = [total.text for total, _ in steps]
    assert texts[-1] == "the quick brown fox"
    joined = ""
    for total, record in steps:
        joined += record.text
        assert total.text == joined
    assert all(isinstance(total, AIMessageChunk) for total, _ in steps)


def test_records_number_the_chunks_and_time_them():
    acc = Accumulator()
    list(accumulate(FakeListChatModel(responses=["abcd"], sleep=0.01).stream("hi"), acc))
    assert [r.index for r in acc.records] == [0, 1, 2, 3]
    assert [r.text for r in acc.records] == list("abcd")
    times = [r.ms_since_start for r in acc.records]
    assert times == sorted(times)
    assert all(r.ms_since_previous >= 9 for r in acc.records)  # the model sleeps 10 ms per chunk
    assert acc.records[-1].ms_since_start == pytest.approx(sum(r.ms_since_previous for r in acc.records))


def test_records_keep_id_metadata_usage_and_position():
    chunk = AIMessageChunk(
        content="x",
        id="run-1",
        response_metadata={"finish_reason": "stop"},
        usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        chunk_position="last",
    )
    _, record = Accumulator().add(chunk)
    assert record == ChunkRecord(
        index=0,
        ms_since_start=record.ms_since_start,
        ms_since_previous=record.ms_since_previous,
        text="x",
        id="run-1",
        response_metadata={"finish_reason": "stop"},
        usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        chunk_position="last",
    )


def test_a_records_text_is_a_plain_string_the_garbage_collector_does_not_track():
    """langchain-core's `chunk.text` is a `TextAccessor`, a str subclass the collector tracks. A visitor's
    session keeps every record of its answers, so that was one more object per chunk for every full
    collection to walk (and ~100 bytes more each)."""
    import gc

    _, record = Accumulator().add(AIMessageChunk(content="x"))
    assert type(record.text) is str and type(record.answer) is str
    assert not gc.is_tracked(record.text)


def test_the_sum_equals_adding_the_chunks_by_hand():
    acc = Accumulator()
    list(accumulate(fake("one two three").stream("hi"), acc))
    by_hand = acc.chunks[0]
    for chunk in acc.chunks[1:]:
        by_hand = by_hand + chunk
    assert acc.total == by_hand
    assert acc.text == "one two three"


def test_async_twin_gives_the_same_texts():
    async def run():
        return [(t.text, r.text) async for t, r in aaccumulate(fake("a b c").astream("hi"))]

    sync = [(t.text, r.text) for t, r in accumulate(fake("a b c").stream("hi"))]
    assert asyncio.run(run()) == sync


def test_closing_the_sync_loop_closes_the_stream():
    closed = []

    def chunks():
        try:
            for c in "abcdef":
                yield AIMessageChunk(content=c)
        finally:
            closed.append(True)

    loop = accumulate(chunks())
    next(loop), next(loop)
    loop.close()
    assert closed == [True]


def test_closing_the_async_loop_closes_the_stream_at_once():
    closed = []

    async def chunks():
        try:
            for c in "abcdef":
                yield AIMessageChunk(content=c)
                await asyncio.sleep(0)
        finally:
            closed.append(True)

    async def run():
        loop = aaccumulate(chunks())
        await anext(loop)
        await loop.aclose()
        return list(closed)

    assert asyncio.run(run()) == [True]


def test_stats_tokens_per_second_uses_reported_usage_over_generation_time():
    stats = StreamStats()
    stats.add(ChunkRecord(0, 100.0, 100.0, ""))
    stats.add(ChunkRecord(1, 200.0, 100.0, "a"))
    stats.add(ChunkRecord(2, 1200.0, 1000.0, "b"))
    stats.add(ChunkRecord(3, 1210.0, 10.0, "", usage_metadata={"output_tokens": 11, "total_tokens": 20}))
    assert stats.first_token_ms == 200.0
    assert stats.tokens_per_second == pytest.approx(10.0)  # 10 tokens after the first, in 1 s
    assert stats.chunks == 4 and stats.text_chunks == 2


def test_paced_keeps_every_item_and_groups_bursts():
    async def burst():
        yield 0
        await asyncio.sleep(0.01)
        for i in range(1, 50):
            yield i

    async def run():
        return [batch async for batch in paced(burst(), interval=60)]

    batches = asyncio.run(run())
    assert [i for batch in batches for i in batch] == list(range(50))
    assert len(batches) == 2  # the first item at once, the rest of the burst in one update


def test_paced_flushes_a_waiting_item_when_the_stream_stalls():
    async def stalling():
        yield 1
        await asyncio.sleep(0.001)
        yield 2  # arrives within the interval: waits for company
        await asyncio.sleep(30)
        yield 3

    async def run():
        loop = paced(stalling(), interval=0.05)
        first, second = await anext(loop), await asyncio.wait_for(anext(loop), timeout=5)
        await loop.aclose()
        return first, second

    assert asyncio.run(run()) == ([1], [2])


def test_closing_paced_stops_a_source_that_swallows_the_cancel():
    """On Python 3.11 `asyncio.wait_for` (around every chunk read in langchain-openai) can return the
    chunk instead of raising a cancel that lands as the chunk arrives. Closing the loop (Stop) must
    still end the source at that chunk, not at the end of the answer."""
    sent, swallowed, closed = [], [], []

    async def stubborn():
        try:
            for i in range(200):
                try:
                    await asyncio.sleep(0.005)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed.append(i)  # as wait_for does, once: the read returns its chunk
                sent.append(i)
                yield i
        finally:
            closed.append(sent[-1])

    async def run():
        loop = paced(stubborn(), interval=0)
        await anext(loop)  # the first chunk, read in paced's own task
        await anext(loop)  # the second, read by the reader, now reading the third
        await loop.aclose()

    asyncio.run(run())
    assert swallowed and closed == swallowed  # the source was closed at the chunk the cancel met


def test_a_source_is_read_first_in_the_callers_task_and_closed_with_paced_before_the_reader_runs():
    """The first read is the caller's (a new task would start after everything else waiting on the
    loop); closed right after it, before the reader's first turn, the source is closed there."""
    tasks, closed = [], []

    async def source():
        try:
            for i in range(5):
                tasks.append(asyncio.current_task())
                yield i
        finally:
            closed.append(True)

    async def run():
        loop = paced(source(), interval=0)
        first = await anext(loop)
        await loop.aclose()
        return first, asyncio.current_task()

    first, caller = asyncio.run(run())
    assert first == [0] and tasks == [caller] and closed == [True]


def test_paced_gives_a_slow_page_fewer_bigger_batches():
    """A page that takes 50 ms per update while chunks come every 5 ms gets every chunk,
    in about a tenth as many updates: it never falls behind the stream."""
    async def steady():
        for i in range(100):
            await asyncio.sleep(0.005)
            yield i

    async def run():
        batches = []
        async for batch in paced(steady(), interval=0):
            batches.append(batch)
            await asyncio.sleep(0.05)  # the page is busy
        return batches

    batches = asyncio.run(run())
    assert [i for batch in batches for i in batch] == list(range(100))
    assert len(batches) < 40


def test_paced_raises_the_streams_error_after_the_items_before_it():
    async def failing():
        yield 1
        yield 2
        raise ConnectionError("dropped")

    async def run():
        seen = []
        with pytest.raises(ConnectionError, match="dropped"):
            async for batch in paced(failing(), interval=0.05):
                seen.extend(batch)
        return seen

    assert asyncio.run(run()) == [1, 2]


def test_paced_shares_the_update_budget_among_streams_at_once():
    """40 streams at once with a budget of 200 updates a second: each gets about 5 a second
    (not 100), and every item still arrives."""
    async def steady():
        for i in range(50):
            await asyncio.sleep(0.01)
            yield i

    async def one(shared):
        return [batch async for batch in paced(steady(), interval=0, shared_per_second=shared)]

    async def run(shared):
        return await asyncio.gather(*(one(shared) for _ in range(40)))

    shared, alone = asyncio.run(run(200)), asyncio.run(run(None))
    assert all([i for batch in batches for i in batch] == list(range(50)) for batches in shared)
    assert max(len(batches) for batches in shared) < 15
    assert min(len(batches) for batches in alone) > 30


def test_paced_sends_a_role_only_chunk_with_the_first_text_which_waits_for_nothing():
    """A chunk that shows nothing (the role) waits for the first token instead of costing an update of its
    own, and the first token goes out the moment it comes, not a frame later."""
    async def role_then_text():
        for item in ["", "a", "b"]:
            yield item
            await asyncio.sleep(0.01)

    async def run(shows):
        return [batch async for batch in paced(role_then_text(), interval=30, shows=shows)]

    assert asyncio.run(run(None)) == [[""], ["a", "b"]]  # "a" waited for the frame after ""
    assert asyncio.run(run(bool)) == [["", "a"], ["b"]]


def test_paced_sends_a_role_only_chunk_alone_when_no_text_follows_within_the_gap():
    """A server that sends its role and then thinks for a while: Debug still gets the role's chunk as the
    gap passes, not only with the first token."""
    async def role_then_pause():
        yield ""
        await asyncio.sleep(0.5)
        yield "a"

    async def run():
        started, got = time.monotonic(), []
        async for batch in paced(role_then_pause(), interval=0.05, shows=bool):
            got.append((batch, time.monotonic() - started))
        return got

    (first, first_at), (second, second_at) = asyncio.run(run())
    assert (first, second) == ([""], ["a"])
    assert first_at < 0.4 < second_at  # the role went alone, well before the text came

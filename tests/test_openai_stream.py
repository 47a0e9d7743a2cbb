"""ChatOpenAI through the accumulator against a real OpenAI-compatible HTTP server."""

import asyncio
import statistics
import time
from types import SimpleNamespace

import openai
import pytest

from llm import Accumulator, aaccumulate, accumulate, build_chat_model, readable_error
from tests.conftest import SECRET, free_port, server_settings
from tests.openai_server import Scenario, numbered_tokens


def run(coro):
    return asyncio.run(coro)


def test_a_hundred_tokens_arrive_as_a_hundred_chunks_with_usage(server):
    server.scenario = Scenario(tokens=numbered_tokens(100))
    acc = Accumulator()
    list(accumulate(build_chat_model(server_settings(server)).stream("hi"), acc))
    texts = [r.text for r in acc.records if r.text]
    assert texts == numbered_tokens(100)
    assert acc.text == "".join(numbered_tokens(100))
    usage = [r.usage_metadata for r in acc.records if r.usage_metadata]
    assert usage[-1]["output_tokens"] == 100
    assert acc.total.response_metadata["finish_reason"] == "stop"
    assert server.requests[-1]["stream_options"] == {"include_usage": True}


def test_chunk_timings_follow_the_servers_pace(server):
    server.scenario = Scenario(tokens=numbered_tokens(20), rate=50)  # one token every 20 ms
    acc = Accumulator()

    async def go():
        async for _ in aaccumulate(build_chat_model(server_settings(server)).astream("hi"), acc):
            pass

    run(go())
    gaps = [r.ms_since_previous for r in acc.records if r.text][1:]
    assert statistics.median(gaps) > 15
    assert acc.records[-1].ms_since_start > 19 * 15


def test_an_error_status_becomes_a_readable_secret_free_message(server):
    server.scenario = Scenario(status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        list(accumulate(build_chat_model(server_settings(server)).stream("hi")))
    text = readable_error(caught.value, SECRET)
    assert text.startswith("The server answered with an error (500).")
    assert "scripted failure 500" in text
    assert SECRET in str(caught.value)  # the server really sent the key back
    assert SECRET not in text


def test_a_failed_first_request_is_retried(server):
    server.scenario = Scenario(tokens=numbered_tokens(3), fail_first=1)
    acc = Accumulator()
    list(accumulate(build_chat_model(server_settings(server, max_retries=1)).stream("hi"), acc))
    assert acc.text == "w0 w1 w2"
    assert len(server.requests) == 2


def test_a_dropped_connection_raises_but_keeps_the_partial_answer(server):
    server.scenario = Scenario(tokens=numbered_tokens(10), drop_after=4)
    acc = Accumulator()
    with pytest.raises(Exception) as caught:
        list(accumulate(build_chat_model(server_settings(server)).stream("hi"), acc))
    assert acc.text == "w0 w1 w2 w3"
    assert readable_error(caught.value).startswith("The connection to the model broke.")


def test_a_server_that_is_not_there_is_named_by_its_address_without_its_secrets(server):
    port = free_port()  # bound, then closed: nothing listens there
    settings = server_settings(server, openai_base_url=f"http://user:pw@127.0.0.1:{port}/v1?key=k1")
    with pytest.raises(Exception) as caught:
        list(build_chat_model(settings).stream("hi"))
    said = readable_error(caught.value)
    assert said == f"Nothing answers at http://127.0.0.1:{port}: is the server running there? (OPENAI_BASE_URL)"


def test_a_stall_times_out_and_keeps_the_partial_answer(server):
    server.scenario = Scenario(tokens=numbered_tokens(10), stall_after=3, stall_seconds=30)
    acc = Accumulator()

    async def go():
        model = build_chat_model(server_settings(server, request_timeout=1.0))
        async for _ in aaccumulate(model.astream("hi"), acc):
            pass

    started = time.monotonic()
    with pytest.raises(Exception) as caught:  # openai.APITimeoutError, or httpx.ReadTimeout on openai 2.x
        run(go())
    assert time.monotonic() - started < 10
    assert acc.text == "w0 w1 w2"
    assert readable_error(caught.value).startswith("The model stopped sending for too long (timeout).")


def test_closing_the_loop_hangs_up_on_the_server(server):
    server.scenario = Scenario(tokens=numbered_tokens(200), rate=50)

    async def go():
        loop = aaccumulate(build_chat_model(server_settings(server)).astream("hi"))
        async for _, record in loop:
            if record.index == 5:
                await loop.aclose()
                closed_at = time.monotonic()
                # Keep the event loop running, as the app's does: with some openai client
                # versions the HTTP response is closed by a task the loop runs right after.
                while not server.disconnects and time.monotonic() < closed_at + 5:
                    await asyncio.sleep(0.005)
                return closed_at

    closed_at = run(go())
    disconnect = server.wait_for_disconnect(timeout=0)
    assert disconnect, "the server never saw the client hang up"
    assert disconnect.at - closed_at < 1.0
    assert disconnect.tokens_sent < 20


def test_streamed_chunks_stay_the_servers_dicts_and_add_up_as_langchain_openai_reads_them(server, monkeypatch):
    """llm/stream/chunk_dicts.py: no ChatCompletionChunk model is built per chunk, and the answer, its
    thinking, usage and metadata are what plain langchain-openai makes of the same stream, sync and async."""
    from langchain_openai import ChatOpenAI
    from openai.types.chat import ChatCompletionChunk

    server.scenario = Scenario(tokens=numbered_tokens(30), thinking=["Let ", "me see."])
    built = []
    construct = ChatCompletionChunk.construct.__func__
    monkeypatch.setattr(ChatCompletionChunk, "construct",
                        classmethod(lambda cls, *args, **kwargs: built.append(cls) or construct(cls, *args, **kwargs)))

    def added(chunks):
        total = None
        for chunk in chunks:
            total = chunk if total is None else total + chunk
        return total

    async def aadded(model):
        return added([chunk async for chunk in model.astream("hi")])

    ours = build_chat_model(server_settings(server))
    plain = ChatOpenAI(base_url=server.base_url, api_key=SECRET, model="fake-model", max_retries=0, stream_usage=True)

    async def both():  # one event loop: langchain-openai's pooled client stays with the loop that first used it
        mine = await aadded(ours)
        assert built == []  # every chunk stayed the dict the server sent
        return mine, await aadded(plain)

    mine, theirs = run(both())
    assert len(built) >= 30  # langchain-openai on its own builds a model of each chunk
    before = len(built)
    for total in (mine, added(ours.stream("hi"))):
        assert total.content == "".join(numbered_tokens(30))
        assert total.additional_kwargs["reasoning_content"] == "Let me see."
        assert total.usage_metadata["output_tokens"] == 30 and total.response_metadata["finish_reason"] == "stop"
        assert (total.content, total.usage_metadata, total.response_metadata) == \
            (theirs.content, theirs.usage_metadata, theirs.response_metadata)
    assert len(built) == before  # the sync stream built none either


async def answer_text(model) -> str:
    """One answer to "hi", streamed, as its text."""
    return "".join([chunk.text async for chunk in model.astream("hi")])


def test_a_visitor_after_a_quiet_minute_is_answered_on_the_kept_connection(server, monkeypatch):
    """httpx2 keeps an idle connection 5 s, so each visitor after a pause paid a new connection (and,
    to a remote server, its TLS handshake) before the first token. A minute of quiet is played on the
    connection pool's clock."""
    import httpcore2._async.http11 as http11

    quiet = {"s": 0.0}
    monkeypatch.setattr(http11, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + quiet["s"]))
    server.scenario = Scenario(tokens=["kept", " alive"])
    model, before = build_chat_model(server_settings(server)), server.connections

    async def two_visitors() -> list[str]:
        first = await answer_text(model)
        quiet["s"] = 60.0
        return [first, await answer_text(model)]

    assert asyncio.run(two_visitors()) == ["kept alive", "kept alive"]
    assert server.connections - before == 1


def test_a_crowd_at_once_is_answered_on_its_kept_connections_next_time(server):
    """httpx2 keeps 20 idle connections; the other answers of a crowd closed theirs and the next crowd
    made them again. The app keeps as many as one tab may stream at once."""
    server.scenario = Scenario(tokens=["one", " of", " many"], rate=50)  # slow enough that all 30 overlap
    model, before = build_chat_model(server_settings(server, concurrency_limit=30)), server.connections

    async def crowd() -> list[str]:
        return await asyncio.gather(*(answer_text(model) for _ in range(30)))

    async def twice() -> list[str]:
        return [*await crowd(), *await crowd()]

    assert asyncio.run(twice()) == ["one of many"] * 60
    assert server.connections - before == 30


def test_no_answer_waits_for_a_connection_beyond_one_tabs_limit(server):
    """Each tab has its own concurrency limit, and they share the model's connections: a pool capped at
    one tab's limit would hold the other tabs' answers back."""
    server.scenario = Scenario(tokens=["side", " by", " side"], rate=20)
    model = build_chat_model(server_settings(server, concurrency_limit=4))

    async def two_tabs_full() -> list[str]:
        return await asyncio.gather(*(answer_text(model) for _ in range(8)))

    assert asyncio.run(two_tabs_full()) == ["side by side"] * 8
    assert server.max_active == 8

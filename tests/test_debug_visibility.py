"""Debug is redrawn while an answer streams only where it can be seen: the real app on loopback,
driven over Gradio's queue API as a browser page drives it (its load event, its tab switches), with
the streamed updates read as Gradio sends them (diffs against the previous update)."""

import asyncio
import json
import uuid

import httpx

from benchmarks.load import Endpoint, open_page
from tests.openai_server import Scenario, numbered_tokens


def positions(url: str, chat: Endpoint, *elem_ids: str) -> list[int]:
    """Where the components of these `elem_ids` are among `/chat`'s outputs."""
    config = httpx.get(url + "config", timeout=30).json()
    ids = {(c.get("props") or {}).get("elem_id"): c["id"] for c in config["components"]}
    outputs = next(d["outputs"] for d in config["dependencies"] if d["id"] == chat.fn_index)
    return [outputs.index(ids[elem_id]) for elem_id in elem_ids]


def tab_switch(url: str) -> int:
    """The fn_index of the page's tab switch (the tabs' select event)."""
    config = httpx.get(url + "config", timeout=30).json()
    tabs = {c["id"] for c in config["components"] if c["type"] == "tabs"}
    return next(d["id"] for d in config["dependencies"] if any(t[0] in tabs and t[1] == "select" for t in d["targets"]))


async def stream_updates(url: str, chat: Endpoint, session: str) -> tuple[list[list], list]:
    """Send "hi" in `session`; return each streamed update's data (diffs) and the completed outputs."""
    async with httpx.AsyncClient(timeout=60) as client:
        body = {"data": chat.data(["hi", "", 0.5, 500]), "fn_index": chat.fn_index, "session_hash": session,
                "event_data": None, "trigger_id": None}
        (await client.post(url + "gradio_api/queue/join", json=body)).raise_for_status()
        updates = []
        async with client.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}) as events:
            async for line in events.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_generating":
                    updates.append(message["output"]["data"])
                elif message.get("msg") == "process_completed":
                    assert message["success"], message
                    return updates, message["output"]["data"]
    raise AssertionError("the event stream ended before the answer completed")


def rows_of(table: dict | list) -> list[list]:
    return table["data"] if isinstance(table, dict) else table


def test_a_page_on_the_chat_tab_gets_debug_once_as_the_answer_starts_and_whole_at_its_end(app_url, server):
    tokens = numbered_tokens(60)
    server.scenario = Scenario(tokens=tokens, rate=60)  # a second: the table would be redrawn twice
    chat = Endpoint.find(app_url, "chat")
    table, summary = positions(app_url, chat, "debug-table", "debug-summary")

    async def run() -> tuple[list[list], list]:
        async with httpx.AsyncClient(timeout=30) as client:
            session = await open_page(client, chat)  # the page's load event: it opens on Chat
        return await stream_updates(app_url, chat, session)

    updates, final = asyncio.run(run())
    assert len(updates) >= 10
    first_rows = rows_of(updates[0][table])
    assert 1 <= len(first_rows) < 10  # the first update shows this answer's start
    # then nothing more, until the last update (the answer's end, which has it whole)
    assert all(update[table] == [] and update[summary] == [] for update in updates[1:-1])
    assert "".join(json.loads(row[3]) for row in rows_of(final[table])) == "".join(tokens)
    assert "✓ Complete" in final[summary]


def test_opening_debug_draws_the_streaming_answer_and_its_updates_follow(app_url, server):
    tokens = numbered_tokens(90)
    server.scenario = Scenario(tokens=tokens, rate=60)
    chat = Endpoint.find(app_url, "chat")
    [table] = positions(app_url, chat, "debug-table")
    switch = tab_switch(app_url)

    async def select(client: httpx.AsyncClient, session: str, tab: str) -> list:
        reply = await client.post(app_url + "gradio_api/run/predict", json={
            "data": [None], "fn_index": switch, "session_hash": session, "trigger_id": None,
            "event_data": {"value": tab, "index": 0, "selected": True}})
        reply.raise_for_status()
        return reply.json()["data"]

    async def run() -> tuple[list, list[list], list]:
        async with httpx.AsyncClient(timeout=30) as client:
            session = await open_page(client, chat)
            answer = asyncio.create_task(stream_updates(app_url, chat, session))
            drawn = None
            while drawn is None and not answer.done():  # Debug opened mid-answer, once it streams
                await asyncio.sleep(0.05)
                shown = await select(client, session, "Debug")
                drawn = shown if isinstance(shown[0], str) else None
            updates, final = await answer
        return drawn, updates, final

    drawn, updates, final = asyncio.run(run())
    assert drawn is not None, "Debug was never drawn while the answer streamed"
    assert "● Streaming" in drawn[0] and rows_of(drawn[1])  # the summary, and the rows so far
    redrawn = [update[table] for update in updates[1:] if update[table]]
    assert redrawn, "the table was not redrawn after Debug opened"
    assert "".join(json.loads(row[3]) for row in rows_of(final[table])) == "".join(tokens)


def test_a_session_without_a_page_gets_debug_redrawn_as_before(app_url, server):
    """The `/chat` API and the notebook have no tabs: they keep getting every redraw."""
    server.scenario = Scenario(tokens=numbered_tokens(60), rate=60)
    chat = Endpoint.find(app_url, "chat")
    [table] = positions(app_url, chat, "debug-table")
    updates, _ = asyncio.run(stream_updates(app_url, chat, uuid.uuid4().hex))
    assert any(update[table] for update in updates[1:])

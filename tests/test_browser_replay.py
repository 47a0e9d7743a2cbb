"""Debug tab tools in a real Chromium: add chunks with the explorer, export the chunk log, replay it."""

from __future__ import annotations

import json

import pytest

from tests.openai_server import Scenario, numbered_tokens
from tests.test_browser import BOT, WATCH_ANSWER, ask, open_section, send, shot, wait_for_answer

pytestmark = pytest.mark.browser

TOKENS = numbered_tokens(30)
FINAL = "".join(TOKENS)


def open_debug(page) -> None:
    page.get_by_role("tab", name="Debug").click()
    open_section(page, "explorer-section")
    open_section(page, "files-section")
    page.locator("#sum-text textarea").wait_for()


def test_the_explorer_adds_the_chunks_of_the_latest_answer(open_page, app_url, server):
    page = ask(open_page, app_url, server, Scenario(tokens=TOKENS, rate=200), "count")
    wait_for_answer(page, FINAL)
    open_debug(page)
    text = page.locator("#sum-text textarea")
    page.wait_for_function("want => document.querySelector('#sum-text textarea').value === want", arg=FINAL)
    assert "the whole answer, ✓ equal to the message the stream accumulated" in page.locator("#sum-meaning").inner_text()
    assert "functools.reduce(operator.add, r[0:" in page.locator("#sum-code").inner_text()
    # Chunk 0 is the role-only chunk; chunks 1..3 carry "w0", " w1", " w2".
    for slider, value in (("#sum-first", 1), ("#sum-last", 3)):
        box = page.locator(f"{slider} input[type=number]")
        box.fill(str(value))
        box.press("Enter")
    page.wait_for_function("() => document.querySelector('#sum-text textarea').value === 'w0 w1 w2'")
    assert "r[1] + r[2] + r[3]" in page.locator("#sum-code").inner_text()
    assert page.locator("#sum-printed textarea").input_value().startswith("content='w0 w1 w2' additional_kwargs={}")
    assert text.input_value() == "w0 w1 w2"
    page.locator("#sum-first").evaluate("el => el.scrollIntoView({block: 'start'})")
    shot(page, "explorer.png")


@pytest.mark.slow
def test_export_then_replay_streams_the_answer_again(open_page, app_url, server, tmp_path):
    page = ask(open_page, app_url, server, Scenario(tokens=TOKENS, rate=40), "count slowly")
    wait_for_answer(page, FINAL)
    open_debug(page)
    page.locator("#export-run").click()
    link = page.locator("#export-files a").first
    link.wait_for()
    log = page.request.get(link.get_attribute("href")).text()
    assert [json.loads(line)["index"] for line in log.splitlines()] == list(range(len(log.splitlines())))
    saved = tmp_path / "answer.jsonl"
    saved.write_text(log)

    page.locator("#replay-file input[type=file]").set_input_files(str(saved))
    page.get_by_label("1x").check()
    page.evaluate(WATCH_ANSWER)  # before the replay starts: it may be over before the Chat tab is open
    page.locator("#replay-run").click()
    page.get_by_role("tab", name="Chat").click()
    wait_for_answer(page, FINAL, turns=3)  # the first answer, the replay's note, the replayed answer
    seen = page.evaluate("window.__seen")
    seen = seen[next((i for i, t in enumerate(seen) if not FINAL.startswith(t)), 0):]  # from the replay's note on
    growing = [t for t in seen if FINAL.startswith(t)]
    assert len(growing) >= 3, f"the replay did not grow: {seen}"
    assert all(b.startswith(a) for a, b in zip(growing, growing[1:]))
    assert page.locator(BOT).get_by_text("▶ Replay").count() == 1
    page.get_by_role("tab", name="Debug").click()
    summary = page.locator("#debug-summary")
    assert "Complete (replay)" in summary.inner_text() and "Sum check ✓" in summary.inner_text()
    page.locator("#replay-run").scroll_into_view_if_needed()
    shot(page, "replay.png")

    # The replayed answer is now part of the chat: the next message carries it, but not the replay's note.
    page.get_by_role("tab", name="Chat").click()
    send(page, "and then?")
    wait_for_answer(page, FINAL, turns=4)
    sent = server.requests[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "assistant"] == [FINAL, FINAL]
    assert not any("Replay" in m["content"] for m in sent)

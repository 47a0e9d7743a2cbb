"""What a person sees, in a real headless Chromium (Debian's, driven by Playwright).

Skipped with a reason where no Chromium is installed, except in CI (CI=true),
where a missing browser is a failure. Screenshots go to $SCREENSHOTS_DIR
(default test-artifacts/); `SCREENSHOTS_DIR=docs` refreshes the README's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import SECRET, free_port, running_app
from tests.openai_server import Scenario, numbered_tokens

pytestmark = pytest.mark.browser

BOT = ".message-row.bot-row"
INPUT = "#chat-input textarea"
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR", "test-artifacts"))

# Records every text the last bot bubble shows, as the page changes: no polling gaps.
WATCH_ANSWER = """() => {
  window.__seen = [];
  const read = () => {
    const bots = document.querySelectorAll('.message-row.bot-row .message-content');
    const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
    if (text && window.__seen[window.__seen.length - 1] !== text) window.__seen.push(text);
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def ask(open_page, url: str, server, scenario: Scenario, message: str):
    """Script the server's answer, open the page and send `message`; returns the page."""
    server.scenario = scenario
    page = open_page(url)
    send(page, message)
    return page


def send(page, message: str) -> None:
    page.evaluate(WATCH_ANSWER)
    box = page.locator(INPUT)
    box.fill(message)
    box.press("Enter")


def last_answer(page) -> str:
    bots = page.locator(f"{BOT} .message-content")
    return bots.last.inner_text().strip() if bots.count() else ""


def wait_for_answer(page, text: str, turns: int = 1, timeout: float = 20_000) -> None:
    """Wait until the page shows `turns` answers, the last one being exactly `text`."""
    page.wait_for_function(
        """([want, turns]) => { const b = document.querySelectorAll('.message-row.bot-row .message-content');
                      return b.length === turns && b[b.length - 1].innerText.trim() === want; }""",
        arg=[text, turns],
        timeout=timeout,
    )
    page.locator('[data-testid="stop-button"]').wait_for(state="hidden")


def assert_table_has_rows(page, n: int) -> None:
    """The Debug table is virtualised (the DOM holds only visible rows): scroll to its end,
    then the last row must be number n-1 and there must be no row n."""
    page.locator("#debug-table .virtual-table-viewport").first.evaluate("el => el.scrollTop = el.scrollHeight")
    page.locator(f'#debug-table .virtual-row[data-index="{n - 1}"]').wait_for()
    assert page.locator(f'#debug-table .virtual-row[data-index="{n}"]').count() == 0


def open_section(page, elem_id: str) -> None:
    """Open one of the Debug tab's sections (closed Accordions), if it is not open yet."""
    label = page.locator(f"#{elem_id} .label-wrap").first
    if "open" not in (label.get_attribute("class") or "").split():
        label.click()


def shot(page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def test_the_answer_grows_in_the_page_and_ends_exact(open_page, app_url, server):
    tokens = numbered_tokens(60)
    page = ask(open_page, app_url, server, Scenario(tokens=tokens, rate=25), "Count slowly, please.")
    page.wait_for_function("() => window.__seen.length >= 8")
    wait_for_answer(page, "".join(tokens))
    seen = page.evaluate("window.__seen")
    assert len(seen) >= 5
    assert all(b.startswith(a) for a, b in zip(seen, seen[1:])), seen
    assert seen[-1] == "".join(tokens)


def test_debug_tab_shows_every_chunk_the_summary_and_the_timeline(open_page, app_url, server):
    tokens = numbered_tokens(40)
    page = ask(open_page, app_url, server, Scenario(tokens=tokens, rate=50), "Explain streaming.")
    wait_for_answer(page, "".join(tokens))
    page.get_by_role("tab", name="Debug").click()
    summary = page.locator("#debug-summary")
    summary.get_by_text("✓ Complete").wait_for()
    text = summary.inner_text()
    assert "time to first token" in text and "tokens/s" in text
    assert "out 40" in text and "Sum check ✓" in text
    rows = page.locator("#debug-table .virtual-row[data-index]")
    assert rows.count() >= 10
    expected = ['""'] + [f'"{t}"' for t in tokens]  # chunk 0 carries the role, no text
    for i in range(rows.count()):
        row = rows.nth(i)
        index = int(row.get_attribute("data-index"))
        assert row.locator('[data-col="3"]').inner_text().strip() == expected[index]
    # one row per chunk: the role chunk, 40 tokens, finish, usage and LangChain's closing chunk
    assert_table_has_rows(page, 44)
    # The table fits the page: every column on it, and a header of a line or two (it was ~200 px tall,
    # with "probability" off-screen at 1,280 px).
    right = page.evaluate("() => document.documentElement.clientWidth")
    for name in ("probability", "carried"):
        box = page.locator("#debug-table thead").get_by_text(name, exact=True).bounding_box()
        assert box and box["x"] + box["width"] <= right, (name, box, right)
    assert page.locator("#debug-table thead").bounding_box()["height"] < 80
    plot = page.locator("#debug-timeline")
    plot.locator("canvas, svg").first.wait_for()
    assert plot.get_by_text("When each chunk arrived").count() >= 1


def test_the_explorer_follows_the_answer_when_debug_is_opened_mid_answer(open_page, app_url, server):
    """It showed "No answer yet" beside an 11-chunk table, and "All 5 chunks" beside 13."""
    tokens = numbered_tokens(40)
    page = ask(open_page, app_url, server, Scenario(tokens=tokens, rate=15), "Count slowly, please.")
    page.wait_for_function("() => window.__seen.length >= 3")
    page.get_by_role("tab", name="Debug").click()
    open_section(page, "explorer-section")
    meaning = page.locator("#sum-meaning")
    meaning.get_by_text("chunks so far: the answer is still streaming").wait_for()
    page.locator("#debug-summary").get_by_text("✓ Complete").wait_for(timeout=30_000)
    # 44 chunks: the role chunk, 40 tokens, finish, usage and LangChain's closing chunk
    meaning.get_by_text("All 44 chunks: the whole answer, ✓ equal to").wait_for(timeout=10_000)
    assert page.locator("#sum-last input[type=number]").input_value() == "43"
    assert page.locator("#sum-text textarea").input_value() == "".join(tokens)


def test_debug_opened_mid_answer_shows_the_chunks_so_far_and_follows_the_stream(open_page, app_url, server):
    """A page redraws Debug only while it is open (ui/debug_visibility.py): opening it must draw the
    answer at once, and the rows must keep coming."""
    tokens = numbered_tokens(60)
    page = ask(open_page, app_url, server, Scenario(tokens=tokens, rate=15), "Count slowly, please.")
    page.wait_for_function("() => window.__seen.length >= 5")
    page.get_by_role("tab", name="Debug").click()
    summary = page.locator("#debug-summary")
    count = "+document.querySelector('#debug-summary td').innerText"  # the summary's chunk count
    page.wait_for_function(f"() => {count} >= 5", timeout=5_000)  # not the first update's, drawn while closed
    shown = int(summary.locator("td").first.inner_text())
    assert "● Streaming" in summary.inner_text()
    assert page.locator("#debug-table .virtual-row[data-index]").count() >= 5  # its rows, drawn at once
    # A second of the stream later, the summary and the table have followed it (the newest row is the last).
    page.wait_for_function(f"n => {count} >= n", arg=shown + 15, timeout=5_000)
    assert "● Streaming" in summary.inner_text()
    # The table is redrawn less often (REDRAW_EVERY_MS), but it too has moved on since Debug opened.
    newest = "Math.max(...[...document.querySelectorAll('#debug-table .virtual-row [data-col=\"0\"]')].map(c => +c.innerText))"
    page.wait_for_function(f"n => {newest} >= n", arg=shown + 5, timeout=5_000)
    summary.get_by_text("✓ Complete").wait_for(timeout=30_000)


def test_stop_keeps_the_partial_answer_and_closes_the_upstream_request(open_page, app_url, server):
    tokens = numbered_tokens(400)
    page = ask(open_page, app_url, server, Scenario(tokens=tokens, rate=20), "Go on forever.")
    page.wait_for_function("() => window.__seen.length >= 5")
    page.locator('[data-testid="stop-button"]').click()
    clicked = time.monotonic()
    disconnect = server.wait_for_disconnect()
    assert disconnect and disconnect.at - clicked < 1.0
    partial = last_answer(page)
    page.wait_for_timeout(1000)  # the server would have sent ~20 more tokens by now
    assert last_answer(page) == partial
    assert partial and "".join(tokens).startswith(partial)
    page.get_by_role("tab", name="Debug").click()
    page.locator("#debug-summary").get_by_text("Stopped by you").wait_for()


def test_a_second_turn_carries_the_history_and_retry_undo_edit_work(open_page, app_url, server):
    page = ask(open_page, app_url, server, Scenario(tokens=numbered_tokens(3)), "first")
    wait_for_answer(page, "w0 w1 w2")
    send(page, "second")
    wait_for_answer(page, "w0 w1 w2", turns=2)
    assert [m["content"] for m in server.requests[-1]["messages"][1:]] == ["first", "w0 w1 w2", "second"]

    server.scenario = Scenario(tokens=["again"])
    page.locator('button[aria-label="Retry"]').last.click()
    wait_for_answer(page, "again", turns=2)
    assert [m["content"] for m in server.requests[-1]["messages"][1:]] == ["first", "w0 w1 w2", "second"]

    page.locator('button[aria-label="Undo"]').last.click()
    page.wait_for_function("() => document.querySelectorAll('.message-row.bot-row').length === 1")
    assert page.locator(INPUT).input_value() == "second"

    server.scenario = Scenario(tokens=["edited"])
    page.locator(".message-row.user-row").first.hover()
    page.locator('button[aria-label="Edit"]').first.click()
    page.locator("textarea.edit-textarea").fill("first, edited")
    page.locator('button[aria-label="Submit"]').first.click()
    wait_for_answer(page, "edited")
    assert [m["content"] for m in server.requests[-1]["messages"][1:]] == ["first, edited"]


def test_an_upstream_error_reads_clearly_in_the_page(open_page, app_url, server):
    page = ask(open_page, app_url, server, Scenario(tokens=numbered_tokens(8), drop_after=3), "break please")
    note = page.locator(BOT).last.get_by_text("The connection to the model broke")
    note.wait_for()
    assert page.locator(BOT).last.get_by_text("w0 w1 w2").count() == 1  # the partial answer stays


def test_a_key_the_server_echoes_never_reaches_the_page(open_page, app_url, server):
    page = ask(open_page, app_url, server, Scenario(status=401), "hello")
    page.locator(BOT).last.get_by_text("The server refused the API key (401)").wait_for()
    page.get_by_role("tab", name="Debug").click()
    page.locator("#debug-summary").get_by_text("401").first.wait_for()
    assert "you sent Bearer [redacted]" in page.content()
    assert SECRET not in page.content()


def test_with_no_configuration_answers_stream_from_the_bundled_model(open_page, unconfigured_app_url):
    page = open_page(unconfigured_app_url)
    info = page.locator("#backend-info").inner_text()
    assert "local model" in info and "SmolLM2-135M-Instruct" in info
    assert "OPENAI_API_KEY" in info  # how to switch to OpenAI

    send(page, "Who was Ada Lovelace?")
    page.wait_for_function("() => window.__seen.length >= 12", timeout=60_000)
    shot(page, "chat-streaming.png")
    page.locator('[data-testid="stop-button"]').wait_for(state="hidden", timeout=60_000)
    seen = page.evaluate("window.__seen")
    assert len(seen) >= 5 and all(b.startswith(a) for a, b in zip(seen, seen[1:]))

    page.get_by_role("tab", name="Debug").click()
    summary = page.locator("#debug-summary")
    summary.get_by_text("✓ Complete").wait_for()
    page.locator("#debug-timeline").locator("canvas, svg").first.wait_for()
    shot(page, "debug-tab.png")
    chunks = int(summary.locator("td").first.inner_text())  # the summary's chunk count
    assert chunks >= len(seen)
    assert_table_has_rows(page, chunks)


@pytest.mark.slow
def test_a_visitor_beyond_the_local_models_slots_sees_their_place_in_line(open_page):
    port = free_port()
    with running_app(["--port", str(port)], {"LOCAL_PARALLEL": "1"}, port) as url:  # one answer at a time
        first, second = open_page(url), open_page(url)
        send(first, "Write a long story about the sea.")
        first.wait_for_function("() => window.__seen.length >= 2", timeout=60_000)
        send(second, "Say hi.")
        second.get_by_text("queue:").wait_for(timeout=10_000)  # Gradio's queue position, in the chat
        second.locator('[data-testid="stop-button"]').wait_for(state="hidden", timeout=90_000)
        assert last_answer(second)  # it got its answer after waiting


def test_the_empty_chat_offers_example_questions_and_a_click_sends_one(open_page, app_url, server):
    from ui.chat_tab import EXAMPLES

    server.scenario = Scenario(tokens=numbered_tokens(5))
    page = open_page(app_url)
    page.evaluate(WATCH_ANSWER)
    for _, label in EXAMPLES:
        page.get_by_text(label).wait_for()
    page.get_by_text(EXAMPLES[0][1]).click()
    wait_for_answer(page, "".join(numbered_tokens(5)))
    assert server.requests[-1]["messages"][-1] == {"role": "user", "content": EXAMPLES[0][0]}

"""The Tools tab in a real headless Chromium: a call's arguments grow, then its result, then the answer."""

from __future__ import annotations

import pytest

from tests.openai_server import Scenario
from tests.test_browser import shot
from tests.test_tools_app import BOTH

pytestmark = pytest.mark.browser

# Records every distinct text of the first tool call's message, and the last message, as the page changes.
WATCH_CALLS = """() => {
  window.__calls = []; window.__last = [];
  const read = () => {
    const chat = document.querySelector('#tools-chat');
    const text = chat ? chat.innerText : '';
    if (window.__calls[window.__calls.length - 1] !== text) window.__calls.push(text);
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_the_arguments_grow_then_the_result_then_the_answer(open_page, app_url, server):
    server.scenario = Scenario(tool_calls=BOTH, tool_piece=1, rate=25)
    page = open_page(app_url)
    page.get_by_role("tab", name="Tools").click()
    page.evaluate(WATCH_CALLS)
    page.locator("#tools-run").click()
    page.locator("#tools-status").get_by_text("Answered").wait_for(timeout=30_000)
    seen = page.evaluate("window.__calls")
    growing = {part for text in seen for part in ('"expression": "1"', '"expression": "12"', '"expression": "12*"')
               if part in text}
    assert len(growing) >= 2, seen  # the expression was on screen, growing, before it was whole
    first_whole = next(i for i, text in enumerate(seen) if '"expression": "12*7"' in text)
    first_result = next(i for i, text in enumerate(seen) if "Result: 84" in text)
    answer = next(i for i, text in enumerate(seen) if "The tools said" in text)
    assert first_whole < first_result < answer
    assert "Nairobi" in seen[-1]
    shot(page, "tools-tab.png", full_page=True)

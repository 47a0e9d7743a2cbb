"""A reasoning model in a real headless Chromium: the thinking shows first, the picker picks the model."""

from __future__ import annotations

import pytest

from tests.openai_server import Scenario, numbered_tokens
from tests.test_browser import BOT, send, shot

pytestmark = pytest.mark.browser

# Every distinct text of the bot's side of the chat, as the page changes.
WATCH_BOT = """() => {
  window.__bot = [];
  const read = () => {
    const text = [...document.querySelectorAll('.message-row.bot-row')].map(e => e.innerText).join('\\n');
    if (window.__bot[window.__bot.length - 1] !== text) window.__bot.push(text);
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_the_thinking_shows_before_the_answer_and_the_chosen_model_answers(open_page, app_url, server):
    thinking = [f"step {i}. " for i in range(15)]
    server.scenario = Scenario(thinking=thinking, thinking_field="reasoning", tokens=numbered_tokens(10), rate=20)
    page = open_page(app_url)
    page.locator("button", has_text="Settings").first.click()
    page.locator("#model-picker input").click()
    page.get_by_role("option", name="fake", exact=True).click()
    page.evaluate(WATCH_BOT)
    send(page, "think first")
    page.wait_for_function("() => window.__bot.some(t => t.includes('step 8'))", timeout=20_000)
    shot(page, "reasoning-chat.png")
    page.locator(BOT).last.get_by_text("w9").wait_for(timeout=20_000)
    page.locator('[data-testid="stop-button"]').wait_for(state="hidden")
    seen = page.evaluate("window.__bot")
    assert any("Thinking" in s and "step 3" in s and "w0" not in s for s in seen), seen  # thinking, no answer yet
    assert "".join(numbered_tokens(10)) in seen[-1]
    assert server.requests[-1]["model"] == "fake"
    page.locator("#answered-by").get_by_text("fake").wait_for()

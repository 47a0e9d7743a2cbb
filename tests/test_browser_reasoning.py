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


# The opened thinking of the last answer: its visible title rows, and where each paragraph of its text is.
THINKING_LAYOUT = """() => {
  const thought = [...document.querySelectorAll('.message-row.bot-row')].pop().querySelector('.thought-group');
  const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).display !== 'none';
  const paragraphs = [...thought.querySelectorAll('.content p')].map(p => p.getBoundingClientRect());
  return {titles: [...thought.querySelectorAll('.title')].filter(visible).map(e => e.innerText.trim()),
          parts: thought.querySelectorAll('.children > .thought-group').length,
          gaps: paragraphs.slice(1).map((r, i) => Math.round(r.top - paragraphs[i].bottom)),
          lefts: [...new Set(paragraphs.map(r => Math.round(r.left)))], text: thought.innerText};
}"""


def test_a_long_thinking_block_reads_as_one_text(open_page, app_url, server):
    """Its parts are thoughts nested in the one "Thinking" (ui/chat_view.ThinkingBlocks), drawn by
    THINKING_CSS with no title row, indent or border of their own, and the gap of a paragraph break."""
    thinking = [f"thought {i}. " + ("\n\n" if i % 40 == 39 else "") for i in range(2_000)]  # 29,000 characters
    server.scenario = Scenario(thinking=thinking, tokens=numbered_tokens(5), rate=4_000)
    page = open_page(app_url)
    send(page, "think at length")
    page.locator(BOT).last.get_by_text("w4").wait_for(timeout=30_000)
    page.locator('[data-testid="stop-button"]').wait_for(state="hidden")
    page.locator(BOT).last.locator(".thought-group .title").first.click()  # closed once the answer came
    page.locator(BOT).last.get_by_text("thought 1999.").wait_for()
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running' || a.effect?.target"
                           "?.closest?.('.thought-group') === null)")
    layout = page.evaluate(THINKING_LAYOUT)
    assert layout["parts"] >= 3, layout["parts"]  # several parts, ...
    assert layout["titles"] == ["Thinking"]  # ... one title
    assert len(layout["gaps"]) == 2_000 // 40 - 1 and len(set(layout["gaps"])) == 1, layout["gaps"]
    assert len(layout["lefts"]) == 1, layout["lefts"]
    seen = [layout["text"].index(f"thought {i}.") for i in range(0, 2_000, 37)]
    assert seen == sorted(seen)

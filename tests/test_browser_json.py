"""The JSON tab in a real headless Chromium: what a person sees while the object grows."""

from __future__ import annotations

import json

import pytest

from tests.openai_server import Scenario
from tests.test_browser import shot

pytestmark = pytest.mark.browser

# Records every distinct text the object viewer shows, as the page changes.
WATCH_OBJECT = """() => {
  window.__objects = [];
  const read = () => {
    const el = document.querySelector('#json-object .json-holder');  // the tree, not the progress timer
    const text = el ? el.innerText.trim() : '';
    if (window.__objects[window.__objects.length - 1] !== text) window.__objects.push(text);
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def ask_for_json(page, request: str, preset: str | None = None) -> None:
    page.get_by_role("tab", name="JSON").click()
    if preset:
        page.locator("#json-preset input").click()
        page.get_by_role("option", name=preset).click()
    page.locator("#json-request textarea").fill(request)
    page.evaluate(WATCH_OBJECT)
    page.locator("#json-run").click()


def status(page):
    return page.locator("#json-status")


def test_the_object_grows_without_unfinished_numbers_and_the_fields_say_when(open_page, app_url, server):
    pieces = ['{"population": 67', "75", '0000, "name": "Fr', 'ance", "ok": tr', "ue}"]
    server.scenario = Scenario(tokens=pieces, rate=4)  # slow: every piece is its own page update
    page = open_page(app_url)
    ask_for_json(page, "a country", preset="None (JSON mode)")
    status(page).get_by_text("✓ Complete").wait_for(timeout=20_000)
    seen = page.evaluate("window.__objects")
    assert any("Fr" in s and "France" not in s for s in seen), seen  # the string grew
    for text in seen:  # never an unfinished number or literal
        assert ("67" not in text) or "67750000" in text, seen
        assert "tr" not in text.replace("true", ""), seen
    assert "67750000" in seen[-1] and "France" in seen[-1] and "true" in seen[-1]
    rows = page.locator("#json-fields .virtual-row[data-index]")
    rows.nth(3).wait_for()
    texts = [" ".join(rows.nth(i).inner_text().split()) for i in range(rows.count())]
    assert [t.split()[0] for t in texts] == ["(whole", "/population", "/name", "/ok"], texts
    assert all(" complete " in t for t in texts) and '/name "France" complete' in texts[2], texts
    assert server.requests[-1]["response_format"] == {"type": "json_object"}  # the preset cleared the schema

    page.get_by_role("tab", name="Debug").click()
    summary = page.locator("#debug-summary")
    summary.get_by_text("Sum check ✓").wait_for()
    assert int(summary.locator("td").first.inner_text()) > len(pieces)  # the pieces, and the role/finish/usage chunks


def test_stop_keeps_the_partial_object_and_closes_the_upstream_request(open_page, app_url, server):
    text = json.dumps({"items": [f"item number {i}" for i in range(200)]})
    # The server holds the request open after 100 pieces (item 24 or so), so it is still running when
    # Stop comes however far the page lags behind the stream (on 2 cores, Chromium rendering a growing
    # object at 40 updates a second fell 10-20 s behind, and the stream had ended before Stop). It sends
    # a keepalive each second while it holds, as real servers do: silent, the request ended at the app's
    # read timeout (5 s in tests) before a lagging page's Stop, and the test failed on a loaded machine.
    server.scenario = Scenario(tokens=[text[i : i + 4] for i in range(0, len(text), 4)], rate=40, stall_after=100,
                               stall_seconds=60, keepalive=1.0)
    page = open_page(app_url)
    ask_for_json(page, "many items", preset="None (JSON mode)")
    page.wait_for_function("() => window.__objects.some(t => t.includes('item number 3'))", timeout=20_000)
    page.locator("#json-stop").click()
    status(page).get_by_text("Stopped by you").wait_for()
    assert server.wait_for_disconnect(), "the upstream request was never closed"
    shown = page.locator("#json-object").inner_text()
    assert "item number 3" in shown and "item number 199" not in shown
    assert page.locator("#json-raw").inner_text().strip()


def test_the_bundled_model_streams_json_in_the_tab(open_page, unconfigured_app_url):
    page = open_page(unconfigured_app_url)
    page.get_by_role("tab", name="JSON").click()
    page.get_by_text("Three countries with their capital and population").first.click()  # an example
    page.evaluate(WATCH_OBJECT)
    page.locator("#json-run").click()
    page.wait_for_function("() => window.__objects.length >= 6", timeout=90_000)
    shot(page, "json-tab.png", full_page=True)
    status(page).get_by_text("✓ Complete").wait_for(timeout=90_000)
    assert "matches the schema ✓" in status(page).inner_text()  # the example chose the Countries schema
    assert len(set(page.evaluate("window.__objects"))) >= 5

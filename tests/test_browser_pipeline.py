"""The Pipeline tab in a real headless Chromium: the output grows, the lanes show every step."""

from __future__ import annotations

import pytest

from tests.json_documents import pieces_of
from tests.openai_server import Scenario
from tests.test_browser import shot
from tests.test_pipeline_app import COUNTRIES, TWELVE

pytestmark = pytest.mark.browser

# Records every distinct text the output viewer shows, as the page changes.
WATCH_OUTPUT = """() => {
  window.__outputs = [];
  const read = () => {
    const el = document.querySelector('#pipeline-output .json-holder');
    const text = el ? el.innerText.trim() : '';
    if (text && window.__outputs[window.__outputs.length - 1] !== text) window.__outputs.push(text);
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def run_chain(page, question: str, preset: str) -> None:
    page.get_by_role("tab", name="Pipeline").click()
    page.locator("#pipeline-preset input").click()
    page.get_by_role("option", name=preset).click()
    page.locator("#pipeline-question textarea").fill(question)
    page.evaluate(WATCH_OUTPUT)
    page.locator("#pipeline-run").click()


@pytest.mark.slow
def test_the_output_grows_and_the_lanes_show_every_step(open_page, app_url, server):
    server.scenario = Scenario(tokens=pieces_of(COUNTRIES, 4), rate=40)
    page = open_page(app_url)
    run_chain(page, "The twelve most populous countries, with their populations",
              "plain function vs generator (side by side)")
    verdict = page.locator("#pipeline-verdict")
    verdict.get_by_text("does not stream").wait_for(timeout=30_000)
    seen = page.evaluate("window.__outputs")
    growing = [text for text in seen if "generator" in text and "plain function" not in text]
    assert len({text.count('"') for text in growing}) >= 5, seen  # the generator's list grew, visibly
    assert "plain function" in seen[-1] and all(name in seen[-1] for name in TWELVE)
    text = verdict.inner_text()
    assert "plain function does not stream" in text and "generator streams" in text

    lanes = page.locator("#pipeline-lanes")
    lanes.locator("svg g.mark-symbol path").nth(100).wait_for()  # a mark per event
    labels = lanes.locator("svg text").all_text_contents()
    assert "…" not in "".join(labels)  # the plot cut long names at 180 px: its lanes are numbers now
    assert {str(number) for number in range(1, 8)} <= set(labels), labels
    steps = ["plain function vs generator (side by side)", "ChatPromptTemplate", "ChatOpenAICompatible",
             "JsonOutputParser", "RunnableParallel<plain function,generator>", "extract_country_names",
             "extract_country_names_streaming"]
    key = " · ".join(f"{number} {step}" for number, step in enumerate(steps, 1))  # in the chain's order
    assert f"Lanes: {key}" in verdict.inner_text()
    table = page.locator("#pipeline-events")
    right = page.evaluate("() => document.documentElement.clientWidth")
    header = table.get_by_text("carried", exact=True)
    box = header.bounding_box()
    assert box and box["x"] + box["width"] <= right, (box, right)  # the last column is on the page
    page.locator("#pipeline-events").scroll_into_view_if_needed()
    shot(page, "pipeline-tab.png", full_page=True)
    colours = page.evaluate("""() => [...document.querySelectorAll('#pipeline-lanes svg g.mark-symbol path')]
                                       .map(p => p.getAttribute('stroke') || p.getAttribute('fill'))""")
    assert "transparent" not in colours and len(set(colours)) == 3  # every mark drawn, in its kind's colour

"""Hostile text through every output, in a real Chromium: the page shows it, and no request leaves
the page for a URL that came from it (issue 20, item 4). The URLs point at a listener that counts
connections; a browser that rendered any of it as an image, a frame or a tag would connect."""

from __future__ import annotations

import json

import pytest

from llm.inert import JOINER
from tests.hostile import Listener, hostile
from tests.openai_server import Scenario
from tests.test_browser import BOT, INPUT, open_section, send, shot
from tests.test_browser_probabilities import ask_with_probabilities
from tests.test_probabilities_app import branching_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def wait_for_text(page, selector: str, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function("([s, t]) => [...document.querySelectorAll(s)].some(e => e.innerText.includes(t))",
                           arg=[selector, text], timeout=timeout, polling=100)


def test_hostile_text_is_shown_and_never_fetched_in_chat_debug_json_and_replay(open_page, app_url, server, tmp_path):
    with Listener(answer=True) as tracker:
        url = tracker.url
        answer = hostile(url, "answer") + f"\n\n```html\n<img src=\"{url}/inside-code.png\">\n```\n$$\\includegraphics{{{url}/tex.png}}$$"
        server.scenario = Scenario(tokens=pieces(answer), thinking=[hostile(url, "thinking")],
                                   model_name=hostile(url, "model"))
        page = open_page(app_url)
        send(page, "hello")
        wait_for_text(page, f"{BOT} .message-content", "inside-code.png")  # the code block, shown as code
        wait_for_text(page, "#answered-by", "model-image.png")  # the header line names the model, as text
        page.locator('[data-testid="stop-button"]').wait_for(state="hidden")
        shown = page.locator(f"{BOT} .message-content").last.inner_text()
        assert f'<img src="{url}/answer-tag.png">' in shown.replace(JOINER, "")  # shown as the text it is

        server.scenario = Scenario(status=500, error_message=hostile(url, "error"))
        send(page, "again")
        wait_for_text(page, f"{BOT} .message-content", "error-frame")

        page.get_by_role("tab", name="Debug").click()
        wait_for_text(page, "#debug-summary", "error-tag.png")

        page.get_by_role("tab", name="JSON").click()
        value = {"name": hostile(url, "json"), "__type__": "update", "visible": False}
        server.scenario = Scenario(tokens=pieces(json.dumps(value)))
        page.locator("#json-request textarea").fill("anything")
        # The Countries schema stays chosen: the note saying why the answer does not match quotes it.
        page.locator("#json-run").click()
        wait_for_text(page, "#json-status", "Complete")
        assert page.locator("#json-object").is_visible()  # the answer's "__type__" did not hide it
        wait_for_text(page, "#json-object", "json-image.png")

        log = tmp_path / "hostile.jsonl"
        chunk = {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessageChunk"],
                 "kwargs": {"content": hostile(url, "replay"), "response_metadata": {"model_name": hostile(url, "rmodel")}}}
        log.write_text(json.dumps({"index": 0, "ms_since_start": 1, "ms_since_previous": 1, "chunk": chunk}) + "\n")
        page.get_by_role("tab", name="Debug").click()
        open_section(page, "files-section")
        page.locator("#replay-file input[type=file]").set_input_files(str(log))
        page.locator("#replay-run").click()
        wait_for_text(page, "#debug-summary", "rmodel-image.png")
        page.get_by_role("tab", name="Chat").click()
        wait_for_text(page, f"{BOT} .message-content", "replay-frame")
        page.locator(INPUT).wait_for()
        shot(page, "hostile-text.png", full_page=True)

        assert tracker.connections == 0, f"the page fetched: {tracker.requests}"


def test_the_listener_would_see_a_fetch(open_page, app_url):
    """The control: the same listener does count a request the page makes, so zero above means none."""
    with Listener(answer=True) as tracker:
        page = open_page(app_url)
        page.evaluate("url => new Promise(done => { const i = new Image(); i.onload = i.onerror = done; i.src = url; })",
                      f"{tracker.url}/control.png")
        assert tracker.connections == 1


def test_hostile_text_in_the_pipeline_tab_is_shown_and_never_fetched(open_page, app_url, server):
    with Listener(answer=True) as tracker:
        url = tracker.url
        server.scenario = Scenario(tokens=pieces(hostile(url, "chain")), model_name=hostile(url, "model"))
        page = open_page(app_url)
        page.get_by_role("tab", name="Pipeline").click()
        page.locator("#pipeline-question textarea").fill(hostile(url, "question"))
        page.locator("#pipeline-run").click()
        wait_for_text(page, "#pipeline-verdict", "streams")
        wait_for_text(page, "#pipeline-output", "chain-image.png")
        wait_for_text(page, "#pipeline-events", "question-image.png")  # the prompt's start event carries it

        server.scenario = Scenario(tokens=pieces(hostile(url, "early")), drop_after=3,
                                   error_message=hostile(url, "error"))
        page.locator("#pipeline-run").click()
        wait_for_text(page, "#pipeline-verdict", "failed after")
        assert tracker.connections == 0, f"the page fetched: {tracker.requests}"


def test_hostile_tool_calls_are_shown_and_never_fetched(open_page, app_url, server):
    with Listener(answer=True) as tracker:
        url = tracker.url
        server.scenario = Scenario(tool_calls=[
            {"name": hostile(url, "name"), "arguments": json.dumps({"name": hostile(url, "args")}), "id": hostile(url, "id")},
            {"name": "country_facts", "arguments": json.dumps({"name": hostile(url, "country")}), "id": "c2"},
            {"name": "calculator", "arguments": '{"expression": ' + json.dumps(hostile(url, "broken"))}])
        page = open_page(app_url)
        page.get_by_role("tab", name="Tools").click()
        page.locator("#tools-run").click()
        wait_for_text(page, "#tools-status", "Answered")
        wait_for_text(page, "#tools-chat", "args-image.png")  # the arguments, shown as text
        wait_for_text(page, "#tools-chat", "is not a valid tool")  # the hostile name: an error, not run
        wait_for_text(page, "#tools-chat", "country-tag.png")  # quoted back by country_facts' error
        wait_for_text(page, "#tools-chat", "broken-frame")  # the invalid call's text
        assert tracker.connections == 0, f"the page fetched: {tracker.requests}"


def test_hostile_tokens_and_alternatives_are_shown_and_never_fetched(open_page, branching_url, server):  # noqa: F811
    with Listener(answer=True) as tracker:
        url = tracker.url
        server.scenario = Scenario(tokens=pieces(hostile(url, "token")), alternatives=[
            f'<img src="{url}/alt-tag.png">', f"![a]({url}/alt-image.png)"], continued=pieces(hostile(url, "branch")))
        page = open_page(branching_url)
        ask_with_probabilities(page, 3, "hi")
        assert server.requests[-1]["top_logprobs"] == 3
        joined = "s => [...document.querySelectorAll(s + ' .score-token')].map(e => e.innerText).join('')"
        page.wait_for_function(f"([s, t]) => ({joined})(s).includes(t)", arg=["#token-probabilities", "token-tag.png"],
                               timeout=20_000, polling=100)  # the tokens, as text
        page.locator("#token-probabilities .score-token").nth(1).click()
        wait_for_text(page, "#token-alternatives", "alt-tag.png")
        wait_for_text(page, "#token-choice", "alt-image.png")
        page.locator("#token-continue").click()
        wait_for_text(page, "#branch-status", "Branch complete")
        page.wait_for_function(f"([s, t]) => ({joined})(s).includes(t)", arg=["#token-branch", "branch-frame"], polling=100)
        wait_for_text(page, "#debug-summary", "least likely")
        assert tracker.connections == 0, f"the page fetched: {tracker.requests}"

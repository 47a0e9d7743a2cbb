"""Token probabilities on the real app (gradio_client) against the scripted server: the request on
the wire, the Debug column on every row, the summary's figures and check, and a branch from an
alternative through `/continue_from`."""

from __future__ import annotations

import json
import math

import pytest
from gradio_client import Client

from llm.lessons.branching import CANNOT_CONTINUE
from llm.stream.report import TABLE_HEADERS
from tests.conftest import launch, server_settings
from tests.openai_server import Scenario, numbered_tokens
from tests.test_app import cancel_once_streaming

PROBABILITY = TABLE_HEADERS.index("probability")
TEXT = TABLE_HEADERS.index("text")


def rows(table) -> list[list]:
    return table["data"] if isinstance(table, dict) else table


def ask(client: Client, top: int | None, message: str = "hi"):
    """One chat answer; (outputs of the last update). `top` None: the input left out, as an old client."""
    settings = ["", 0.5, 200, "fake-model", ""] + ([] if top is None else [top])
    job = client.submit(message, *settings, api_name="/chat")
    job.result(timeout=60)
    return job.outputs()[-1]


@pytest.fixture(scope="module")
def branching_url(openai_server):
    """The app told that its server continues a final assistant message (as vLLM does)."""
    demo, url = launch(server_settings(openai_server, openai_continue_final_message=True))
    yield url
    demo.close()


def test_each_rows_probability_is_the_sent_tokens(app_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(12))
    _, summary, table, _ = ask(Client(app_url, verbose=False), 3)
    [request] = server.requests
    assert request["logprobs"] is True and request["top_logprobs"] == 3
    with_text = [row for row in rows(table) if json.loads(row[TEXT])]
    assert len(with_text) == len(server.logprobs_sent) == 12
    for row, sent in zip(with_text, server.logprobs_sent, strict=True):
        assert json.loads(row[TEXT]) == sent["token"]
        assert float(row[PROBABILITY]) == pytest.approx(math.exp(sent["logprob"]), rel=1e-3)
    assert all(row[PROBABILITY] == "" for row in rows(table) if not json.loads(row[TEXT]))
    assert "| 12 | " in summary and "perplexity" in summary
    assert "Probability check ✓ the 12 tokens' bytes join to the answer's text, and they are the 12 completion" in summary


def test_off_by_default_sends_no_logprobs(app_url, server):
    for top in (None, 0):  # left out (an old client), and 0
        server.reset(Scenario(tokens=numbered_tokens(4)))
        _, summary, table, _ = ask(Client(app_url, verbose=False), top)
        [request] = server.requests
        assert "logprobs" not in request and "top_logprobs" not in request
        assert not server.logprobs_sent
        assert all(row[PROBABILITY] == "" for row in rows(table))
        assert "Probability" not in summary and "Token probabilities" not in summary


def test_a_server_that_sends_none_gets_one_sentence(app_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(4), sends_logprobs=False)
    answer, summary, _, _ = ask(Client(app_url, verbose=False), 5)
    assert answer == "".join(numbered_tokens(4))
    assert "Token probabilities: the server sent none (it may not support `logprobs`)" in summary
    assert "Sum check ✓" in summary


def test_a_wrong_number_of_alternatives_is_refused_before_anything_is_sent(app_url, server):
    for top in (21, -1, 2.5, "three"):
        answer, *_ = ask(Client(app_url, verbose=False), top)
        assert "Token probabilities must be a whole number from 0 (off) to 20" in json.dumps(answer)
    assert not server.requests


def test_a_branch_keeps_the_prefix_and_puts_the_alternative_next(branching_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(8))
    client = Client(branching_url, verbose=False)
    ask(client, 3, "Tell me more")
    branch, status = client.predict(5, 1, api_name="/continue_from")
    sent = server.logprobs_sent
    alternative = sent[5]["top_logprobs"][1]["token"]
    kept = "".join(numbered_tokens(8)[:5])
    [_, again] = server.requests
    assert again["messages"][-1] == {"role": "assistant", "content": kept + alternative}
    assert again["continue_final_message"] is True and again["add_generation_prompt"] is False
    assert again["logprobs"] is True and again["top_logprobs"] == 3  # the branch is shaded too
    tokens = [item["token"] for item in branch]
    assert "".join(tokens) == kept + alternative + "".join(Scenario().continued)
    assert [item["class_or_confidence"] for item in branch[:5]] == [None] * 5  # kept: not shaded again
    assert status.startswith("✓ Branch complete: kept tokens 0–4, then")


def test_a_server_that_cannot_continue_is_not_asked(app_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(6))
    client = Client(app_url, verbose=False)
    ask(client, 2)
    _, status = client.predict(2, 1, api_name="/continue_from")
    assert CANNOT_CONTINUE.split(",")[0] in status
    assert len(server.requests) == 1


def test_branch_inputs_are_checked(branching_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(6))
    client = Client(branching_url, verbose=False)
    _, status = client.predict(0, 0, api_name="/continue_from")
    assert "has no token probabilities" in status  # nothing asked yet
    ask(client, 2)
    for position, rank, said in [(6, 0, "Choose a token from 0 to 5"), (1, 2, "Choose one of the 2 alternatives"),
                                 (1.5, 0, "Choose a token"), ("x", 0, "Choose a token")]:
        _, status = client.predict(position, rank, api_name="/continue_from")
        assert said in status
    assert len(server.requests) == 1


def test_stop_closes_the_branchs_request(branching_url, server):
    server.scenario = Scenario(tokens=numbered_tokens(6))
    client = Client(branching_url, verbose=False)
    ask(client, 2)
    server.reset(Scenario(continued=numbered_tokens(300), rate=40))
    job = client.submit(2, 1, api_name="/continue_from")
    cancel_once_streaming(job, server, updates=5)  # closed within a second, never completed
    assert server.disconnects[0].tokens_sent < 300
    branch, status = job.outputs()[-1]
    assert status.startswith("● Branch streaming") and len(branch) > 4  # what arrived stays

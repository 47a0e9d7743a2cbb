"""The newer tabs (Tools, Pipeline, token probabilities) against a broken or hostile server: what it
sends is outside input. Each case ends in a sentence with the partial answer kept, the page gets a
bounded amount, and another visitor is answered meanwhile."""

from __future__ import annotations

import json

from gradio_client import Client

from llm.report import IGNORED
from tests.openai_server import Scenario, token_logprobs
from tests.test_probabilities_app import PROBABILITY, TEXT, ask, rows

WORDS = ["It", " rains", " on", " the", " sea", "."]


def test_probabilities_of_changing_shapes_are_ignored_and_marked_and_the_answer_completes(app_url, server):
    """They gave "Streaming failed (TypeError). additional_kwargs["logprobs"] already exists … different type"."""
    good = {"content": [token_logprobs("It", 0, 3)], "refusal": None}
    shapes = [good, "a string", 5, {"content": [{"not": "a token"}]}, {"content": "abc"}, [1, 2]]
    server.scenario = Scenario(tokens=WORDS, raw_logprobs=shapes)
    answer, summary, table, _ = ask(Client(app_url, verbose=False), 3)
    assert answer == "".join(WORDS) and summary.startswith("**✓ Complete**")
    marks = [row[PROBABILITY] for row in rows(table) if json.loads(row[TEXT])]
    assert marks[0] == f"{0.9:.4g}" and marks[1:] == [IGNORED] * 5
    assert "Token probabilities of 5 chunks were ignored" in summary
    assert "Probability check ✗" in summary  # one token's bytes cannot join to the whole answer: no false ✓


def test_a_replayed_log_with_probabilities_of_changing_shapes_replays_whole(tmp_path):
    from langchain_core.messages import AIMessageChunk

    from llm import Accumulator

    acc = Accumulator()
    for shape in [{"content": [token_logprobs("It", 0, 2)]}, "a string", {"content": [token_logprobs(" rains", 1, 2)]}]:
        acc.add(AIMessageChunk(content="x", response_metadata={"logprobs": shape}))
    assert acc.text == "xxx" and [r.logprobs_ignored for r in acc.records] == [False, True, False]
    assert [t["token"] for t in acc.total.response_metadata["logprobs"]["content"]] == ["It", " rains"]

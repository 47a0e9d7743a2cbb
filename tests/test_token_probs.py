"""Token probabilities as plain data: read with limits, added up, checked against the answer, kept in
the chunk log, and reachable from the notebook API (against the scripted server)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from llm import LLM, build_chat_model
from llm.stream.accumulator import Accumulator
from llm.stream.chunk_log import dumps_chunk_log, loads_chunk_log
from llm.stream.report import TABLE_HEADERS, DebugReport
from llm.stream.token_probs import (
    MALFORMED,
    MAX_TOP,
    RunningFigures,
    TokenLogprob,
    bytes_check,
    figures,
    parse_logprobs,
)
from tests.conftest import server_settings
from tests.openai_server import Scenario, numbered_tokens, token_logprobs


def entry(token: str = "Hi", logprob: float = -0.5, **more) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(str(token).encode()), **more}


@pytest.fixture
def answered(server):
    """A real answer with probabilities: (the LLM that streamed it, its text)."""
    server.scenario = Scenario(tokens=["Caf", "é", " au", " lait", " ☕"])
    llm = LLM(build_chat_model(server_settings(server)))
    text, _ = llm.stream("hi", echo=False, logprobs=True, top_logprobs=2)
    return llm, text


def test_the_notebook_api_keeps_each_chunks_tokens(answered, server):
    llm, text = answered
    tokens = [token for record in llm.records for token in record.logprobs]
    assert [t.token for t in tokens] == ["Caf", "é", " au", " lait", " ☕"]
    assert [t.logprob for t in tokens] == [sent["logprob"] for sent in server.logprobs_sent]
    assert all(len(t.top) == 2 and t.top[0][1] >= t.top[1][1] for t in tokens)
    assert all("logprobs" not in record.response_metadata for record in llm.records)  # kept once, parsed


def test_the_bytes_check_passes_on_a_real_answer_and_fails_on_a_doctored_one(answered):
    llm, text = answered
    tokens = [token for record in llm.records for token in record.logprobs]
    assert bytes_check(tokens, text, 5).startswith("Probability check ✓ the 5 tokens' bytes join to the answer's text, and")
    doctored = [*tokens[:1], dataclasses.replace(tokens[1], data=b"e"), *tokens[2:]]
    assert bytes_check(doctored, text, 5).startswith("Probability check ✗")
    assert bytes_check(tokens[:-1], text, 5).startswith("Probability check ✗")  # one token lost
    assert bytes_check(tokens, text, 6) == ("Probability check ✗ the 5 tokens' bytes join to the answer's text, "
                                            "but the server reported 6 completion tokens.")


def test_the_debug_report_shows_each_probability_and_the_figures(answered):
    llm, text = answered
    report = DebugReport()
    report.update(llm.records)
    column = TABLE_HEADERS.index("probability")
    shown = [row[column] for row, record in zip(report.rows, llm.records, strict=True) if record.logprobs]
    assert [float(p) for p in shown] == pytest.approx([math.exp(t.logprob) for t in report.tokens], rel=1e-3)
    assert report.token_chunks == [r.index for r in llm.records if r.logprobs]
    found = figures(report.tokens)
    assert found.perplexity == pytest.approx(math.exp(-sum(t.logprob for t in report.tokens) / 5))
    assert [i for i, _ in found.least_likely] == sorted(range(5), key=lambda i: report.tokens[i].logprob)[:3]
    summary = report.summary("done", text, None)
    assert f"{found.mean_logprob:.3f}" in summary and "Probability check ✓" in summary


def test_the_chunk_log_keeps_probabilities_for_replay(answered):
    llm, _ = answered
    replayed = Accumulator()
    for logged in loads_chunk_log(dumps_chunk_log(llm.records, llm.chunks)):
        replayed.add(logged.chunk)
    assert [r.logprobs for r in replayed.records] == [r.logprobs for r in llm.records]


@pytest.mark.parametrize("value", [None, "x", [], {"content": None}, {"content": []}, {"content": "abc"}])
def test_no_probabilities_reads_as_none(value):
    assert parse_logprobs(value) == ()


@pytest.mark.parametrize("bad", [
    entry(logprob=float("nan")), entry(logprob=0.5), entry(logprob=True), entry(logprob="-1"), entry(logprob=-1e9),
    entry(token=None), entry(token="x" * 201), "not an entry", entry(logprob=float("-inf")),
])
def test_a_malformed_entry_makes_the_chunk_malformed(bad):
    assert parse_logprobs({"content": [entry(), bad]}) == MALFORMED
    assert bytes_check(list(MALFORMED), "Hi", 1).startswith("Probability check ✗")


def test_limits_on_what_a_server_sends():
    assert parse_logprobs({"content": [entry()] * 65}) == MALFORMED
    many = [entry(f"t{i}", -i / 10) for i in range(50)]
    [token] = parse_logprobs({"content": [entry(top_logprobs=list(reversed(many)))]})
    assert len(token.top) == MAX_TOP and [t for t, _ in token.top] == sorted((t for t, _ in token.top),
                                                                           key=lambda t: int(t[1:]))
    [token] = parse_logprobs({"content": [{**entry("é"), "bytes": [300, -1]}]})
    assert token.data == "é".encode()  # bytes that are not bytes: the token's own text instead
    [token] = parse_logprobs({"content": [{**entry("x"), "top_logprobs": [{"token": 5}, entry("y", -1.0)]}]})
    assert token.top == (("y", -1.0),)  # an alternative that is not one is left out


def test_past_twenty_alternatives_the_count_listed_is_kept_and_said():
    """The alternatives view had said "the server listed 20 alternatives" when it had listed 50."""
    from langchain_core.messages import AIMessageChunk

    from llm.stream.token_probs import as_sent
    from ui.debug_outputs import DebugAnswer
    from ui.token_probabilities import alternatives_of

    many = [entry(f"t{i}", -i / 10) for i in range(50)]
    [token] = parse_logprobs({"content": [entry("t0", 0.0, top_logprobs=many)]})
    assert token.listed == 50 and len(token.top) == MAX_TOP
    assert parse_logprobs(as_sent((token,))) == (token,)  # the count survives being kept as a chunk's metadata
    acc = Accumulator()
    acc.add(AIMessageChunk(content="t0", response_metadata={"logprobs": as_sent((token,))}))
    answer = DebugAnswer(acc, probabilities=True)
    answer.report.update(acc.records)
    said = alternatives_of(answer, 0)[1]
    assert "the server listed 50 alternatives, of which the first 20 were read" in said
    [few] = parse_logprobs({"content": [entry("t0", 0.0, top_logprobs=many[:3])]})
    assert few.listed == 3 and "LISTED" not in str(as_sent((few,))) and "top_logprobs_listed" not in str(as_sent((few,)))


def test_running_figures_match_the_figures_of_the_whole():
    tokens = [TokenLogprob(f"t{i}", -((i * 7) % 11) / 3, b"") for i in range(40)]
    running = RunningFigures()
    for token in tokens:
        running.add(token)
    assert running.figures() == figures(tokens)
    assert figures([]) is None


def test_the_scripted_servers_alternatives_hold_the_sent_token():
    sent = token_logprobs(" w3", 3, 4)
    assert " w3" in [t["token"] for t in sent["top_logprobs"]] and len(sent["top_logprobs"]) == 4
    assert [t["logprob"] for t in sent["top_logprobs"]] == sorted((t["logprob"] for t in sent["top_logprobs"]),
                                                                   reverse=True)
    assert numbered_tokens(1) == ["w0"]
